"""The chain file: ``[apps]``, ``[[edge]]`` and ``[[join]]`` parsed, resolved and validated.

Every invalid file is an error naming the file and the exact line to look at. The documents are
written as lists of lines, so the expected line number is the row's position in the list.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from jobs.chainfile import DEFAULT_JOIN_WINDOW_MINUTES, ChainFile, ChainFileError, parse_chain_file
from jobs.edges import Edge, Join
from jobs.facts import merge_edges
from scheduler.config import load
from scheduler.settings import SettingsError

PATH = "conf/reload-chain.toml"
ID1 = "00000000-0000-4000-8000-000000000001"
ID2 = "00000000-0000-4000-8000-000000000002"
ID3 = "00000000-0000-4000-8000-000000000003"
ID4 = "00000000-0000-4000-8000-000000000004"
SCRIPT = "0123456789abcdef01234567"


def text_of(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def parse(lines: list[str], path: str = PATH) -> ChainFile:
    text = text_of(lines)
    return parse_chain_file(tomllib.loads(text), text, path)


def error_of(lines: list[str], path: str = PATH) -> str:
    with pytest.raises(ChainFileError) as caught:
        parse(lines, path)
    assert caught.value.exit_code == 2
    return str(caught.value)


# --- valid files -----------------------------------------------------------------------------


def test_aliases_resolve_in_edges_and_joins_and_ids_are_lowercased() -> None:
    chain = parse(
        [
            "[apps]",  # 1
            f'extract = "{ID1.upper()}"',  # 2
            f'transform = "{ID2}"',  # 3
            f'loader = "{SCRIPT.upper()}"',  # 4
            "",  # 5
            "[[edge]]",  # 6
            'from = "extract"',  # 7
            'to = ["transform", "loader"]',  # 8
            'on = "any"',  # 9
            "",  # 10
            "[[join]]",  # 11
            f'target = "{ID4.upper()}"',  # 12
            f'after = ["transform", "{ID3}"]',  # 13
            "within_minutes = 360",  # 14
        ]
    )
    assert chain.aliases == {"extract": ID1, "transform": ID2, "loader": SCRIPT}
    assert chain.edges == (
        Edge(ID1, ID2, "any", f"{PATH}:6"),
        Edge(ID1, SCRIPT, "any", f"{PATH}:6"),
    )
    assert chain.joins == (Join(ID4, (ID2, ID3), 360, f"{PATH}:11"),)
    assert chain.name_of(ID2) == "transform"
    assert chain.name_of(ID4) is None


def test_defaults_on_success_one_target_string_and_a_day_long_window() -> None:
    chain = parse(
        [
            "tolerance_minutes = 5",  # 1: a setting, not part of the chain
            "[[edge]]",  # 2
            f'from = "{ID1}"',  # 3
            f'to = "{ID2}"',  # 4
            "[[join]]",  # 5
            f'target = "{ID3}"',  # 6
            f'after = ["{ID1}"]',  # 7
        ]
    )
    assert chain.edges == (Edge(ID1, ID2, "success", f"{PATH}:2"),)
    assert chain.joins == (Join(ID3, (ID1,), DEFAULT_JOIN_WINDOW_MINUTES, f"{PATH}:5"),)
    assert DEFAULT_JOIN_WINDOW_MINUTES == 1440


def test_several_tables_each_keep_the_line_of_their_own_header() -> None:
    chain = parse(
        [
            "[[edge]]",  # 1
            f'from = "{ID1}"',  # 2
            f'to = "{ID2}"',  # 3
            "",  # 4
            "[[ edge ]]   # the failure branch",  # 5
            f'from = "{ID1}"',  # 6
            f'to = "{ID3}"',  # 7
            'on = "failure"',  # 8
        ]
    )
    assert [(e.target, e.on, e.origin) for e in chain.edges] == [
        (ID2, "success", f"{PATH}:1"),
        (ID3, "failure", f"{PATH}:5"),
    ]


def test_no_chain_tables_is_an_empty_chain() -> None:
    chain = parse(["tolerance_minutes = 5"])
    assert chain == ChainFile()
    assert chain.edges_by_source() == {}


def test_edges_by_source_holds_plain_edges_and_one_success_edge_per_join_member() -> None:
    chain = parse(
        [
            "[[edge]]",
            f'from = "{ID1}"',
            f'to = "{ID2}"',
            'on = "failure"',
            "[[join]]",
            f'target = "{ID4}"',
            f'after = ["{ID1}", "{ID3}"]',
            "within_minutes = 30",
        ]
    )
    (join,) = chain.joins
    by_source = chain.edges_by_source()
    assert by_source == {
        ID1: [Edge(ID1, ID2, "failure", f"{PATH}:1"), Edge(ID1, ID4, "success", join.origin, join)],
        ID3: [Edge(ID3, ID4, "success", join.origin, join)],
    }


def test_file_edges_are_merged_with_tag_edges_of_the_same_and_other_sources() -> None:
    chain = parse(
        [
            "[[edge]]",
            f'from = "{ID1}"',
            f'to = "{ID3}"',
            "[[join]]",
            f'target = "{ID4}"',
            f'after = ["{ID2}", "{ID3}"]',
        ]
    )
    tag = Edge(ID1, ID2, "success", f"tag next-{ID2}")
    merged = merge_edges({ID1: [tag]}, chain)
    (join,) = chain.joins
    assert merged[ID1] == [tag, Edge(ID1, ID3, "success", f"{PATH}:1")]
    assert merged[ID2] == [Edge(ID2, ID4, "success", join.origin, join)]
    assert merged[ID3] == [Edge(ID3, ID4, "success", join.origin, join)]
    assert set(merged) == {ID1, ID2, ID3}


def test_merging_leaves_the_tag_edges_it_was_given_unchanged() -> None:
    chain = parse(["[[edge]]", f'from = "{ID1}"', f'to = "{ID3}"'])
    tags = {ID1: [Edge(ID1, ID2, "success", "tag")]}
    merge_edges(tags, chain)
    assert tags == {ID1: [Edge(ID1, ID2, "success", "tag")]}


# --- invalid files: the message names the file and the exact line ----------------------------

APPS = ["[apps]", f'extract = "{ID1}"', f'transform = "{ID2}"']  # lines 1-3

INVALID: dict[str, tuple[list[str], int, str]] = {
    "unknown alias in to": (
        [*APPS, "", "[[edge]]", 'from = "extract"', 'to = "transfrom"'],
        7,
        "'transfrom'",
    ),
    "unknown alias in from of the second edge": (
        [
            *APPS,
            "[[edge]]",  # 4
            'from = "extract"',  # 5
            'to = "transform"',  # 6
            "",  # 7
            "[[edge]]",  # 8
            'to = "transform"',  # 9
            'from = "extarct"',  # 10
        ],
        10,
        "'extarct'",
    ),
    "malformed id in a multi-line to list": (
        ["[[edge]]", f'from = "{ID1}"', "to = [", f'  "{ID2}",', '  "0000-bad",', "]"],
        3,
        "'0000-bad'",
    ),
    "malformed id: a GUID one digit short": (
        ["[[edge]]", f'from = "{ID1[:-1]}"', f'to = "{ID2}"'],
        2,
        ID1[:-1],
    ),
    "to is not a string": (
        ["[[edge]]", f'from = "{ID1}"', f'to = ["{ID2}", 7]'],
        3,
        "to must name an app",
    ),
    "to is empty": (["[[edge]]", f'from = "{ID1}"', "to = []"], 3, "to must name"),
    "from is missing": (["x = 1", "", "[[edge]]", f'to = "{ID2}"'], 3, "from must name"),
    "bad on": (
        [*APPS, "[[edge]]", 'from = "extract"', 'to = "transform"', 'on = "sometimes"'],
        7,
        "'sometimes'",
    ),
    "bad on, quoted key and indented": (
        ["[[edge]]  # first", f'  from = "{ID1}"', f'  to = "{ID2}"', '  "on" = "done"'],
        4,
        "'done'",
    ),
    "bad on, literal-string key": (
        ["[[edge]]", f'from = "{ID1}"', f'to = "{ID2}"', "'on' = 'done'"],
        4,
        "'done'",
    ),
    "unknown key in an edge": (
        ["[[edge]]", f'from = "{ID1}"', f'to = "{ID2}"', 'when = "success"'],
        4,
        "'when'",
    ),
    "empty after": (
        [*APPS, "[[join]]", 'target = "transform"', "after = []", "within_minutes = 60"],
        6,
        "after must list",
    ),
    "after is missing": ([*APPS, "", "[[join]]", 'target = "transform"'], 5, "after must list"),
    "after is a string, not a list": (
        [*APPS, "[[join]]", 'target = "transform"', 'after = "extract"'],
        6,
        "after must list",
    ),
    "unknown alias in after": (
        [
            *APPS,
            "[[join]]",  # 4
            'target = "transform"',  # 5
            "after = [",  # 6
            '  "extract",',  # 7
            '  "finance",',  # 8
            "]",  # 9
        ],
        6,
        "'finance'",
    ),
    "unknown alias as target of the second join": (
        [
            *APPS,
            "[[join]]",  # 4
            f'target = "{ID3}"',  # 5
            'after = ["extract"]',  # 6
            "[[join]]",  # 7
            'after = ["extract"]',  # 8
            'target = "finance"',  # 9
        ],
        9,
        "'finance'",
    ),
    "within_minutes zero": (
        [*APPS, "[[join]]", 'target = "transform"', 'after = ["extract"]', "within_minutes = 0"],
        7,
        "within_minutes",
    ),
    "within_minutes negative": (
        ["[[join]]", f'target = "{ID1}"', "within_minutes = -5", f'after = ["{ID2}"]'],
        3,
        "within_minutes",
    ),
    "within_minutes a boolean": (
        ["[[join]]", f'target = "{ID1}"', f'after = ["{ID2}"]', "within_minutes = true"],
        4,
        "within_minutes",
    ),
    "within_minutes a fraction": (
        ["[[join]]", f'target = "{ID1}"', f'after = ["{ID2}"]', "within_minutes = 1.5"],
        4,
        "within_minutes",
    ),
    "within_minutes a string": (
        ["[[join]]", f'target = "{ID1}"', f'after = ["{ID2}"]', 'within_minutes = "60"'],
        4,
        "within_minutes",
    ),
    "unknown key in a join": (
        ["[[join]]", f'target = "{ID1}"', f'after = ["{ID2}"]', "within = 60"],
        4,
        "'within'",
    ),
    "apps value is not an id": (
        ["[apps]", f'extract = "{ID1}"', 'finance = "17df"', f'sales = "{ID3}"'],
        3,
        "finance",
    ),
    "apps value is not a string": (["[apps]", f'extract = "{ID1}"', "finance = 17"], 3, "finance"),
    "apps table after the edges": (
        [
            "tolerance_minutes = 5",  # 1
            "[[edge]]",  # 2
            f'from = "{ID1}"',  # 3
            f'to = "{ID2}"',  # 4
            "",  # 5
            "[apps]",  # 6
            f'good = "{ID1}"',  # 7
            'bad = "nope"',  # 8
        ],
        8,
        "bad",
    ),
    "apps is not a table": (["tolerance_minutes = 5", "", 'apps = "extract"'], 3, "[apps]"),
    "edge is not an array of tables": (
        ["tolerance_minutes = 5", "", f'edge = "{ID1}"'],
        3,
        "[[edge]]",
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_chain_file_names_file_and_exact_line(case: str) -> None:
    lines, line, detail = INVALID[case]
    message = error_of(lines)
    assert message.startswith(f"{PATH}:{line}: "), message
    assert detail in message
    assert "\n" not in message


def test_error_names_the_path_it_was_given() -> None:
    message = error_of(["[[edge]]", f'from = "{ID1}"', 'to = "nowhere"'], "/etc/chains.toml")
    assert message.startswith("/etc/chains.toml:3: ")


# --- through the settings loader -------------------------------------------------------------


def test_settings_file_gives_settings_and_chain(tmp_path: Path) -> None:
    path = tmp_path / "reload-chain.toml"
    path.write_text(
        text_of(
            [
                "tolerance_minutes = 7",
                "[apps]",
                f'extract = "{ID1}"',
                "[[edge]]",
                'from = "extract"',
                f'to = "{ID2}"',
            ]
        ),
        encoding="utf-8",
    )
    loaded = load(path, environ={})
    assert loaded.settings.tolerance_minutes == 7
    assert loaded.chain.edges == (Edge(ID1, ID2, "success", f"{path}:4"),)


def test_settings_loader_reports_chain_errors_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "reload-chain.toml"
    lines = ["tolerance_minutes = 7", "[[join]]", f'target = "{ID1}"', "after = []"]
    path.write_text(text_of(lines), encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load(path, environ={})
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"{path}:4: ")


def test_windows_file_with_bom_and_crlf_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "reload-chain.toml"
    lines = ["[apps]", f'extract = "{ID1}"', "", "[[edge]]", 'from = "extract"', 'on = "ok"']
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([*lines, f'to = "{ID2}"', ""]).encode())
    with pytest.raises(SettingsError) as caught:
        load(path, environ={})
    assert str(caught.value).startswith(f"{path}:6: ")

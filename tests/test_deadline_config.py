"""``[[deadline]]`` tables: parsed, resolved through ``[apps]`` and validated.

Every invalid table is one error line naming the file and the line to look at. The documents
are written as lists of lines, so the expected line number is the row's position in the list.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from jobs.chainfile import ChainFileError, parse_chain_file
from jobs.deadline_config import EVERY_DAY, Deadline, parse_deadlines

PATH = "conf/reload-chain.toml"
ID1 = "00000000-0000-4000-8000-000000000001"
ID2 = "00000000-0000-4000-8000-000000000002"
SCRIPT = "0123456789abcdef01234567"
APPS = ["[apps]", f'sales = "{ID1.upper()}"', f'finance = "{ID2}"', ""]  # lines 1-4


def parse(lines: list[str]) -> tuple[Deadline, ...]:
    text = "\n".join(lines) + "\n"
    document = tomllib.loads(text)
    aliases = parse_chain_file(document, text, PATH).aliases
    return parse_deadlines(document, text, PATH, aliases)


def error_of(lines: list[str]) -> str:
    with pytest.raises(ChainFileError) as caught:
        parse(lines)
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- valid files -----------------------------------------------------------------------------


def test_a_full_deadline_by_alias() -> None:
    deadlines = parse(
        [
            *APPS,
            "[[deadline]]",  # 5
            'app = "sales"',  # 6
            'by = "07:00"',  # 7
            'timezone = "Europe/Paris"',  # 8
            'days = ["mon", "TUE", "wed", "thu", "fri"]',  # 9
        ]
    )
    assert deadlines == (
        Deadline(ID1, time(7, 0), "Europe/Paris", frozenset(range(5)), "sales", f"{PATH}:5"),
    )
    deadline = deadlines[0]
    assert deadline.label == "sales"
    assert deadline.by_text == "07:00"
    assert deadline.zone == ZoneInfo("Europe/Paris")
    assert deadline.applies_on(date(2026, 6, 5))  # a Friday
    assert not deadline.applies_on(date(2026, 6, 6))
    assert deadline.by_at(date(2026, 6, 5)) == datetime(2026, 6, 5, 5, 0, tzinfo=UTC)


def test_defaults_ids_and_aliases_found_for_ids() -> None:
    deadlines = parse(
        [
            *APPS,
            "[[deadline]]",  # 5
            f'app = "{ID2.upper()}"',  # 6: an id with an alias
            'by = "6:30"',  # 7
            "[[deadline]]",  # 8
            f'app = "{SCRIPT}"',  # 9: a script id, no alias
            "by = 23:59:00",  # 10: a TOML local time
            'days = "sun"',  # 11
        ]
    )
    first, second = deadlines
    assert (first.app_id, first.name, first.by, first.timezone) == (
        ID2,
        "finance",
        time(6, 30),
        "UTC",
    )
    assert first.days == EVERY_DAY
    assert first.zone is UTC
    assert (second.app_id, second.label, second.by, second.days) == (
        SCRIPT,
        SCRIPT,
        time(23, 59),
        frozenset({6}),
    )


def test_one_app_may_have_deadlines_on_different_days() -> None:
    deadlines = parse(
        [
            *APPS,
            "[[deadline]]",
            'app = "sales"',
            'by = "07:00"',
            'days = ["mon", "tue", "wed", "thu", "fri"]',
            "[[deadline]]",
            'app = "sales"',
            'by = "10:00"',
            'days = ["sat", "sun"]',
        ]
    )
    assert [d.by for d in deadlines] == [time(7), time(10)]


def test_no_deadline_tables_is_no_deadlines() -> None:
    assert parse(APPS) == ()


# --- invalid files: one line, with file and line ---------------------------------------------


@pytest.mark.parametrize(
    ("by", "said"),
    [
        ('"7h"', "'7h'"),
        ('"24:00"', "'24:00'"),
        ('"07:60"', "'07:60'"),
        ("7", "7"),
        ("07:00:30", "datetime.time(7, 0, 30)"),
    ],
)
def test_bad_time(by: str, said: str) -> None:
    message = error_of([*APPS, "[[deadline]]", 'app = "sales"', "", f"by = {by}"])
    assert message == f'{PATH}:8: by = {said}: write the local time as "HH:MM" (24 h), e.g. "07:00"'


def test_midnight_leaves_no_time() -> None:
    message = error_of([*APPS, "[[deadline]]", 'app = "sales"', 'by = "00:00"'])
    assert message.startswith(f'{PATH}:7: by = "00:00" leaves no time in the day')


@pytest.mark.parametrize("zone", ["Europe/Pari", "Europe", "../etc/passwd", "CEST+2"])
def test_bad_timezone(zone: str) -> None:
    lines = [*APPS, "[[deadline]]", 'app = "sales"', 'by = "07:00"', f'timezone = "{zone}"']
    message = error_of(lines)
    assert message.startswith(f"{PATH}:8: timezone = '{zone}' is not an IANA name")


def test_bad_day() -> None:
    lines = [*APPS, "[[deadline]]", 'app = "sales"', 'by = "07:00"', 'days = ["mon", "monday"]']
    assert error_of(lines) == (
        f"{PATH}:8: days: 'monday' is not one of mon, tue, wed, thu, fri, sat, sun"
    )


def test_empty_days() -> None:
    lines = [*APPS, "[[deadline]]", 'app = "sales"', 'by = "07:00"', "days = []"]
    assert error_of(lines).startswith(f"{PATH}:8: days must list weekdays")


def test_unknown_alias() -> None:
    lines = [*APPS, "[[deadline]]", 'by = "07:00"', 'app = "salse"']
    assert error_of(lines) == f"{PATH}:7: 'salse' is neither an alias in [apps] nor an app id"


def test_missing_app_names_the_table() -> None:
    lines = [*APPS, "", "[[deadline]]", 'by = "07:00"']
    assert error_of(lines) == f"{PATH}:6: [[deadline]] needs app = alias or id"


def test_unknown_key() -> None:
    lines = [*APPS, "[[deadline]]", 'app = "sales"', 'by = "07:00"', 'tz = "UTC"']
    assert error_of(lines) == f"{PATH}:8: unknown key 'tz' in [[deadline]]"


def test_two_deadlines_of_one_app_on_the_same_day() -> None:
    lines = [
        *APPS,
        "[[deadline]]",  # 5
        'app = "sales"',
        'by = "07:00"',
        "[[deadline]]",  # 8
        f'app = "{ID1}"',  # 9
        'by = "09:00"',
        'days = ["sat"]',
    ]
    assert error_of(lines) == f"{PATH}:9: sales already has a deadline on sat ({PATH}:5)"


def test_deadline_written_as_a_single_table() -> None:
    lines = [*APPS, "[deadline]", 'app = "sales"']
    assert error_of(lines) == f"{PATH}:5: write [[deadline]] tables, one per deadline"

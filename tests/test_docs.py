"""The docs stay honest: examples re-captured from the program, links that resolve, tables that
list what the code has.

``docs/capture.py`` (``make docs``) re-captures every marked example block of README.md and
docs/*.md by running the program; these tests re-run its cheap recipes (no simulated tenant,
about a second each) and check what needs no program run at all. ``python docs/capture.py
--check`` compares every block, the tenant's included.
"""

from __future__ import annotations

import importlib.util
import re
import signal
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scheduler.runner import Interrupted
from scheduler.settings import ENVIRONMENT, Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _load_capture() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_capture", ROOT / "docs" / "capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    spec.loader.exec_module(module)
    return module


capture: Any = _load_capture()


def all_blocks() -> list[Any]:
    return [block for path in capture.documents() for block in capture.blocks(path)]


# --- markers and recipes -----------------------------------------------------------------------


def test_every_block_names_a_recipe_and_every_recipe_is_used() -> None:
    used = {block.name for block in all_blocks()}
    known = capture.recipe_names()
    assert sorted(used - known) == [], "blocks naming no recipe"
    assert sorted(known - used) == [], "recipes no block uses"


def test_every_marker_frames_a_fenced_block() -> None:
    problems = [problem for path in capture.documents() for problem in capture.stray_markers(path)]
    assert problems == []


def test_each_recipe_belongs_to_one_session() -> None:
    names = [name for session in capture.SESSIONS for name in session.names]
    assert len(names) == len(set(names))


def test_an_indented_block_is_read_and_rewritten_with_its_indentation(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "1. step\n\n   <!-- capture: help -->\n   ```text\n   old\n   ```\n   <!-- /capture -->\n",
        encoding="utf-8",
    )
    (block,) = capture.blocks(doc)
    assert (block.name, block.line, block.body) == ("help", 3, "old\n")
    capture._rewrite(doc, {"help": "new\n  kept\n"})
    assert doc.read_text(encoding="utf-8") == (
        "1. step\n\n   <!-- capture: help -->\n   ```text\n   new\n     kept\n   ```\n"
        "   <!-- /capture -->\n"
    )


# --- masking: what may differ between two runs of the same behaviour ---------------------------


def test_times_durations_sweep_ids_and_sizes_are_masked() -> None:
    one = (
        "2026-12-05 09:10:04 INFO    sweep 20261205T091004Z-2727 done in 0.1s: 1 events read; "
        "6 API calls\nbacked up (46 pages, 0.2 MB)\ntook 9.7s  +1.6s  3m04s\n"
    )
    other = (
        "2027-01-01 23:59:59 INFO    sweep 20270101T235959Z-ab12 done in 12.0s: 1 events read; "
        "6 API calls\nbacked up (51 pages, 0.3 MB)\ntook 10.8s  +0.2s  2h05m\n"
    )
    assert capture.same(one, other)


def test_counts_names_and_codes_are_not_masked() -> None:
    line = "sweep 20261205T091004Z-2727 done in 0.1s: {} events read; 6 API calls; exit {}\n"
    assert not capture.same(line.format(1, 0), line.format(2, 0))
    assert not capture.same(line.format(1, 0), line.format(1, 2))
    assert not capture.same("Finance dashboard  skipped\n", "Finance dashboard  triggered\n")


def test_column_widths_do_not_matter_but_words_do() -> None:
    assert capture.same("a    b\n──────\n", "a  b\n────\n")
    assert not capture.same("a b\n", "a c\n")


def test_normalising_shows_the_scratch_folder_and_bin_as_the_linux_install(
    tmp_path: Path,
) -> None:
    ws = capture.Workspace(tmp_path)
    text = f"{tmp_path}/state.db and {capture.BIN}/reload-chain  \r\n\n"
    assert ws.show(text) == "/srv/reload-chain/state.db and /opt/reload-chain/bin/reload-chain\n"


# --- the cheap recipes, re-run ----------------------------------------------------------------

CHEAP = ["help", "error-unknown-setting", "error-tenant-url-path", "schedule-cron", "health-empty"]


@pytest.mark.parametrize("name", CHEAP)
def test_a_cheap_example_is_what_the_program_prints_now(name: str) -> None:
    session = capture.session_of(name)
    assert session.cheap
    outputs = capture.capture(session)
    blocks = [block for block in all_blocks() if block.name in outputs]
    assert blocks, f"no block uses {name}"
    stale = [block.where() for block in blocks if not capture.same(block.body, outputs[block.name])]
    assert stale == [], "run `make docs` and review the diff"


# --- links -------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^ *```.*?^ *```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, no punctuation but ``-`` and ``_``."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        base, number = slug(heading), 0
        name = base
        while name in found:
            number += 1
            name = f"{base}-{number}"
        found.add(name)
    return found


def links(path: Path) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return LINK.findall(text)


def test_slugs_are_githubs() -> None:
    assert slug("The metrics file (`metrics_file`)") == "the-metrics-file-metrics_file"
    assert slug("A year at 5,000 reloads a day: `make year`") == (
        "a-year-at-5000-reloads-a-day-make-year"
    )
    assert slug("Lost state: a new, emptied or restored database") == (
        "lost-state-a-new-emptied-or-restored-database"
    )


def test_every_relative_link_resolves_to_a_file_and_heading() -> None:
    broken = []
    for path in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in links(path):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert broken == []


def test_the_readme_links_every_document_in_docs() -> None:
    linked = {Path(target.partition("#")[0]).name for target in links(README)}
    documents = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert sorted(documents - linked) == []


# --- tables that must list what the code has ----------------------------------------------------


def section(path: Path, heading: str) -> str:
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def program_exit_codes() -> set[int]:
    """0, the codes of the error classes (``exit_code = N``), and those of Ctrl+C and SIGTERM."""
    codes = {0, 1}  # 1: ReloadChainError's own, and a bug
    for folder in ("qlik", "state", "jobs", "scheduler"):
        for source in (ROOT / folder).glob("*.py"):
            text = source.read_text(encoding="utf-8")
            codes |= {int(code) for code in re.findall(r"^\s+exit_code = (\d+)$", text, re.M)}
    stops = (signal.SIGINT, signal.SIGTERM)
    return codes | {Interrupted(stop.name, stop).exit_code for stop in stops}


def test_the_readme_exit_code_table_lists_exactly_the_programs_codes() -> None:
    table = section(README, "## Exit codes")
    documented: set[int] = set()
    for first_cell in re.findall(r"^\| ([\d, ]+) \|", table, re.M):
        documented |= {int(code) for code in first_cell.split(",")}
    assert documented == program_exit_codes() == {0, 1, 2, 3, 130, 143}


def settings_rows(path: Path) -> dict[str, str]:
    """``key -> environment variable`` of each row of a settings table."""
    return dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \|", path.read_text(encoding="utf-8"), re.M))


def test_the_settings_reference_lists_every_setting_with_its_variable() -> None:
    rows = settings_rows(ROOT / "docs" / "settings.md")
    assert set(Settings.model_fields) == set(ENVIRONMENT)
    assert rows == ENVIRONMENT


def test_the_readme_settings_table_names_real_settings() -> None:
    rows = settings_rows(README)
    assert rows and all(ENVIRONMENT.get(key) == variable for key, variable in rows.items())

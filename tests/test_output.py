"""What commands print on stdout: tables, JSON, the sweep summary; all of it scrubbed."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from jobs.decide import Candidate
from jobs.report import Outcome, SweepReport
from qlik.events import FinishedReload
from scheduler.output import (
    ScrubbedStdio,
    ScrubbedStream,
    print_json,
    print_sweep,
    short_reload,
    table,
)
from scheduler.scrub import Scrubber

T0 = datetime(2026, 11, 22, 9, 55, tzinfo=UTC)
T1 = datetime(2026, 11, 22, 10, 0, 0, 250000, tzinfo=UTC)


def outcome(
    app: str, sources: tuple[str, ...], decision: str, reason: str, **kw: object
) -> Outcome:
    runs = tuple(FinishedReload(f"e-{s}", T0, s, f"r-{s}", "success", T0) for s in sources)
    return Outcome(Candidate(app, runs), decision, reason, **kw)  # type: ignore[arg-type]


def report(**kw: object) -> SweepReport:
    return SweepReport("sw-1", window_from=T0, window_to=T1, **kw)  # type: ignore[arg-type]


def test_table_aligns_columns_and_uppercases_headers() -> None:
    text = table(("app", "decision"), [("a", "triggered"), ("long-app-id", "skipped")])
    assert text.splitlines() == [
        "APP          DECISION",
        "a            triggered",
        "long-app-id  skipped",
    ]


def test_table_prints_dash_for_empty_cells() -> None:
    text = table(("a", "b", "c"), [(None, "", 0)])
    assert text.splitlines() == ["A  B  C", "-  -  0"]


def test_table_has_no_trailing_spaces() -> None:
    text = table(("name", "x"), [("n", None), ("longer", "")])
    assert all(line == line.rstrip() for line in text.splitlines())
    assert text.splitlines()[1] == "n       -"


def test_table_without_rows_is_the_header() -> None:
    assert table(("app", "reason"), []) == "APP  REASON"


def test_print_json_writes_one_valid_document() -> None:
    out = io.StringIO()
    print_json({"when": T0, "path": Path("/x/state.db"), "n": [1, 2]}, out)
    text = out.getvalue()
    assert text.endswith("}\n")
    assert json.loads(text) == {
        "when": "2026-11-22 09:55:00+00:00",
        "path": "/x/state.db",
        "n": [1, 2],
    }


def test_print_sweep_dry_run_shows_notice_and_decisions() -> None:
    out = io.StringIO()
    rep = report(
        dry_run=True,
        events_read=4,
        events_new=3,
        events_invalid=1,
        sources=2,
        outcomes=[
            outcome("app-b", ("app-a",), "triggered", "would_trigger", reload_id=None),
            outcome("app-join", ("app-a", "app-c"), "skipped", "waiting_for_sources"),
        ],
        api_calls={"reloads": 1, "audits": 2},
        duration_s=0.1234,
    )
    print_sweep(rep, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "sweep sw-1 (dry run: nothing started, nothing recorded)"
    assert lines[1] == (
        "window 2026-11-22T09:55:00.000Z -> 2026-11-22T10:00:00.250Z: "
        "4 events read, 3 new, 1 invalid, 2 source apps"
    )
    assert lines[2].split() == ["APP", "DECISION", "REASON", "RELOAD", "SOURCES"]
    assert lines[3].split() == ["app-b", "triggered", "would_trigger", "-", "app-a"]
    assert lines[4].split() == [
        "app-join",
        "skipped",
        "waiting_for_sources",
        "-",
        "app-a,",
        "app-c",
    ]
    assert lines[5] == "3 API calls (audits 2, reloads 1) in 0.12s"
    assert len(lines) == 6


def test_print_sweep_real_run_has_no_dry_run_notice() -> None:
    out = io.StringIO()
    rep = report(
        dry_run=False, outcomes=[outcome("app-b", ("app-a",), "triggered", "ok", reload_id="r9")]
    )
    print_sweep(rep, out)
    text = out.getvalue()
    assert text.startswith("sweep sw-1\n")
    assert "dry run" not in text
    assert "r9" in text.splitlines()[3]


def test_print_sweep_without_outcomes() -> None:
    out = io.StringIO()
    print_sweep(report(dry_run=False), out)
    lines = out.getvalue().splitlines()
    assert lines[2] == "no successors to decide"
    assert lines[3] == "0 API calls (none) in 0.00s"


NAMED = "a281c98c-fa79-516a-8b66-1d91e2762055"
SOURCE = "12d5511a-7425-5e02-8619-fc5e6740a040"
NAMELESS = "0f0f0f0f-1234-4abc-8def-0123456789ab"


def test_print_sweep_with_names_fits_80_columns() -> None:
    out = io.StringIO()
    names = {NAMED: "Accounts Payable and Receivable", SOURCE: "Finance transform"}
    rep = report(
        dry_run=False,
        outcomes=[
            outcome(
                NAMED, (SOURCE,), "triggered", "triggered", reload_id="65a1b2c3d4e5f60718293a4b"
            ),
            outcome(NAMELESS, (SOURCE,), "skipped", "access_denied"),
        ],
    )
    print_sweep(rep, out, names)
    lines = out.getvalue().splitlines()
    assert lines[2].split() == ["APP", "DECISION", "REASON", "RELOAD", "SOURCES"]
    assert lines[3].split() == [
        "Accounts", "Payab\u2026", "(a281c98c)", "triggered", "triggered", "\u202618293a4b",
        "Finance", "transf\u2026",
    ]  # fmt: skip
    assert lines[4].split()[:3] == [NAMELESS[:8], "skipped", "access_denied"]
    assert max(len(line) for line in lines[2:5]) <= 80


def test_a_reload_is_shown_by_its_last_characters() -> None:
    assert short_reload("65a1b2c3d4e5f60718293a4b") == "\u202618293a4b"
    assert short_reload("r9") == "r9"


# Issue 11 item 6: while main() runs, stdout and stderr pass on only scrubbed text.
KEY = "sk-OUT-1234567890abcdef"


class Terminal(io.StringIO):
    """A stream that says it is a terminal, with a file descriptor and an encoding."""

    encoding = "cp1252"

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 42

    def reconfigure(self, **options: object) -> None:
        self.options = options


def test_a_scrubbed_stream_scrubs_writes_and_is_otherwise_the_stream() -> None:
    terminal = Terminal()
    stream = ScrubbedStream(terminal, Scrubber([KEY]))
    assert stream.write(f"key {KEY}\n") == len(f"key {KEY}\n")
    stream.writelines(["Authorization: Bearer abc\n", "plain\n"])
    print("printed", KEY, file=stream)
    stream.flush()
    assert terminal.getvalue() == (
        "key [redacted]\nAuthorization: Bearer [redacted]\nplain\nprinted [redacted]\n"
    )
    assert (stream.isatty(), stream.fileno(), stream.encoding) == (True, 42, "cp1252")
    stream.reconfigure(errors="replace")
    assert terminal.options == {"errors": "replace"}


def test_scrubbed_stdio_wraps_both_streams_then_puts_the_originals_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    with ScrubbedStdio(Scrubber()) as stdio:
        print(f"before the settings: {KEY}, Bearer abc")
        stdio.use(Scrubber([KEY]))
        print(f"after the settings: {KEY}")
        sys.stderr.write(f"error {KEY}\n")
    assert (sys.stdout, sys.stderr) == (out, err)
    assert out.getvalue() == (
        f"before the settings: {KEY}, Bearer [redacted]\nafter the settings: [redacted]\n"
    )
    assert err.getvalue() == "error [redacted]\n"


def test_scrubbed_stdio_restores_after_an_exception_and_leaves_no_stream_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdout", None)  # pythonw: no console at all
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(SystemExit), ScrubbedStdio(Scrubber([KEY])):
        assert sys.stdout is None
        print("goes nowhere, as without the wrapper")
        raise SystemExit(2)
    assert sys.stdout is None and sys.stderr is err


def test_a_rich_progress_bar_draws_through_a_scrubbed_stream() -> None:
    terminal = Terminal()
    stream = ScrubbedStream(terminal, Scrubber([KEY]))
    console = Console(file=stream, force_terminal=True, width=80)  # type: ignore[arg-type]
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"reading {KEY}", total=2)
        bar.update(task, advance=2)
        console.print(f"above the bar: Bearer {KEY}")
    text = terminal.getvalue()
    assert "above the bar: Bearer [redacted]" in text
    assert "reading [redacted]" in text
    assert KEY not in text

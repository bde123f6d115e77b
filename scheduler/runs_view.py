"""``reload-chain runs``: chain runs, newest first, from the database (never created).

JSON (``{"runs": [...]}``, SPEC section 8) with ``--json`` or when stdout is not a terminal;
on a terminal, each run as a heading and a timeline table that fits 80 columns: every app by
name beside a short id, each reload's start as an offset from when the chain began to act.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from jobs.deadline_sweep import deadline_states
from jobs.runs import FAILED, RUNNING, SUCCEEDED, ChainRun, RunReload, chain_runs, span
from jobs.start import invalid_ids
from scheduler.output import print_json
from scheduler.runtime import Runtime
from scheduler.settings import SettingsError
from scheduler.status import print_deadlines
from state.history import short_id
from state.runs import read_runs

MAX_LIMIT = 1000
# A name and its short id; with the other columns at their widest, the table fits 80 columns.
APP_WIDTH = 30
STYLES = {RUNNING: "cyan", SUCCEEDED: "green", FAILED: "red"}


def show_runs(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    """Print the newest ``--limit`` chain runs (with ``--app`` in them), then each deadline
    app's state today (``[[deadline]]``, as ``status`` shows it); return 0.

    A bad ``--limit`` or ``--app`` is a ``SettingsError`` (exit 2), raised before the
    database is opened.
    """
    limit, app_id = validated(args.limit, args.app)
    where = str(runtime.settings.database)
    db = runtime.existing_database()
    runs = chain_runs(read_runs(db, where, limit=limit, app_id=app_id))
    deadlines = [
        state
        for state in deadline_states(db, where, runtime.deadlines, runtime.clock.now())
        if app_id is None or state["app_id"] == app_id
    ]
    if args.json or not out.isatty():
        # SPEC 8's object; the deadlines only where [[deadline]] tables are configured.
        extra = {"deadlines": deadlines} if runtime.deadlines else {}
        print_json({"runs": [run.as_json() for run in runs]} | extra, out)
        return 0
    console = Console(file=out, markup=False, highlight=False)
    if runs:
        render_runs(runs, console)
    else:
        console.print(_nothing(app_id, exists=db is not None))
    if deadlines:
        console.print()
        print_deadlines(deadlines, console)
    return 0


def validated(limit: int, app_id: str | None) -> tuple[int, str | None]:
    """``--limit`` (1 to 1000) and ``--app`` (an app GUID or a script's 24-hex id)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise SettingsError(f"--limit: must be from 1 to {MAX_LIMIT}, not {limit}")
    if app_id is not None and invalid_ids([app_id]):
        raise SettingsError(f"--app: not an app GUID or 24-hex script id: {app_id}")
    return limit, app_id


def render_runs(runs: Sequence[ChainRun], console: Console) -> None:
    """Each run: a heading, its reloads as a timeline, the successors it skipped."""
    for number, run in enumerate(runs):
        if number:
            console.print()
        console.print(Group(*run_lines(run)))


def run_lines(run: ChainRun) -> list[Text | Table]:
    """The heading, timeline and skipped lines of one run."""
    root = run.root
    took = "" if run.ended_at is None else f"  took {span(run.duration_s)}"
    lines: list[Text | Table] = [
        Text.assemble(
            (f"{run.status:<9}", f"bold {STYLES[run.status]}"),
            f" {when(run.started_at)}{took}  run {short_id(run.run_id)}",
        ),
        Text.assemble(
            ("root ", "bold"),
            f"{app_label(root.app_id, root.app_name)} ",
            (root.status, STYLES[root.status]),
            f" at {when(root.ended_at)}" if root.ended_at else "",
        ),
    ]
    if run.reloads:
        lines.append(timeline(run))
    lines += [
        Text.assemble(("skipped ", "yellow"), f"{app_label(s.app_id, s.app_name)}: {s.reason}")
        for s in run.skipped
    ]
    return lines


def timeline(run: ChainRun) -> Table:
    """The run's reloads: when each started (after the chain began), hop, time taken, reload."""
    table = Table(
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    # Only the app column gives way on a narrow terminal (names are cut with an ellipsis).
    table.add_column("app", no_wrap=True, overflow="ellipsis", max_width=APP_WIDTH)
    table.add_column("status", no_wrap=True, min_width=9)
    for column in ("start", "hop", "took"):
        table.add_column(column, justify="right", no_wrap=True, min_width=6)
    table.add_column("reload", no_wrap=True, overflow="ellipsis", min_width=8, max_width=13)
    for reload in run.reloads:
        table.add_row(
            app_label(reload.app_id, reload.app_name, APP_WIDTH),
            _status_cell(reload),
            _offset(run.started_at, reload.triggered_at),
            span(reload.hop_latency_s),
            span(_between(reload.triggered_at, reload.ended_at)),
            _reload_cell(reload),
        )
    return table


def app_label(app_id: str, name: str | None, width: int | None = None) -> str:
    """``General Ledger (3f2a9c1e)``; the short id alone when the name is not known.

    With ``width``, a long name is cut (with an ellipsis) so that the id still shows.
    """
    ident = short_id(app_id)
    if not name:
        return ident
    room = None if width is None else max(width - len(ident) - 3, 1)
    if room is not None and len(name) > room:
        name = name[: room - 1].rstrip() + "…"
    return f"{name} ({ident})"


def when(moment: datetime | None) -> str:
    """``2026-11-22 10:00:02Z``: to the second, UTC; ``-`` when not known."""
    return f"{moment:%Y-%m-%d %H:%M:%S}Z" if moment else "-"


def _offset(start: datetime | None, moment: datetime | None) -> str:
    seconds = _between(start, moment)
    return "-" if seconds is None else f"+{span(max(seconds, 0.0))}"


def _between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def _status_cell(reload: RunReload) -> Text:
    # A canceled reload is ``failed`` in the JSON; a person is told what happened.
    shown = "canceled" if reload.reason == "canceled" else reload.status
    return Text(shown, style=STYLES[reload.status])


def _reload_cell(reload: RunReload) -> Text:
    """The short reload id; for a start that failed or is not known yet, the reason."""
    if reload.reload_id is None:
        return Text(reload.reason or "-", style="red" if reload.status == FAILED else "")
    return Text(short_id(reload.reload_id))


def _nothing(app_id: str | None, *, exists: bool) -> str:
    if not exists:
        return "no chain runs yet (the database is created by the first sweep)"
    return f"no chain runs with app {app_id}" if app_id else "no chain runs yet"

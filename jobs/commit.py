"""What a sweep writes: which runs are settled, where the cursor may move, and the rows.

The cursor never passes an event whose work failed for a transient reason, and only the
tenant's own timestamps move it forward.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from jobs.ledger import outcome_row, settled_edges
from jobs.reading import EventReader, handled_row, run_key
from jobs.report import Outcome, SweepReport
from jobs.window import Window
from qlik.events import FinishedReload
from state.rows import SweepCommit


def unsettled_runs(
    runs: list[FinishedReload], outcomes: list[Outcome], facts_failed: bool
) -> list[FinishedReload]:
    """Runs with work left for the next sweep: their events must be read again."""
    if facts_failed:
        return runs
    pending = {
        run_key(run) for outcome in outcomes if outcome.retry for run in outcome.candidate.runs
    }
    return [run for run in runs if run_key(run) in pending]


def next_cursor(
    window: Window,
    overlap_minutes: int,
    last_event_time: datetime | None,
    unsettled: list[FinishedReload],
    cursor: datetime | None,
) -> datetime:
    """The furthest the cursor may move without passing unfinished work.

    Only the tenant's own times move it forward: the local clock may run ahead of the
    tenant's by more than the overlap, and events stamped before our "now" would be lost.
    Never past the window's end: one event stamped in 2099 would otherwise move the cursor
    there and invert every later window (the reader refuses such events; this is the bound).
    """
    known = [time for time in (cursor, last_event_time) if time is not None]
    # First run and nothing read: the next window starts where this one did.
    first = window.start + timedelta(minutes=overlap_minutes)
    bound = max(known) if known else first
    return min([bound, window.end, *(run.event_time for run in unsettled)])


def build_commit(
    report: SweepReport,
    reader: EventReader,
    unsettled: list[FinishedReload],
    cursor: datetime,
    started_at: datetime,
) -> SweepCommit:
    """Everything the sweep learned, for ``Store.commit_sweep``'s one transaction."""
    return SweepCommit(
        sweep=report.as_record(started_at),
        handled_events=_handled_rows(report.sweep_id, reader, unsettled),
        invalid_events=reader.invalid,
        settled_edges=settled_edges(report.sweep_id, report.outcomes),
        ledger=[outcome_row(report.sweep_id, outcome) for outcome in report.outcomes],
        cursor=cursor,
    )


def _handled_rows(
    sweep_id: str, reader: EventReader, unsettled: list[FinishedReload]
) -> Iterator[dict[str, Any]]:
    """Every event of the settled runs, and the re-read events of runs settled before."""
    unsettled_keys = {run_key(run) for run in unsettled}
    yield from reader.already_handled
    for key, run in reader.runs.items():
        if key not in unsettled_keys:
            for event_id in reader.event_ids(key):
                yield handled_row(run, sweep_id, event_id)

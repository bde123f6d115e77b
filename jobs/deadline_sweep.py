"""The sweep's side of deadlines: what the pure judge (``jobs.deadlines``) needs from the
database, and the ``late`` alerts it raises.

The judge sees every reload-finished event the sweep read (any reload of a deadline's app
counts, not only this program's), and the days judged before. Only when a ``late`` is about
to be raised does it also read the successes handled before (``handled_events``), so a
deadline added mid-day still sees the reloads of the morning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from jobs.alerts import Cause
from jobs.deadline_config import Deadline
from jobs.deadlines import Late, deadline_apps, deadline_status, judge, judged_since
from qlik.events import FinishedReload
from qlik.times import format_time
from state.deadline_reads import DeadlineReads
from state.store import Store


@dataclass(frozen=True)
class DeadlineOutcome:
    """The ``deadline_days`` rows to write and the ``late`` alerts to raise."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    late: list[Cause] = field(default_factory=list)


def sweep_deadlines(
    store: Store,
    deadlines: Sequence[Deadline],
    runs: Iterable[FinishedReload],
    now: datetime,
    known_since: datetime | None,
) -> DeadlineOutcome:
    """Judge every deadline at ``now``; days that began before ``known_since`` are never late.

    ``known_since`` is where the sweep's knowledge begins: a sweep that could not read all its
    events, or a database that lost its memory, must not call a day late it cannot see whole.
    """
    if not deadlines:
        return DeadlineOutcome()
    reads = DeadlineReads(store.db, store.where)
    apps, since = deadline_apps(deadlines), judged_since(now)
    known = reads.deadline_days(apps, since.date().isoformat())
    read = list(runs)
    verdict = judge(deadlines, read, known, now, known_since=known_since)
    if verdict.late:  # at most once per app and day: only then the handled successes
        earlier = reads.successes_since(apps, since)
        verdict = judge(deadlines, [*read, *earlier], known, now, known_since=known_since)
    return DeadlineOutcome(verdict.records(), [_cause(late) for late in verdict.late])


def deadline_states(
    db: Database | None, where: str, deadlines: Sequence[Deadline], now: datetime
) -> list[dict[str, Any]]:
    """Each deadline app's state today, for ``status``: the JSON keys and a few words."""
    if not deadlines:
        return []
    since = judged_since(now).date().isoformat()
    rows = DeadlineReads(db, where).deadline_days(deadline_apps(deadlines), since) if db else []
    states = deadline_status(deadlines, rows, now)
    return [state.as_dict() | {"summary": state.describe()} for state in states]


def _cause(late: Late) -> Cause:
    deadline = late.deadline
    reason = (
        f"no successful reload by {deadline.by_text} {deadline.timezone} on {late.day} "
        f"(deadline {format_time(late.by_at)})"
    )
    return Cause("late", late.app_id, reason)

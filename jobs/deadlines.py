"""Deadlines judged from the reloads a sweep reads: met, pending, or ``late`` once per day.

All pure: ``judge`` turns a sweep's finished reloads, the days judged before and ``now`` into
the ``deadline_days`` rows to write and the ``late`` alerts to raise; ``deadline_status`` is
today's view for ``status`` and ``runs``.

The rules (SPEC section 8, Deadlines):

- A deadline is met on a local day by a *successful* reload of the app (any reload, not only
  one reload-chain started) that ended that day, in the deadline's timezone, strictly before
  ``by``. A reload ending exactly at ``by`` is late: the deadline is the first instant that
  is too late, as "reloaded by 07:00" means the data is there when 07:00 strikes.
- A sweep at or after ``by`` raises ``late`` for a day not met, once: the row keeps
  ``late_at`` and no later sweep raises it again. A success read later that ended before
  ``by`` (its event came late) still records ``met_at``: the day shows as met, the alert
  already went.
- Each sweep judges two local days per deadline, yesterday and today, so a ``by`` late in the
  evening is still judged after midnight; events read later than that do not count.
- A day that began before the database's memory (``known_since``: the sweep's lost-state limit,
  e.g. the first sweep of a new database) is never judged late: nobody read its events.
- Days not listed in ``days`` are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol

from jobs.deadline_config import Deadline, zone_named
from qlik.times import format_time
from state.deadline_reads import DeadlineDay

DayState = Literal["met", "late", "pending", "overdue", "not_today"]


class EndedReload(Protocol):
    """What a deadline needs of a finished reload (``FinishedReload``, ``EarlierSuccess``)."""

    @property
    def app_id(self) -> str: ...

    @property
    def outcome(self) -> str: ...

    @property
    def ended_at(self) -> datetime: ...


@dataclass(frozen=True)
class Late:
    """A ``late`` alert to raise: ``app_id`` had no success by ``by_at`` on local ``day``."""

    app_id: str
    day: str
    by_at: datetime
    deadline: Deadline


@dataclass(frozen=True)
class Verdict:
    """What one sweep learned about deadlines: rows to upsert and ``late`` alerts to raise."""

    rows: tuple[DeadlineDay, ...] = ()
    late: tuple[Late, ...] = ()

    def records(self) -> list[dict[str, Any]]:
        """The rows for ``SweepCommit.deadline_days``."""
        return [row.as_record() for row in self.rows]


def judged_since(now: datetime) -> datetime:
    """From when on rows and successes matter: before any timezone's yesterday began."""
    start = now.astimezone(UTC).date() - timedelta(days=2)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def deadline_apps(deadlines: Iterable[Deadline]) -> list[str]:
    """The apps with a deadline, each once."""
    return sorted({deadline.app_id for deadline in deadlines})


def judge(
    deadlines: Sequence[Deadline],
    runs: Iterable[EndedReload],
    days_known: Iterable[DeadlineDay],
    now: datetime,
    *,
    known_since: datetime | None = None,
) -> Verdict:
    """The ``deadline_days`` rows that change, and the ``late`` alerts to raise, at ``now``.

    ``runs``: the finished reloads the sweep read (any app, any outcome); ``days_known``: the
    rows from ``judged_since(now)`` on; ``known_since``: events before it were never read.
    """
    known = {(row.app_id, row.day): row for row in days_known}
    ends = _success_ends(deadlines, runs)
    rows: list[DeadlineDay] = []
    late: list[Late] = []
    for deadline in deadlines:
        for day in _judged_days(deadline, now):
            before = known.get((deadline.app_id, day.isoformat()))
            row = _judged_day(deadline, day, ends.get(deadline.app_id, []), before, now)
            if row.late_at is None and _may_be_late(deadline, day, row, now, known_since):
                row = DeadlineDay(row.app_id, row.day, row.by_at, row.met_at, now)
                late.append(Late(row.app_id, row.day, row.by_at, deadline))
            if row != before and (row.met_at or row.late_at):
                rows.append(row)
    return Verdict(tuple(rows), tuple(late))


def _success_ends(
    deadlines: Iterable[Deadline], runs: Iterable[EndedReload]
) -> dict[str, list[datetime]]:
    apps = {deadline.app_id for deadline in deadlines}
    ends: dict[str, list[datetime]] = {}
    for run in runs:
        if run.outcome == "success" and run.app_id in apps:
            ends.setdefault(run.app_id, []).append(run.ended_at)
    return ends


def _judged_days(deadline: Deadline, now: datetime) -> list[date]:
    today = deadline.local_day(now)
    days = (today - timedelta(days=1), today)
    return [day for day in days if deadline.applies_on(day)]


def _judged_day(
    deadline: Deadline,
    day: date,
    ends: list[datetime],
    before: DeadlineDay | None,
    now: datetime,
) -> DeadlineDay:
    """The day's row with the earliest success that met it, as far as known."""
    by_at = deadline.by_at(day)
    met = [end for end in ends if end < by_at and deadline.local_day(end) == day]
    if before is not None and before.met_at is not None:
        met.append(before.met_at)
    late_at = before.late_at if before is not None else None
    return DeadlineDay(deadline.app_id, day.isoformat(), by_at, min(met, default=None), late_at)


def _may_be_late(
    deadline: Deadline, day: date, row: DeadlineDay, now: datetime, known_since: datetime | None
) -> bool:
    if row.met_at is not None or now < row.by_at:
        return False
    return known_since is None or known_since <= deadline.day_start(day)


@dataclass(frozen=True)
class DeadlineState:
    """An app's deadline today, for ``status`` and ``runs``.

    ``state``: ``met``, ``late`` (raised, not met), ``pending`` (before ``by``), ``overdue``
    (``by`` passed, no sweep judged it yet, or its day began before the database's memory),
    ``not_today`` (today is not one of its days).
    """

    app_id: str
    label: str
    by: str
    timezone: str
    day: str
    state: DayState
    by_at: datetime
    met_at: datetime | None = None
    late_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The state with times as ISO text (UTC), for ``--json``."""
        times = {"by_at": self.by_at, "met_at": self.met_at, "late_at": self.late_at}
        return self.__dict__ | {
            key: format_time(value) if value else None for key, value in times.items()
        }

    def describe(self) -> str:
        """A few words for a table: ``met 06:42``, ``late (alert 07:05)``, ``pending``..."""
        zone = zone_named(self.timezone)
        if self.state == "met" and self.met_at is not None:
            text = f"met {self.met_at.astimezone(zone):%H:%M}"
            if self.late_at is not None:
                text += f" (late alert {self.late_at.astimezone(zone):%H:%M})"
            return text
        if self.state == "late" and self.late_at is not None:
            return f"late (alert {self.late_at.astimezone(zone):%H:%M})"
        return self.state.replace("_", " ")


def deadline_status(
    deadlines: Sequence[Deadline], rows: Iterable[DeadlineDay], now: datetime
) -> list[DeadlineState]:
    """Each app's deadline today, in the order of the settings file (one line per app)."""
    by_key = {(row.app_id, row.day): row for row in rows}
    states: list[DeadlineState] = []
    for app_id in dict.fromkeys(deadline.app_id for deadline in deadlines):
        own = [deadline for deadline in deadlines if deadline.app_id == app_id]
        today = next((d for d in own if d.applies_on(d.local_day(now))), own[0])
        states.append(_state_today(today, by_key, now))
    return states


def _state_today(
    deadline: Deadline, rows: dict[tuple[str, str], DeadlineDay], now: datetime
) -> DeadlineState:
    day = deadline.local_day(now)
    row = rows.get((deadline.app_id, day.isoformat()))
    by_at = deadline.by_at(day)
    state: DayState = "pending" if now < by_at else "overdue"
    if not deadline.applies_on(day):
        state = "not_today"
    elif row is not None and row.met_at is not None:
        state = "met"
    elif row is not None and row.late_at is not None:
        state = "late"
    met_at, late_at = (row.met_at, row.late_at) if row is not None else (None, None)
    return DeadlineState(
        deadline.app_id,
        deadline.label,
        deadline.by_text,
        deadline.timezone,
        day.isoformat(),
        state,
        by_at,
        met_at,
        late_at,
    )

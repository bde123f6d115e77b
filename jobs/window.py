"""Which stretch of audit events a sweep reads, and which of them a lost state may have handled.

Pure functions of the cursor, the settings and ``now``; the sweep shell reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


class WindowSettings(Protocol):
    """The settings that shape a sweep's window."""

    @property
    def overlap_minutes(self) -> int: ...

    @property
    def first_run_lookback_minutes(self) -> int: ...

    @property
    def late_window_minutes(self) -> int: ...

    @property
    def late_check_minutes(self) -> int: ...


@dataclass(frozen=True)
class Window:
    """Events from ``start`` to ``end``; with a late check, read from ``read_from`` instead."""

    start: datetime
    end: datetime
    read_from: datetime | None = None
    late_check: bool = False

    @property
    def first(self) -> datetime:
        """Where reading begins: the late window's start when that is earlier."""
        return min(self.start, self.read_from or self.start)


def sweep_window(
    cursor: datetime | None,
    settings: WindowSettings,
    now: datetime,
    since: datetime | None = None,
    late_checked_at: datetime | None = None,
) -> Window:
    """From ``since``, else the cursor less the overlap, else the first-run lookback, to now.

    A sweep with a cursor also re-reads the late window when a late check is due.
    """
    if since is not None:
        return Window(since, now)
    if cursor is None:
        return Window(now - timedelta(minutes=settings.first_run_lookback_minutes), now)
    start = cursor - timedelta(minutes=settings.overlap_minutes)
    if not late_check_due(late_checked_at, settings, now):
        return Window(start, now)
    late_from = now - timedelta(minutes=settings.late_window_minutes)
    return Window(start, now, read_from=late_from, late_check=True)


def late_check_due(last: datetime | None, settings: WindowSettings, now: datetime) -> bool:
    """Every ``late_check_minutes`` (0: every sweep); never with an empty late window.

    Audit events can become visible long after their ``eventTime``; how long is not
    documented, so a sweep looks back over the whole late window now and then, and only
    events never handled are acted on.
    """
    if settings.late_window_minutes == 0:
        return False
    return last is None or now - last >= timedelta(minutes=settings.late_check_minutes)


@dataclass(frozen=True)
class Memory:
    """What the database and the watermark file beside it say about events handled before."""

    cursor: datetime | None = None
    # The newest event time this database ever committed (None before this was recorded).
    high_water: datetime | None = None
    # The newest event time any database at this path read before acting (the file).
    watermark: datetime | None = None
    # A lost-state limit recorded by an earlier sweep of this database.
    recovering_until: datetime | None = None


def recovering_until(memory: Memory, window: Window) -> tuple[datetime | None, str]:
    """Up to when events may have been handled by state this database no longer has, and why.

    A database with no cursor is new or was emptied: anything it reads may have been handled
    before. A watermark file ahead of the database's own high-water mark means an older copy
    was restored: everything up to the watermark may have been. A limit found once is kept in
    the database, so the rule holds for those events in every later sweep too. The reason is
    ``"first"`` (no watermark either), ``"new"``, ``"restored"``, ``"kept"``, or ``""`` with
    None: the database remembers all it did.
    """
    found, why = None, ""
    if memory.cursor is None:
        found = max(window.end, memory.watermark or window.end)
        why = "new" if memory.watermark is not None else "first"
    elif memory.watermark is not None and (
        memory.high_water is None or memory.watermark > memory.high_water
    ):
        found, why = memory.watermark, "restored"
    kept = memory.recovering_until
    if kept is not None and (found is None or kept >= found):
        return kept, why or "kept"
    return found, why

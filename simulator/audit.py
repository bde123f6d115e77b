"""The tenant's audit log of reload-finished events: ordered by eventTime, visible when due.

An event is listed by when its reload ended, whatever eventTime it carries, and shows only
from its ``visible_at``: Qlik's audit pipeline may deliver an event seconds or minutes late.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import replace
from datetime import datetime

from simulator.reloads import SimEvent


class AuditLog:
    """Reload-finished events, kept in (eventTime, id) order. Not thread-safe: the tenant locks."""

    def __init__(self) -> None:
        self._events: list[SimEvent] = []
        self._keys: list[tuple[datetime, str]] = []

    def add(self, event: SimEvent) -> None:
        """Record one event in its place."""
        index = bisect.bisect(self._keys, event.sort_key)
        self._keys.insert(index, event.sort_key)
        self._events.insert(index, event)

    def visible(
        self,
        window: tuple[datetime, datetime],
        after: tuple[datetime, str] | None,
        limit: int,
        now: datetime,
    ) -> list[SimEvent]:
        """Up to ``limit`` events visible at ``now`` in the window, oldest first, after a key."""
        start, end = window
        if after is None:
            index = bisect.bisect_left(self._keys, (start, ""))
        else:
            index = bisect.bisect_right(self._keys, after)
        found: list[SimEvent] = []
        for event in itertools.islice(self._events, index, None):
            if event.reload.ended > end or len(found) == limit:
                break
            if event.visible_at <= now:
                found.append(event)
        return found

    def reveal(self, now: datetime) -> int:
        """Show now every hidden event of a reload that has ended; return how many."""
        shown = 0
        for index, event in enumerate(self._events):
            if event.visible_at > now >= event.reload.ended:
                self._events[index] = replace(event, visible_at=now)
                shown += 1
        return shown

    def last_due(self, until: datetime) -> datetime | None:
        """When the last event due to show by ``until`` shows (None if none is due by then)."""
        due = [event.visible_at for event in self._events if event.visible_at <= until]
        return max(due, default=None)

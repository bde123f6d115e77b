"""Reads for deadlines: the days judged, and the successful reloads earlier sweeps handled.

``DeadlineReads`` is a ``StateAccess``: sqlite errors of every public method are mapped to
``StateError``. It works on the sweep's ``Store`` handle (``DeadlineReads(store.db,
store.where)``) or on the database ``status`` opens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qlik.times import format_time, parse_time
from state.access import StateAccess


@dataclass(frozen=True)
class DeadlineDay:
    """One app's deadline on one local day: when it was met, when ``late`` was raised."""

    app_id: str
    day: str  # YYYY-MM-DD, in the deadline's timezone
    by_at: datetime
    met_at: datetime | None = None
    late_at: datetime | None = None

    def as_record(self) -> dict[str, Any]:
        """The ``deadline_days`` row: times as text, every column (an upsert writes them all)."""
        return {
            "app_id": self.app_id,
            "day": self.day,
            "by_at": format_time(self.by_at),
            "met_at": format_time(self.met_at) if self.met_at else None,
            "late_at": format_time(self.late_at) if self.late_at else None,
        }

    @classmethod
    def from_record(cls, row: dict[str, Any]) -> DeadlineDay:
        """The row as read back from ``deadline_days``."""
        return cls(
            app_id=row["app_id"],
            day=row["day"],
            by_at=parse_time(row["by_at"]),
            met_at=parse_time(row["met_at"]) if row.get("met_at") else None,
            late_at=parse_time(row["late_at"]) if row.get("late_at") else None,
        )


@dataclass(frozen=True)
class EarlierSuccess:
    """A successful reload an earlier sweep handled, as ``handled_events`` remembers it.

    Only the event's time is kept there, which comes at or after the reload's end: used as
    the end, it can only make a reload look later than it was, never earlier.
    """

    app_id: str
    ended_at: datetime
    outcome: str = "success"


class DeadlineReads(StateAccess):
    """Every read about deadlines."""

    def deadline_days(self, app_ids: Iterable[str], since_day: str) -> list[DeadlineDay]:
        """The rows of these apps from local day ``since_day`` (YYYY-MM-DD) on."""
        wanted = set(app_ids)
        rows = self.db.table("deadline_days").rows_where(
            "day >= ?", [since_day], order_by="day, app_id"
        )
        return [DeadlineDay.from_record(row) for row in rows if row["app_id"] in wanted]

    def recent_deadline_days(self, limit: int = 30) -> list[DeadlineDay]:
        """The newest rows of every app, newest day first (for ``runs`` and the report)."""
        rows = self.db.table("deadline_days").rows_where(order_by="day desc, app_id", limit=limit)
        return [DeadlineDay.from_record(row) for row in rows]

    def successes_since(self, app_ids: Iterable[str], since: datetime) -> list[EarlierSuccess]:
        """Successful reloads of these apps handled by earlier sweeps, from ``since`` on.

        Scans ``handled_events`` (no index serves it): ask only when a ``late`` is about to be
        raised, which happens at most once per app and day.
        """
        apps = sorted(set(app_ids))  # a few: the apps with a deadline
        sql = (
            "select app_id, event_time from handled_events where outcome = 'success' "
            f"and event_time >= ? and app_id in ({','.join('?' * len(apps))})"
        )
        rows = self.db.execute(sql, [format_time(since), *apps]).fetchall()
        return [EarlierSuccess(app, parse_time(ended)) for app, ended in rows]

"""How a sweep reports its reading progress; the process decides how to show it."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class ReadProgress(Protocol):
    """Told about each page of events as it is read (events come oldest first)."""

    def started(self, window_start: datetime, window_end: datetime) -> None:
        """Reading begins for this window."""

    def page_read(self, pages: int, events: int, reached: datetime | None) -> None:
        """``pages`` pages and ``events`` events read so far, the newest event at ``reached``."""

    def finished(self, pages: int, events: int) -> None:
        """Reading has ended (complete or not)."""


class NoProgress:
    """Shows nothing: for tests, the scheduler's background sweeps and JSON output."""

    def started(self, window_start: datetime, window_end: datetime) -> None:
        """Nothing to show."""

    def page_read(self, pages: int, events: int, reached: datetime | None) -> None:
        """Nothing to show."""

    def finished(self, pages: int, events: int) -> None:
        """Nothing to show."""

"""Reading progress of a sweep: a bar on a terminal, plain log lines anywhere else.

Audit events come oldest first, so how far the newest event read lies into the window is
a true measure of how much of the window is done.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from loguru import logger
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from jobs.progress import ReadProgress
from qlik.clock import SYSTEM_CLOCK
from qlik.times import format_time

Clock = Callable[[], float]


def progress_for(stream: TextIO, clock: Clock = SYSTEM_CLOCK.monotonic) -> ReadProgress:
    """A progress bar on ``stream`` when it is a terminal, else periodic log lines."""
    return BarProgress(stream, clock) if stream.isatty() else LogProgress(clock=clock)


Window = tuple[datetime, datetime]


def window_fraction(window: Window | None, reached: datetime | None) -> float:
    """How much of the window (start, end) is read, from 0.0 to 1.0; 0.0 when unknown."""
    if window is None or reached is None:
        return 0.0
    start, end = window
    span = (end - start).total_seconds()
    if span <= 0:
        return 1.0
    return min(1.0, max(0.0, (reached - start).total_seconds() / span))


def rate(events: int, seconds: float) -> float:
    """Events per second; 0 before any time has passed."""
    return events / seconds if seconds > 0 else 0.0


class LogProgress:
    """An INFO line every ``every_pages`` pages or ``every_seconds``, whichever comes first.

    The closing line is INFO only when the read was long enough to log along the way; a
    routine one-page sweep would otherwise add a line to every run's log.
    """

    def __init__(
        self,
        every_pages: int = 100,
        every_seconds: float = 5.0,
        clock: Clock = SYSTEM_CLOCK.monotonic,
    ) -> None:
        self.every_pages, self.every_seconds, self.clock = every_pages, every_seconds, clock
        self.window: Window | None = None
        self.began = self.last_line = clock()
        self.lines = 0

    def started(self, window_start: datetime, window_end: datetime) -> None:
        """Remember the window and start the clock."""
        self.window = (window_start, window_end)
        self.began = self.last_line = self.clock()

    def page_read(self, pages: int, events: int, reached: datetime | None) -> None:
        """Log a line when enough pages or seconds went by since the last one."""
        now = self.clock()
        if pages % self.every_pages and now - self.last_line < self.every_seconds:
            return
        self.last_line, self.lines = now, self.lines + 1
        logger.info(
            "read {:,} events in {:,} pages (up to {}, {:.0%} of the window), {:,.0f} events/s",
            events,
            pages,
            format_time(reached) if reached else "no event yet",
            window_fraction(self.window, reached),
            rate(events, now - self.began),
        )

    def finished(self, pages: int, events: int) -> None:
        """One closing line with the totals and the rate."""
        seconds = self.clock() - self.began
        logger.log(
            "INFO" if self.lines else "DEBUG",
            "read {:,} events in {:,} pages in {:.1f}s, {:,.0f} events/s",
            events,
            pages,
            seconds,
            rate(events, seconds),
        )


class BarProgress:
    """A transient rich progress bar: % of the window, pages, events, events/s, elapsed."""

    def __init__(self, stream: TextIO, clock: Clock = SYSTEM_CLOCK.monotonic) -> None:
        self.clock = clock
        self.bar = Progress(
            TextColumn("reading events"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[pages]:,} pages, {task.fields[events]:,} events"),
            TextColumn("{task.fields[rate]:,.0f} events/s"),
            TimeElapsedColumn(),
            # soft_wrap: rich must not break a line of text in two before it is scrubbed.
            console=Console(file=stream, soft_wrap=True),
            transient=True,
        )
        self.task: TaskID | None = None
        self.window: Window | None = None
        self.began = clock()

    def started(self, window_start: datetime, window_end: datetime) -> None:
        """Show the bar at 0%."""
        self.window, self.began = (window_start, window_end), self.clock()
        self.task = self.bar.add_task("read", total=100.0, pages=0, events=0, rate=0.0)
        self.bar.start()

    def page_read(self, pages: int, events: int, reached: datetime | None) -> None:
        """Move the bar to where the newest event read lies in the window."""
        if self.task is None:
            return
        self.bar.update(
            self.task,
            completed=100.0 * window_fraction(self.window, reached),
            pages=pages,
            events=events,
            rate=rate(events, self.clock() - self.began),
        )

    def finished(self, pages: int, events: int) -> None:
        """Take the bar away; the sweep's summary line follows."""
        if self.task is None:
            return
        self.bar.update(self.task, pages=pages, events=events)
        self.bar.stop()
        self.task = None

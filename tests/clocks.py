"""Clocks for tests: time moves only when asked to sleep, or by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

START = 1000.0


class FakeClock:
    """Time that moves only when asked to sleep; ``during_sleep`` runs before it moves.

    ``max_sleeps`` turns a wait that would never end into a test failure.
    """

    def __init__(self, now: float = START, max_sleeps: int | None = None) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self.during_sleep: Callable[[int], None] | None = None
        self._max_sleeps = max_sleeps

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self._max_sleeps is not None and len(self.sleeps) > self._max_sleeps:
            raise AssertionError(f"waiting forever: {self.sleeps}")
        if self.during_sleep is not None:
            self.during_sleep(len(self.sleeps))
        self.now += seconds


class ManualClock:
    """Wall and monotonic time (``qlik.clock.Clock``) that move only by ``advance`` or ``set``."""

    def __init__(self, wall: datetime, monotonic: float = START) -> None:
        self.wall = wall
        self.seconds = monotonic

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        """Both clocks move on by ``seconds``."""
        self.wall += timedelta(seconds=seconds)
        self.seconds += seconds

    def set(self, wall: datetime) -> None:
        """The wall clock jumps (forwards or back); the monotonic one moves by as much forward."""
        self.seconds += max(0.0, (wall - self.wall).total_seconds())
        self.wall = wall

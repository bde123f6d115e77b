"""The one place the program reads the time: the wall clock (UTC) and the monotonic clock.

Everything else is handed a ``Clock`` (built once in ``main()``) or a ``now``: the decisions
are pure, and tests pass a clock that moves only when they say so, instead of sleeping.
It lives in ``qlik/``, the bottom layer, because the tenant client needs it too (the OAuth
token cache, the rate limiter, the sweep's time budget).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Wall time for what is stored and compared with the tenant; monotonic time for durations."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds that never go back (a stepped wall clock does not move them)."""
        ...


class SystemClock:
    """The real clocks of this machine."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()


SYSTEM_CLOCK = SystemClock()

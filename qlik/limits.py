"""A client-side rate limiter per tier, so that reload-chain itself never provokes a 429.

Qlik Cloud counts calls per user and tier over a minute, and a 429 blocks the whole tier.
The limiter keeps each tier under its limit in every window of ``period_s``: a call counts
from when it is sent until one period after its answer arrived. The tenant counted it
somewhere in between, so however the latency varies, no window the tenant sees holds more.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from loguru import logger

# SPEC section 2: tier 1 1000/min (most reads; audits have their own 1000), tier 2 100/min
# (writes), POST /api/v1/reloads 50/min.
QLIK_LIMITS: Mapping[str, int] = MappingProxyType(
    {"audits": 1000, "tier1": 1000, "tier2": 100, "reload_start": 50}
)
# While every counted call is still in flight there is no end time to wait for: look again.
IN_FLIGHT_POLL_S = 0.05
# Waits shorter than this are routine pacing, logged at debug level only.
NOTABLE_WAIT_S = 1.0


@dataclass(frozen=True)
class RateLimits:
    """Calls allowed per tier in any window of ``period_s`` seconds."""

    calls: Mapping[str, int] = field(default_factory=lambda: QLIK_LIMITS)
    period_s: float = 60.0


class _Window:
    """One tier's calls: how many are in flight, and when the finished ones ended."""

    def __init__(self, limit: int, period_s: float) -> None:
        self.limit = limit
        self.period_s = period_s
        self.in_flight = 0
        self.ended: deque[float] = deque()  # answer times, oldest first

    def take(self, now: float) -> float:
        """Take a slot (0.0), or say how long to wait before asking again."""
        # The same sum as the wait below, so a caller that slept exactly that long gets in.
        while self.ended and self.ended[0] + self.period_s <= now:
            self.ended.popleft()
        if self.in_flight + len(self.ended) < self.limit:
            self.in_flight += 1
            return 0.0
        if self.ended:
            return self.ended[0] + self.period_s - now
        return IN_FLIGHT_POLL_S


class RateLimiter:
    """Paces calls per tier under ``limits``; thread-safe, with an injectable clock."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._windows = {
            tier: _Window(limit, self.limits.period_s) for tier, limit in self.limits.calls.items()
        }
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def acquire(self, tier: str) -> None:
        """Wait until a call of ``tier`` fits under its limit, and count it as in flight."""
        window = self._windows.get(tier)
        if window is None:
            return
        while True:
            with self._lock:
                wait = window.take(self._clock())
                if wait <= 0:
                    return
                self.waited_s += wait
            level = "INFO" if wait >= NOTABLE_WAIT_S else "DEBUG"
            logger.log(
                level,
                "{} calls at {}/{:.0f}s: waiting {:.1f}s",
                tier,
                window.limit,
                window.period_s,
                wait,
            )
            self._sleep(wait)

    def release(self, tier: str) -> None:
        """The call's answer (or failure) has arrived: it counts for one more period."""
        window = self._windows.get(tier)
        if window is None:
            return
        with self._lock:
            window.in_flight -= 1
            window.ended.append(self._clock())

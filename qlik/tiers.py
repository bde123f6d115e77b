"""Qlik Cloud's rate-limit tiers: a 429 blocks the whole tier, so every call of it waits.

Tiers per the specs' ``x-qlik-tier``: audits have their own budget, starting reloads theirs,
other writes are tier 2, other reads tier 1 (budgets per 5 minutes in ``qlik.limits``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from loguru import logger

from qlik.clock import SYSTEM_CLOCK
from qlik.errors import RateLimitedError

MAX_WAIT_S = 60.0
START_TIER = "reload_start"  # POST /api/v1/reloads


def tier_of(method: str, endpoint: str) -> str:
    """The rate-limit tier a call is counted in."""
    if endpoint == "/api/v1/audits":
        return "audits"
    if method == "POST" and endpoint == "/api/v1/reloads":
        return START_TIER
    return "tier1" if method == "GET" else "tier2"


class TierGate:
    """Remembers which tiers the tenant has blocked, and until when."""

    def __init__(
        self,
        clock: Callable[[], float] = SYSTEM_CLOCK.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def block(self, tier: str, seconds: float) -> None:
        """The tenant answered 429 with ``Retry-After: seconds`` for a call of ``tier``."""
        with self._lock:
            until = self._clock() + seconds
            self._blocked_until[tier] = max(until, self._blocked_until.get(tier, 0.0))

    def wait(self, tier: str) -> None:
        """Wait until ``tier`` may be called again; too long a wait is left to the next sweep."""
        with self._lock:
            remaining = self._blocked_until.get(tier, 0.0) - self._clock()
        if remaining <= 0:
            return
        if remaining > MAX_WAIT_S:
            raise RateLimitedError(f"{tier} is rate limited for {remaining:.0f}s more", remaining)
        logger.warning("{} is rate limited: waiting {:.1f}s", tier, remaining)
        self._sleep(remaining)

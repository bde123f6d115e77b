"""A client-side rate limiter per tier, so that reload-chain itself never provokes a 429.

Qlik Cloud counts calls per user and tier over any five minutes, and a 429 blocks the whole
tier. The limiter keeps each tier under its budget in every window of ``period_s``: a call
counts from when it is sent until one period after its answer arrived. The tenant counted it
somewhere in between, so however the latency varies, no window the tenant sees holds more.
Budgets are not spread out: a whole budget may go in one burst, as Qlik allows.

The budget spans processes, so a new process ``seed``s the limiter with the calls earlier ones
made (one-shot sweeps read them from the ledger). A reload start waits at most
``START_SLOT_WAIT_S`` for a slot, and gives up at once when it can already tell the wait would
be longer: the start is left for the next sweep.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from itertools import zip_longest
from types import MappingProxyType

from loguru import logger

from qlik.clock import SYSTEM_CLOCK
from qlik.errors import SlotUnavailableError
from qlik.tiers import START_TIER

QLIK_WINDOW_S = 300.0
# SPEC section 2: Qlik's budgets per user over any 5 minutes (tier 1 reads and audits 1000/min,
# tier 2 writes 100/min, POST /api/v1/reloads 50/min: "evaluated over a 5-minute window").
QLIK_BUDGETS: Mapping[str, int] = MappingProxyType(
    {"audits": 5000, "tier1": 5000, "tier2": 500, START_TIER: 250}
)
# Starts keep 10 of Qlik's 250 in reserve (4 %; a burst of 200 still goes at once), for what
# the limiter cannot see: the ledger stamps a start as it is sent, not when it is answered, so a
# seeded start may still count at the tenant a latency longer than its age says (a few calls at
# a window's edge); the same user's starts from the hub, Automate or scripts share the budget;
# a start retried after resolving space access is two POSTs under one ledger row; and ages
# measured on the wall clock shift when it is stepped between two processes.
# Reads and other writes are never seeded and this process's own count is exact: no margin.
START_MARGIN = 10
QLIK_LIMITS: Mapping[str, int] = MappingProxyType(
    {**QLIK_BUDGETS, START_TIER: QLIK_BUDGETS[START_TIER] - START_MARGIN}
)
# SPEC section 2: a sweep waits at most this long for a start slot; other tiers wait as long
# as it takes (every wait is bounded by the sweep's budget).
START_SLOT_WAIT_S = 60.0
SLOT_WAITS_S: Mapping[str, float] = MappingProxyType({START_TIER: START_SLOT_WAIT_S})
# While every counted call is still in flight there is no end time to wait for: look again.
IN_FLIGHT_POLL_S = 0.05
# Waits shorter than this are routine pacing, logged at debug level only.
NOTABLE_WAIT_S = 1.0


@dataclass(frozen=True)
class RateLimits:
    """Calls allowed per tier in any window of ``period_s`` seconds.

    ``slot_wait_s``: the tiers whose calls give up (``SlotUnavailableError``) rather than wait
    longer than this many seconds for a slot.
    """

    calls: Mapping[str, int] = field(default_factory=lambda: QLIK_LIMITS)
    period_s: float = QLIK_WINDOW_S
    slot_wait_s: Mapping[str, float] = field(default_factory=lambda: SLOT_WAITS_S)

    def scaled(self, factor: float) -> RateLimits:
        """The same budgets on a clock ``1 / factor`` times faster: each duration times ``factor``.

        The benchmark runs Qlik's limits against a simulator on such a clock. Never raises.
        """
        waits = {tier: wait * factor for tier, wait in self.slot_wait_s.items()}
        return replace(self, period_s=self.period_s * factor, slot_wait_s=MappingProxyType(waits))


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
        freed_by = self._freeing_end()
        return IN_FLIGHT_POLL_S if freed_by is None else freed_by + self.period_s - now

    def least_wait(self, now: float) -> float:
        """The shortest wait before a slot can free (after a ``take`` that did not get one).

        A call still in flight counts for a whole period after its answer, which is not yet.
        """
        freed_by = self._freeing_end()
        return self.period_s if freed_by is None else freed_by + self.period_s - now

    def merge(self, ended: Iterable[float]) -> None:
        """Count calls that ended at ``ended`` times, without counting one already here twice."""
        theirs = sorted(ended, reverse=True)
        # Newest first, rank by rank, the later of the two: as many calls in every window as
        # the larger of the two records holds.
        both = zip_longest(reversed(self.ended), theirs, fillvalue=float("-inf"))
        self.ended = deque(reversed([max(mine, other) for mine, other in both]))

    def _freeing_end(self) -> float | None:
        """The answer time whose expiry frees a slot, or None while in-flight calls hold it."""
        surplus = self.in_flight + len(self.ended) - self.limit  # >= 0 when no slot is free
        return self.ended[surplus] if surplus < len(self.ended) else None


class RateLimiter:
    """Paces calls per tier under ``limits``; thread-safe, with an injectable clock."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = SYSTEM_CLOCK.monotonic,
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
        """Wait until a call of ``tier`` fits under its limit, and count it as in flight.

        ``SlotUnavailableError`` (nothing counted, nothing sent) when ``tier`` has a slot wait
        and no slot frees within it; raised as soon as the wait is known to be longer. Waits
        go through ``sleep``, whose own failures (the sweep's budget) propagate.
        """
        window = self._windows.get(tier)
        if window is None:
            return
        max_wait = self.limits.slot_wait_s.get(tier, math.inf)
        give_up_at = self._clock() + max_wait
        while True:
            with self._lock:
                now = self._clock()
                wait = window.take(now)
                if wait <= 0:
                    return
                if now + window.least_wait(now) > give_up_at:
                    raise _unavailable(tier, window, now, max_wait)
                self.waited_s += wait
            _log_wait(tier, window, wait)
            self._sleep(wait)

    def release(self, tier: str) -> None:
        """The call's answer (or failure) has arrived: it counts for one more period."""
        window = self._windows.get(tier)
        if window is None:
            return
        with self._lock:
            window.in_flight -= 1
            window.ended.append(self._clock())

    def seed(self, tier: str, ages_s: Iterable[float]) -> None:
        """Count calls of ``tier`` that were answered ``ages_s`` seconds ago, by any process.

        ``ages_s`` should hold every such call of the last period, this process's included: a
        call this limiter already counts is not counted again, so seeding again from the same
        record (before each sweep of a long-running process) is safe. A negative age counts as
        now; ages of a period or more, and tiers without a limit, are ignored. Never raises.
        """
        window = self._windows.get(tier)
        if window is None:
            return
        ages = [max(0.0, age) for age in ages_s if age < window.period_s]  # outside the lock
        with self._lock:
            now = self._clock()
            window.merge(now - age for age in ages)
        if ages:
            logger.info(
                "{}: {} calls of the last {:.0f}s on record, counted",
                tier,
                len(ages),
                window.period_s,
            )


def _log_wait(tier: str, window: _Window, wait: float) -> None:
    level = "INFO" if wait >= NOTABLE_WAIT_S else "DEBUG"
    logger.log(
        level, "{} calls at {}/{:.0f}s: waiting {:.1f}s", tier, window.limit, window.period_s, wait
    )


def _unavailable(tier: str, window: _Window, now: float, max_wait: float) -> SlotUnavailableError:
    counted = window.in_flight + len(window.ended)
    least = window.least_wait(now)
    name = tier.replace("_", "-")
    return SlotUnavailableError(
        f"no {name} slot within {max_wait:.0f} s under the rate limit "
        f"({counted} calls in the last {window.period_s:.0f} s, limit {window.limit}; "
        f"the next slot frees in {least:.0f} s)",
        least,
    )

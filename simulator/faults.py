"""Realism on demand: latency, per-tier rate limits, injected errors and dropped connections.

A fault strikes before the tenant handles the request (nothing happened) or, with ``after``,
once it has (a reload really started, and its answer is lost).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from simulator.scenario import FaultRule, FaultSpec


@dataclass(frozen=True)
class Fault:
    """What to do instead of answering: drop the connection, or answer ``status``.

    ``after``: only once the tenant has handled the request.
    """

    drop: bool = False
    status: int = 503
    retry_after: int | None = None
    after: bool = False


class RateLimiter:
    """Qlik's per-user tier limits: over the limit, the whole tier answers 429 until it clears."""

    def __init__(
        self, limits: dict[str, int], window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._limits = limits
        self._window_s = window_s
        self._clock = clock
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._blocked_until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def retry_after(self, user_id: str, tier: str) -> int | None:
        """None if this call may proceed (and count it), else seconds to wait."""
        key = (user_id, tier)
        with self._lock:
            now = self._clock()
            blocked = self._blocked_until.get(key, 0.0)
            if now < blocked:
                return max(1, math.ceil(blocked - now))
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - self._window_s:
                calls.popleft()
            if len(calls) >= self._limits[tier]:
                self._blocked_until[key] = calls[0] + self._window_s
                return max(1, math.ceil(calls[0] + self._window_s - now))
            calls.append(now)
            return None


class Faults:
    """Fault rules (deterministic, counted down) and random faults (seeded)."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._rules = [rule.model_copy() for rule in spec.rules]
        self._random = random.Random(spec.seed)
        self._lock = threading.Lock()
        # By kind (drop, status, rate_limited); "after" counts those after the tenant acted,
        # and a labelled rule's faults are counted under its label too.
        self.injected: dict[str, int] = {"drop": 0, "status": 0, "rate_limited": 0, "after": 0}

    def calm(self) -> None:
        """Stop injecting faults (rules and random ones); counts are kept."""
        with self._lock:
            self._rules.clear()
            self.spec = self.spec.model_copy(update={"error_rate": 0.0, "drop_rate": 0.0})

    def add_rule(self, rule: FaultRule) -> None:
        """Inject a fault for the next matching requests (tests call this while serving)."""
        with self._lock:
            self._rules.append(rule.model_copy())

    def latency_s(self) -> float:
        """How long to wait before answering."""
        return self.spec.latency_ms / 1000.0

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any: a matching rule first, then chance."""
        with self._lock:
            for rule in self._rules:
                same_method = rule.method is None or rule.method.upper() == method.upper()
                if rule.count > 0 and path.startswith(rule.path) and same_method:
                    rule.count -= 1
                    fault = Fault(rule.drop, rule.status, rule.retry_after, rule.after)
                    return self._count(fault, rule.label)
            return self._by_chance()

    def _by_chance(self) -> Fault | None:
        roll = self._random.random()
        if roll < self.spec.drop_rate:
            fault = Fault(drop=True)
        elif roll < self.spec.drop_rate + self.spec.error_rate:
            fault = Fault(status=self._random.choice((500, 502, 503)))
        else:
            return None
        # Drawn only when asked for, so a seed without after_share keeps its old sequence.
        if self.spec.after_share and self._random.random() < self.spec.after_share:
            fault = Fault(fault.drop, fault.status, after=True)
        return self._count(fault)

    def _count(self, fault: Fault, label: str = "") -> Fault:
        kind = "drop" if fault.drop else "rate_limited" if fault.status == 429 else "status"
        self.injected[kind] += 1
        self.injected["after"] += fault.after
        if label:
            self.injected[label] = self.injected.get(label, 0) + 1
        return fault

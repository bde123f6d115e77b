"""What `make bench` reports for one size: its result, its time under real limits, its table."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.baseline import BaselineResult
from benchmarks.harness import SweepResult, phase_line
from benchmarks.workload import Size
from qlik.limits import QLIK_LIMITS, QLIK_WINDOW_S
from qlik.tiers import tier_of as qlik_tier_of

# What the sweep's own limiter allows per 5-minute window (Qlik's budgets, 240 of 250 starts).
TIER_BUDGETS: Mapping[str, int] = QLIK_LIMITS


# --- tiers ------------------------------------------------------------------------------------


def tier_of(call: str) -> str:
    """The tier of a ``METHOD /path`` call, as the client and Qlik count it."""
    method, _, path = call.partition(" ")
    return qlik_tier_of(method, path)


def tier_seconds(
    calls: dict[str, int], budgets: Mapping[str, int] = TIER_BUDGETS
) -> dict[str, int]:
    """Per tier, the least time the calls need under 5-minute burst budgets, in seconds.

    A whole budget may go at once, so up to one budget costs no waiting; each further budget
    (or part of one) waits for the next window: ``(ceil(calls / budget) - 1) * 300``. Tiers
    are independent, so the slowest tier bounds the whole run.
    """
    per_tier = dict.fromkeys(budgets, 0)
    for call, count in calls.items():
        per_tier[tier_of(call)] += count
    return {
        tier: max(0, math.ceil(n / budgets[tier]) - 1) * int(QLIK_WINDOW_S)
        for tier, n in per_tier.items()
    }


# --- one size ---------------------------------------------------------------------------------


@dataclass
class SizeResult:
    size: Size
    fanout: int
    recent_reloads: int
    ours: SweepResult
    baseline: BaselineResult
    floor: dict[str, int]
    simulator: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def floor_total(self) -> int:
        return sum(self.floor.values())

    @property
    def ours_total(self) -> int:
        return sum(self.ours.api_calls.values())

    @property
    def baseline_total(self) -> int:
        return sum(self.baseline.api_calls.values())

    def as_json(self) -> dict[str, Any]:
        ours_tiers = tier_seconds(self.ours.api_calls)
        baseline_tiers = tier_seconds(self.baseline.api_calls)
        return {
            "size": asdict(self.size),
            "fanout": self.fanout,
            "recent_reloads": self.recent_reloads,
            "floor": {"total": self.floor_total, "parts": self.floor},
            "ours": {
                **asdict(self.ours),
                "total_calls": self.ours_total,
                "tier_seconds": ours_tiers,
                "tier_bound_s": max(ours_tiers.values()),
            },
            "baseline": {
                **asdict(self.baseline),
                "total_calls": self.baseline_total,
                "tier_seconds": baseline_tiers,
                "tier_bound_s": max(baseline_tiers.values()),
            },
            "ratios": {
                "ours_to_floor": round(self.ours_total / self.floor_total, 3),
                "ours_to_baseline": round(self.ours_total / self.baseline_total, 4),
            },
            "simulator": self.simulator,
        }


# --- output -----------------------------------------------------------------------------------


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1_000_000:.1f} MB"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _waiting(seconds: int) -> str:
    return "none" if seconds == 0 else f"{seconds / 60:.0f} min"


def render(result: SizeResult) -> str:
    """The table of one size."""
    ours, base = result.ours, result.baseline
    size = result.size
    head = (
        f"\n== {size.events:,} events from {size.sources:,} sources naming "
        f"{size.successors:,} successors (each source names {result.fanout}) =="
    )
    endpoints = sorted(set(ours.api_calls) | set(base.api_calls))
    width = max(len(e) for e in [*endpoints, "waiting under Qlik's budgets"]) + 2
    lines = [head, f"{'':<{width}}{'ours':>12}{'baseline':>12}"]
    for endpoint in endpoints:
        lines.append(
            f"{endpoint:<{width}}{ours.api_calls.get(endpoint, 0):>12,}"
            f"{base.api_calls.get(endpoint, 0):>12,}"
        )
    ours_tiers, base_tiers = tier_seconds(ours.api_calls), tier_seconds(base.api_calls)
    rows = [
        ("total API calls", f"{result.ours_total:,}", f"{result.baseline_total:,}"),
        ("reloads started", f"{ours.triggered:,}", f"{base.started:,}"),
        ("429s provoked", str(result.simulator["ours"].get("rate_limited", "-")), "-"),
        ("wall time", _duration(ours.wall_s), _duration(base.wall_s)),
        ("peak memory (tracemalloc)", _mb(ours.tracemalloc_peak_bytes), "-"),
        ("max RSS of the process", _mb(ours.ru_maxrss_bytes), "-"),
        (
            "waiting under Qlik's budgets",
            _waiting(max(ours_tiers.values())),
            _waiting(max(base_tiers.values())),
        ),
    ]
    lines += [f"{name:<{width}}{a:>12}{b:>12}" for name, a, b in rows]
    lines.append(f"our time by part: {phase_line(ours.phases_s)}")
    parts = " + ".join(str(n) for n in result.floor.values())
    lines += [
        f"floor: {parts} = {result.floor_total:,} (recent reloads {result.recent_reloads:,})",
        f"ours / floor = {result.ours_total / result.floor_total:.2f}x; "
        f"ours / baseline = {result.ours_total / result.baseline_total:.3f} "
        f"(baseline / ours = {result.baseline_total / result.ours_total:.0f}x); "
        f"baseline ran with {base.workers} worker threads",
    ]
    return "\n".join(lines)

"""The catch-up case of `make bench`: one sweep through a 90-day backlog of 100,000 events.

Run like the other sizes (a fresh simulator process, a fresh sweep process and database),
but with tracemalloc off: the figure that matters here is the sweep process's peak resident
memory as the operating system counts it, interpreter and libraries included.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.harness import SweepResult, phase_line, run_ours
from benchmarks.simulated import Simulator
from benchmarks.workload import Size, build_workload, floor_parts

DAYS = 90
MEMORY_LIMIT_BYTES = 150_000_000
DEFAULT_SIZE = Size(100_000, 2_000, 500)


@dataclass
class CatchUpResult:
    """What one catch-up sweep cost, beside its floor."""

    size: Size
    days: int
    recent_reloads: int
    ours: SweepResult
    floor: dict[str, int]
    rate_limited: int

    @property
    def total_calls(self) -> int:
        return sum(self.ours.api_calls.values())

    @property
    def floor_total(self) -> int:
        return sum(self.floor.values())

    def missed_bounds(self, max_floor_ratio: float) -> list[str]:
        """The promises this run broke: calls near the floor, no 429, memory, a clean exit."""
        rss = self.ours.ru_maxrss_bytes
        missed = []
        if self.total_calls > max_floor_ratio * self.floor_total:
            missed.append(f"catch-up: {self.total_calls:,} calls > {max_floor_ratio}x floor")
        if self.rate_limited:
            missed.append(f"catch-up: provoked {self.rate_limited} 429s")
        if rss is not None and rss >= MEMORY_LIMIT_BYTES:
            missed.append(f"catch-up: peak memory {rss / 1e6:.0f} MB")
        if self.ours.exit_code != 0 or self.ours.events_read != self.size.events:
            missed.append(f"catch-up: exit {self.ours.exit_code}, read {self.ours.events_read}")
        return missed

    def as_json(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return {
            "size": asdict(self.size),
            "days": self.days,
            "recent_reloads": self.recent_reloads,
            "floor": {"total": self.floor_total, "parts": self.floor},
            "ours": asdict(self.ours) | {"total_calls": self.total_calls},
            "ours_to_floor": round(self.total_calls / self.floor_total, 3),
            "rate_limited": self.rate_limited,
            "memory_limit_bytes": MEMORY_LIMIT_BYTES,
        }


def run_catch_up(size: Size, *, latency_ms: float, days: int = DAYS) -> CatchUpResult:
    """One sweep whose first window reaches back ``days`` days over ``size.events`` events."""
    span_minutes = days * 24 * 60 - 60  # the newest hour is left to the usual sizes' shape
    workload = build_workload(size, latency_ms=latency_ms, span_minutes=span_minutes)
    with Simulator(workload.scenario) as sim:
        ours = run_ours(sim.url, days * 24 * 60, trace=False)
    floor = floor_parts(workload, ours.triggered)
    rate_limited = sim.stats.get("rate_limited", -1)
    return CatchUpResult(size, days, workload.recent_reloads, ours, floor, rate_limited)


def render_catch_up(result: CatchUpResult) -> str:
    """The catch-up's lines of the printed report."""
    ours, size = result.ours, result.size
    rss = ours.ru_maxrss_bytes
    verdict = "-" if rss is None else ("under" if rss < MEMORY_LIMIT_BYTES else "OVER")
    calls = ", ".join(f"{endpoint} {n:,}" for endpoint, n in sorted(ours.api_calls.items()))
    return "\n".join(
        [
            f"\n== catch-up: {size.events:,} events over {result.days} days from "
            f"{size.sources:,} sources naming {size.successors:,} successors ==",
            f"events read {ours.events_read:,}, new {ours.events_new:,}; "
            f"reloads started {ours.triggered:,}; exit {ours.exit_code}",
            f"API calls {result.total_calls:,} ({calls})",
            f"floor {result.floor_total:,}; ours / floor = "
            f"{result.total_calls / result.floor_total:.2f}x; 429s provoked {result.rate_limited}",
            f"time by part: {phase_line(ours.phases_s)}",
            f"wall time {ours.wall_s:.1f} s; peak memory of the sweep process (max RSS) "
            + ("-" if rss is None else f"{rss / 1_000_000:.1f} MB")
            + f", {verdict} the {MEMORY_LIMIT_BYTES / 1_000_000:.0f} MB limit",
            _growth_line(ours),
        ]
    )


def _growth_line(ours: SweepResult) -> str:
    """Resident memory before the sweep, and what the peak added per new reload."""
    before, peak = ours.rss_before_bytes, ours.ru_maxrss_bytes
    if before is None or peak is None or not ours.events_new:
        return "memory before the sweep: -"
    per_reload = (peak - before) / ours.events_new
    return (
        f"memory before the sweep {before / 1_000_000:.1f} MB (interpreter, imports, client, "
        f"database); the peak added {per_reload:.0f} bytes per new reload"
    )

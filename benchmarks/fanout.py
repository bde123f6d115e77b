"""The fan-out case of `make bench`: one sweep finds 200 successors eligible at once.

Four sources, each naming 50 successors and each with one finished reload, so one sweep
decides 200 starts. It runs like the other sizes (the real ``run_sweep`` in a fresh process,
a fresh simulator with a latency per answer) but on Qlik's real clock: the client's 240 starts
per 5 minutes against the tenant's 250, so the whole fan-out fits one burst and no start waits.

Measured on the tenant's side: from the sweep's decisions (the end of its facts phase) to the
creation time of the last reload it started, and every 429 the tier limits answered.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.harness import SweepResult, phase_line, run_ours
from benchmarks.simulated import ReloadTimes, Simulator
from benchmarks.workload import LOOKBACK_MINUTES, Size, build_workload

DEFAULT_SUCCESSORS = 200
SOURCES = 4
MAX_SECONDS = 15.0  # issue 12: all 200 started within 15 s of the sweep's decisions
REAL_CLOCK = 1.0


@dataclass
class FanOutResult:
    """One sweep's fan-out: what the tenant started, when, and what it refused."""

    successors: int
    sources: int
    ours: SweepResult
    started: int  # reloads the tenant started through the API
    rate_limited: int
    decided_to_last_start_s: float | None  # None: nothing started
    first_to_last_start_s: float | None

    def missed_bounds(self) -> list[str]:
        """The promises this run broke: every successor started, in time, no 429."""
        missed = []
        if self.started != self.successors:
            missed.append(f"fan-out: {self.started} of {self.successors} started")
        took = self.decided_to_last_start_s
        if took is not None and took > MAX_SECONDS:
            missed.append(f"fan-out: last start {took:.1f} s after the decisions")
        if self.rate_limited:
            missed.append(f"fan-out: provoked {self.rate_limited} 429s")
        return missed

    def as_json(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return asdict(self) | {
            "total_calls": sum(self.ours.api_calls.values()),
            "max_seconds": MAX_SECONDS,
        }


def start_times(reloads: list[ReloadTimes], prefix: str = "t") -> list[float]:
    """Creation times of the successors' reloads started through the API, in order."""
    return sorted(r.created for r in reloads if r.by_api and r.app.startswith(prefix))


def run_fan_out(
    successors: int = DEFAULT_SUCCESSORS, *, latency_ms: float, seed: int = 0
) -> FanOutResult:
    """One real sweep whose decisions start ``successors`` reloads at once."""
    size = Size(SOURCES, SOURCES, successors)
    workload = build_workload(
        size,
        latency_ms=latency_ms,
        fanout=math.ceil(successors / SOURCES),
        seed=seed,
        time_scale=REAL_CLOCK,
    )
    with Simulator(workload.scenario) as sim:
        ours = run_ours(sim.url, LOOKBACK_MINUTES, trace=False, time_scale=REAL_CLOCK)
    starts = start_times(sim.reloads)
    decided = ours.decided_at()
    return FanOutResult(
        successors,
        SOURCES,
        ours,
        started=len(starts),
        rate_limited=sim.stats.get("rate_limited", -1),
        decided_to_last_start_s=(starts[-1] - decided) if starts else None,
        first_to_last_start_s=(starts[-1] - starts[0]) if starts else None,
    )


def render_fan_out(result: FanOutResult) -> str:
    """The fan-out's lines of the printed report."""
    ours = result.ours
    per_source = math.ceil(result.successors / result.sources)
    return "\n".join(
        [
            f"\n== fan-out: {result.successors} successors eligible at once ({result.sources} "
            f"sources naming {per_source} each), Qlik's real 5-minute budgets ==",
            f"reloads started {result.started} of {result.successors}; "
            f"429s provoked {result.rate_limited}; sweep exit {ours.exit_code}",
            f"sweep's decisions to the last start (tenant's creation time) "
            f"{_seconds(result.decided_to_last_start_s)} (bound {MAX_SECONDS:.0f} s); "
            f"first to last start {_seconds(result.first_to_last_start_s)}",
            f"sweep: {ours.wall_s:.1f} s ({phase_line(ours.phases_s)}); "
            f"{sum(ours.api_calls.values())} API calls",
        ]
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"

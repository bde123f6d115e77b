"""What one `make bench` run found: every part's result, the JSON file, and the bounds missed."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchmarks import hops
from benchmarks.backtoback import BackToBackResult
from benchmarks.catchup import CatchUpResult
from benchmarks.fanout import FanOutResult
from benchmarks.hops import HopRun
from benchmarks.report import TIER_BUDGETS, SizeResult
from benchmarks.simulated import QLIK_WINDOW_S, TENANT_BUDGETS, TIME_SCALE

MAX_FLOOR_RATIO = 1.05  # issue 12: within 1.05x of the tight floor (benchmarks.floor)

NOTES = {
    "simulator": "the sizes and the catch-up run against Qlik's 5-minute budgets "
    "(tenant_budgets) on a clock time_scale times faster (a window of simulated_rate_window_s), "
    "enforced with 429s and paced by the sweep's own limiter (client_budgets, scaled alike); "
    "the baseline's simulator has no limits (it does not pace itself); fan_out, back_to_back "
    "and hops run on Qlik's real clock (a 300 s window)",
    "ours.wall_s": "run_sweep only, tracemalloc tracing on (adds some CPU time)",
    "ours.tracemalloc_peak_bytes": "peak of Python allocations during run_sweep",
    "ours.ru_maxrss_bytes": "max RSS of the sweep's own process, interpreter included",
    "tier_seconds": "per tier (ceil(calls / budget) - 1) * 300 s: a whole 5-minute budget goes "
    "in one burst, each further one waits for the next window (client_budgets)",
    "recent_reloads": "reloads the tenant-wide listing alone reads back to the horizon "
    "of its deepest successor, min(now - tolerance, newest end of its sources): "
    "benchmarks.floor",
    "fan_out": "one sweep (run_sweep in its own process) deciding all successors at once; "
    "decided_to_last_start_s from the end of its facts phase to the tenant's creation time of "
    "the last reload it started",
    "back_to_back": "reload-chain sweep --json processes on one database: two at once, a third "
    "once the first one's starts are 5 minutes old",
    "hops": "reload-chain run --interval-minutes X per interval (at the same time, each with "
    "its own tenant), stopped with SIGTERM; latencies from the source reload's end to the "
    "successor reload's creation, both the tenant's; idle sweeps (no new event) and their "
    "API calls from the run's own summary lines",
}


@dataclass
class Results:
    """Every part of one run (a part not run is None or empty)."""

    sizes: list[SizeResult] = field(default_factory=list)
    catch_up: CatchUpResult | None = None
    fan_out: FanOutResult | None = None
    back_to_back: BackToBackResult | None = None
    hops: list[HopRun] = field(default_factory=list)

    def missed_bounds(self) -> list[str]:
        """The bounds the project promises that this run missed."""
        missed = [
            f"{r.size.label}: ours / floor {r.ours_total / r.floor_total:.2f}x > {MAX_FLOOR_RATIO}x"
            for r in self.sizes
            if r.ours_total > MAX_FLOOR_RATIO * r.floor_total
        ]
        missed += [
            f"{r.size.label}: provoked 429s"
            for r in self.sizes
            if r.simulator["ours"].get("rate_limited")
        ]
        if self.catch_up is not None:
            missed += self.catch_up.missed_bounds(MAX_FLOOR_RATIO)
        if self.fan_out is not None:
            missed += self.fan_out.missed_bounds()
        if self.back_to_back is not None:
            missed += self.back_to_back.missed_bounds()
        return missed + hops.missed_bounds(self.hops)


def document(results: Results, args: argparse.Namespace) -> dict[str, Any]:
    """Everything, for the JSON file."""
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench " + " ".join(sys.argv[1:]),
        "latency_ms": args.latency_ms,
        "fanout": args.fanout,
        "baseline_workers": args.workers,
        "seed": args.seed,
        "time_scale": TIME_SCALE,
        "simulated_rate_window_s": QLIK_WINDOW_S / TIME_SCALE,
        "tenant_budgets": TENANT_BUDGETS,
        "client_budgets": dict(TIER_BUDGETS),
        "max_floor_ratio": MAX_FLOOR_RATIO,
        "notes": NOTES,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "sizes": [result.as_json() for result in results.sizes],
        "catch_up": results.catch_up.as_json() if results.catch_up else None,
        "fan_out": results.fan_out.as_json() if results.fan_out else None,
        "back_to_back": results.back_to_back.as_json() if results.back_to_back else None,
        "hops": [run.as_json() for run in results.hops],
    }

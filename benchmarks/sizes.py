"""One size of `make bench`: our sweep and the baseline, each against a fresh simulator."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.baseline import run_baseline
from benchmarks.harness import run_ours
from benchmarks.report import SizeResult
from benchmarks.simulated import API_KEY, Simulator
from benchmarks.workload import (
    LOOKBACK_MINUTES,
    Size,
    build_workload,
    floor_parts,
    without_limits,
)


def run_size(
    size: Size,
    *,
    latency_ms: float = 50.0,
    fanout: int = 1,
    workers: int = 32,
    seed: int = 0,
    out: Any = sys.stdout,
) -> SizeResult:
    """Ours and the baseline against two fresh simulators serving the same scenario."""
    workload = build_workload(size, latency_ms=latency_ms, fanout=fanout, seed=seed)
    print(f"size {size.label}: our sweep ...", file=out, flush=True)
    with Simulator(workload.scenario) as sim:
        ours = run_ours(sim.url, LOOKBACK_MINUTES)
    ours_sim = sim.stats
    print(f"size {size.label}: baseline ({workers} workers) ...", file=out, flush=True)
    with Simulator(without_limits(workload.scenario)) as sim:
        now = datetime.now(UTC)
        baseline = run_baseline(
            sim.url,
            API_KEY,
            now - timedelta(minutes=LOOKBACK_MINUTES),
            now,
            workers=workers,
        )
    return SizeResult(
        size,
        workload.fanout,
        workload.recent_reloads,
        ours,
        baseline,
        floor_parts(workload, ours.triggered),
        {"ours": ours_sim, "baseline": sim.stats},
    )

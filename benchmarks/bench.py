"""`make bench`: API calls of a real sweep against the simulator, beside the floor and a baseline.

For each size (events from sources naming successors) it builds one scenario and runs:

* **ours**: the real ``run_sweep`` (built as the CLI builds it) once, in a fresh process, against
  a fresh simulator with a fresh database; its API calls by endpoint, wall time and peak memory;
* **baseline**: the Automate template's per-event algorithm (``benchmarks.baseline``) against
  another fresh simulator serving the same scenario;
* **floor**: ``ceil(events/100) + ceil(sources/100) + ceil(successors/100)
  + ceil(recent reloads/100) + reloads started``;
* **tier time**: how long the same calls need at least under Qlik Cloud's real rate limits.

Sizes are ``events/sources/successors``: 200/50/20, 2,000/500/200 and 20,000/2,000/500 by
default, each source naming one successor (``--fanout``), so each successor is named by 2.5 to
4 sources. The baseline costs 1 + 3 x fanout calls per event; it is really run, on 32 worker
threads (``--workers``): Automate runs one automation per event, concurrently.

The simulator runs in its own process (so its work neither shares our GIL nor shows in our
memory), with a latency per answer (``--latency-ms``, default 50). For our sweep it enforces
Qlik's tier limits on a clock 60 times faster (per second instead of per minute), answering
429 past them, while the sweep's own limiter paces it under them: every size shows the 429s
our sweep provoked (none). The baseline does not pace itself, so its simulator has no limits.
The time both would need under the real limits is worked out by ``tier_seconds``.

Then a catch-up (``benchmarks.catchup``): one sweep through 100,000 events over 90 days, with
its peak memory. The run exits 1 if a bound is missed: more than 1.2x the floor at any size,
any 429 provoked, or a catch-up over 150 MB.

    python -m benchmarks.bench                      # what `make bench` runs
    python -m benchmarks.bench --sizes 200/50/20 --latency-ms 0
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger

from benchmarks.baseline import BaselineResult, run_baseline
from benchmarks.catchup import DEFAULT_SIZE as DEFAULT_CATCH_UP
from benchmarks.catchup import CatchUpResult, render_catch_up, run_catch_up
from benchmarks.harness import (
    API_KEY,
    RATE_WINDOW_S,
    Simulator,
    SweepResult,
    phase_line,
    run_ours,
)
from benchmarks.workload import (
    LOOKBACK_MINUTES,
    Size,
    build_workload,
    floor_parts,
    without_limits,
)

# Qlik Cloud's limits per minute, as SPEC section 2 states them; audits count as tier 1 reads.
TIER_LIMITS: dict[str, int] = {"tier1": 1000, "tier2": 100, "reload_start": 50}
MAX_FLOOR_RATIO = 1.2  # issue 6: within 1.2x of the floor at every size
DEFAULT_SIZES = "200/50/20,2000/500/200,20000/2000/500"
DEFAULT_JSON = Path("benchmarks/results/bench.json")


# --- tiers ------------------------------------------------------------------------------------


def tier_of(call: str) -> str:
    """The tier of a ``METHOD /path`` call: GETs (audits included) are tier 1."""
    method, _, path = call.partition(" ")
    if method == "GET":
        return "tier1"
    return "reload_start" if path == "/api/v1/reloads" else "tier2"


def tier_seconds(calls: dict[str, int]) -> dict[str, int]:
    """Per tier, ``ceil(calls / limit-per-minute)`` minutes, in seconds.

    Each tier's calls need at least that many minutes of its budget (the limits are per
    minute); tiers are independent, so the slowest tier bounds the whole run.
    """
    per_tier = dict.fromkeys(TIER_LIMITS, 0)
    for call, count in calls.items():
        per_tier[tier_of(call)] += count
    return {tier: math.ceil(n / TIER_LIMITS[tier]) * 60 for tier, n in per_tier.items()}


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


# --- output -----------------------------------------------------------------------------------


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1_000_000:.1f} MB"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def render(result: SizeResult) -> str:
    """The table of one size."""
    ours, base = result.ours, result.baseline
    size = result.size
    head = (
        f"\n== {size.events:,} events from {size.sources:,} sources naming "
        f"{size.successors:,} successors (each source names {result.fanout}) =="
    )
    endpoints = sorted(set(ours.api_calls) | set(base.api_calls))
    width = max(len(e) for e in [*endpoints, "wall time (tracemalloc on)"]) + 2
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
            "time under real tier limits",
            _duration(max(ours_tiers.values())),
            _duration(max(base_tiers.values())),
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


def document(
    results: Sequence[SizeResult], catch_up: CatchUpResult | None, args: argparse.Namespace
) -> dict[str, Any]:
    """Everything, for the JSON file."""
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench " + " ".join(sys.argv[1:]),
        "latency_ms": args.latency_ms,
        "fanout": args.fanout,
        "baseline_workers": args.workers,
        "seed": args.seed,
        "tier_limits_per_minute": TIER_LIMITS,
        "simulated_rate_window_s": RATE_WINDOW_S,
        "notes": {
            "simulator": "ours runs against Qlik's tier limits per simulated_rate_window_s "
            "(60x faster than real time), enforced with 429s and paced by the sweep's own "
            "limiter; the baseline's simulator has no limits (it does not pace itself)",
            "ours.wall_s": "run_sweep only, tracemalloc tracing on (adds some CPU time)",
            "ours.tracemalloc_peak_bytes": "peak of Python allocations during run_sweep",
            "ours.ru_maxrss_bytes": "max RSS of the sweep's own process, interpreter included",
            "tier_seconds": "per tier ceil(calls / limit per minute) minutes; GETs incl. audits "
            "are tier 1 (1000/min), other writes tier 2 (100/min), POST reloads 50/min",
            "recent_reloads": "reloads created since the oldest source reload ended: what the "
            "tenant-wide reload listing must page through",
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "sizes": [result.as_json() for result in results],
        "catch_up": catch_up.as_json() if catch_up else None,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"comma-separated events/sources/successors (default {DEFAULT_SIZES})",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="simulator latency per answer"
    )
    parser.add_argument(
        "--fanout", type=int, default=1, help="successors named by each source (default 1)"
    )
    parser.add_argument(
        "--workers", type=int, default=32, help="baseline worker threads (default 32)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--catch-up",
        default=DEFAULT_CATCH_UP.label,
        metavar="SIZE",
        help=f"the 90-day catch-up's events/sources/successors, or 0 for none "
        f"(default {DEFAULT_CATCH_UP.label})",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    args.size_list = [Size.parse(text) for text in args.sizes.split(",") if text.strip()]
    args.catch_up_size = None if args.catch_up == "0" else Size.parse(args.catch_up)
    return args


def main(argv: Sequence[str] | None = None, out: Any = sys.stdout) -> int:
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    began = time.monotonic()
    results = []
    for size in args.size_list:
        result = run_size(
            size,
            latency_ms=args.latency_ms,
            fanout=args.fanout,
            workers=args.workers,
            seed=args.seed,
            out=out,
        )
        print(render(result), file=out, flush=True)
        results.append(result)
    catch_up = None
    if args.catch_up_size is not None:
        print(f"catch-up {args.catch_up_size.label} over 90 days ...", file=out, flush=True)
        catch_up = run_catch_up(args.catch_up_size, latency_ms=args.latency_ms)
        print(render_catch_up(catch_up), file=out, flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = document(results, catch_up, args)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json} in {time.monotonic() - began:.0f} s", file=out)
    return _verdict(results, catch_up, out)


def _verdict(results: Sequence[SizeResult], catch_up: CatchUpResult | None, out: Any) -> int:
    """1 if a bound the project promises was missed at any size, else 0."""
    missed = [
        f"{r.size.label}: ours / floor {r.ours_total / r.floor_total:.2f}x > {MAX_FLOOR_RATIO}x"
        for r in results
        if r.ours_total > MAX_FLOOR_RATIO * r.floor_total
    ]
    missed += [
        f"{r.size.label}: provoked 429s" for r in results if r.simulator["ours"].get("rate_limited")
    ]
    if catch_up is not None:
        missed += catch_up.missed_bounds(MAX_FLOOR_RATIO)
    for line in missed:
        print(f"BOUND MISSED {line}", file=out)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

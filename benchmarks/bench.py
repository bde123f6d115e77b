"""`make bench`: API calls of a real sweep against the simulator, beside the floor and a baseline.

For each size (events from sources naming successors) it builds one scenario and runs:

* **ours**: the real ``run_sweep`` (built as the CLI builds it) once, in a fresh process, against
  a fresh simulator with a fresh database; its API calls by endpoint, wall time and peak memory;
* **baseline**: the Automate template's per-event algorithm (``benchmarks.baseline``) against
  another fresh simulator serving the same scenario;
* **floor**: ``ceil(events/100) + ceil(sources/100) + ceil(successors/100)
  + the tight floor of the reload lookups + reloads started``, the reload lookups being the
  cheapest way to read each successor's reloads back to its own horizon
  (``benchmarks.floor``): a floor no correct sweep can beat;
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
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loguru import logger

from benchmarks.baseline import run_baseline
from benchmarks.catchup import DEFAULT_SIZE as DEFAULT_CATCH_UP
from benchmarks.catchup import CatchUpResult, render_catch_up, run_catch_up
from benchmarks.harness import (
    API_KEY,
    RATE_WINDOW_S,
    Simulator,
    run_ours,
)
from benchmarks.report import TIER_LIMITS, SizeResult, render
from benchmarks.workload import (
    LOOKBACK_MINUTES,
    Size,
    build_workload,
    floor_parts,
    without_limits,
)

MAX_FLOOR_RATIO = 1.2  # issue 6: within 1.2x of the floor at every size
DEFAULT_SIZES = "200/50/20,2000/500/200,20000/2000/500"
DEFAULT_JSON = Path("benchmarks/results/bench.json")


# --- one size ---------------------------------------------------------------------------------


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


# --- the JSON file and the command line -------------------------------------------------------


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
            "recent_reloads": "reloads the tenant-wide listing alone reads back to the horizon "
            "of its deepest successor, min(now - tolerance, newest end of its sources): "
            "benchmarks.floor",
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

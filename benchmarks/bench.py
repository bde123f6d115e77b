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
* **tier time**: how long the same calls wait at least under Qlik Cloud's 5-minute budgets.

Sizes are ``events/sources/successors``: 200/50/20, 2,000/500/200 and 20,000/2,000/500 by
default, each source naming one successor (``--fanout``), so each successor is named by 2.5 to
4 sources. The baseline costs 1 + 3 x fanout calls per event; it is really run, on 32 worker
threads (``--workers``): Automate runs one automation per event, concurrently.

The simulator runs in its own process (so its work neither shares our GIL nor shows in our
memory), with a latency per answer (``--latency-ms``, default 50). For our sweep it enforces
Qlik's 5-minute budgets on a clock 60 times faster (a 5-second window), answering 429 past
them, while the sweep's own limiter paces it under them, scaled alike: every size shows the
429s our sweep provoked (none). The baseline does not pace itself, so its simulator has no
limits. The time both would wait under the real budgets is worked out by ``tier_seconds``.

Then a catch-up through 100,000 events over 90 days with its peak memory
(``benchmarks.catchup``, on the same faster clock), and, on Qlik's real clock: a fan-out of
200 successors eligible at once (``benchmarks.fanout``); two back-to-back ``reload-chain
sweep`` processes and a third 5 minutes later (``benchmarks.backtoback``); and, while that
third sweep waits, chains under ``reload-chain run`` at 0.25, 0.5 and 2 minutes
(``benchmarks.hops``).
The run exits 1 if a bound is missed: more than 1.05x the floor, any 429 provoked, a catch-up
over 150 MB, a fan-out start later than 15 s after the decisions, a successor started twice
or never, a median hop over 20 s or an idle sweep costing more than one call at 0.25 minutes.

    python -m benchmarks.bench                      # what `make bench` runs
    python -m benchmarks.bench --sizes 200/50/20 --latency-ms 0
    python -m benchmarks.bench --sizes '' --catch-up 0 --back-to-back 0 --hops none  # fan-out
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loguru import logger

from benchmarks.backtoback import DEFAULT_PER_SWEEP as BACK_TO_BACK_PER_SWEEP
from benchmarks.backtoback import render_back_to_back, run_back_to_back
from benchmarks.catchup import DEFAULT_SIZE as DEFAULT_CATCH_UP
from benchmarks.catchup import render_catch_up, run_catch_up
from benchmarks.document import Results, document
from benchmarks.fanout import DEFAULT_SUCCESSORS as FAN_OUT_SUCCESSORS
from benchmarks.fanout import render_fan_out, run_fan_out
from benchmarks.hops import DEFAULT_PLAN as HOP_PLAN
from benchmarks.hops import HopRun, parse_plan, render_hops, run_hop_plan
from benchmarks.report import render
from benchmarks.sizes import run_size
from benchmarks.workload import Size

DEFAULT_SIZES = "200/50/20,2000/500/200,20000/2000/500"
DEFAULT_JSON = Path("benchmarks/results/bench.json")


# --- the parts over time, and the command line ------------------------------------------------


def run_over_time(args: argparse.Namespace, results: Results, out: Any) -> None:
    """Back to back, and the hop-latency runs while its third sweep waits out Qlik's window."""

    def hop_latency() -> list[HopRun]:
        if not args.hop_plan:
            return []
        plan = ", ".join(f"{hops} hops at {minutes:g} min" for minutes, hops in args.hop_plan)
        together = ", at the same time" if len(args.hop_plan) > 1 else ""
        print(f"hop latency ({plan}){together} ...", file=out, flush=True)
        runs = run_hop_plan(args.hop_plan, latency_ms=args.latency_ms)
        print(render_hops(runs), file=out, flush=True)
        return runs

    if not args.back_to_back:
        results.hops = hop_latency()
        return
    print(
        f"back to back: two sweeps of {args.back_to_back} starts each; the third once the "
        "first one's starts are 5 minutes old ...",
        file=out,
        flush=True,
    )
    results.back_to_back, results.hops = run_back_to_back(
        args.back_to_back, latency_ms=args.latency_ms, meanwhile=hop_latency
    )
    print(render_back_to_back(results.back_to_back), file=out, flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with the sizes and the hop plan parsed."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description=__doc__.split("\n")[0]
    )
    _add_size_options(parser)
    _add_part_options(parser)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    args.size_list = [Size.parse(text) for text in args.sizes.split(",") if text.strip()]
    args.catch_up_size = None if args.catch_up == "0" else Size.parse(args.catch_up)
    try:
        args.hop_plan = parse_plan(args.hops)
    except ValueError as error:
        parser.error(str(error))
    return args


def _add_size_options(parser: argparse.ArgumentParser) -> None:
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


def _add_part_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catch-up",
        default=DEFAULT_CATCH_UP.label,
        metavar="SIZE",
        help=f"the 90-day catch-up's events/sources/successors, or 0 for none "
        f"(default {DEFAULT_CATCH_UP.label})",
    )
    parser.add_argument(
        "--fan-out",
        type=int,
        default=FAN_OUT_SUCCESSORS,
        metavar="N",
        help=f"successors eligible at once in one sweep, 0 for none (default {FAN_OUT_SUCCESSORS})",
    )
    parser.add_argument(
        "--back-to-back",
        type=int,
        default=BACK_TO_BACK_PER_SWEEP,
        metavar="N",
        help=f"starts eligible in each of two back-to-back sweeps, 0 for none "
        f"(default {BACK_TO_BACK_PER_SWEEP})",
    )
    parser.add_argument(
        "--hops",
        default=HOP_PLAN,
        metavar="PLAN",
        help=f"interval-minutes:hops of the chains under `reload-chain run`, or none "
        f"(default {HOP_PLAN})",
    )


def run_one_sweep_parts(args: argparse.Namespace, results: Results, out: Any) -> None:
    """The sizes, the catch-up and the fan-out: one sweep each, one after another."""
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
        results.sizes.append(result)
    if args.catch_up_size is not None:
        print(f"catch-up {args.catch_up_size.label} over 90 days ...", file=out, flush=True)
        results.catch_up = run_catch_up(args.catch_up_size, latency_ms=args.latency_ms)
        print(render_catch_up(results.catch_up), file=out, flush=True)
    if args.fan_out:
        print(f"fan-out: {args.fan_out} successors at once ...", file=out, flush=True)
        results.fan_out = run_fan_out(args.fan_out, latency_ms=args.latency_ms, seed=args.seed)
        print(render_fan_out(results.fan_out), file=out, flush=True)


def main(argv: Sequence[str] | None = None, out: Any = sys.stdout) -> int:
    """Run every part, print its table, write the JSON file; 1 if a bound was missed."""
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    began = time.monotonic()
    results = Results()
    run_one_sweep_parts(args, results, out)
    run_over_time(args, results, out)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = document(results, args)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json} in {time.monotonic() - began:.0f} s", file=out)
    missed = results.missed_bounds()
    for line in missed:
        print(f"BOUND MISSED {line}", file=out)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

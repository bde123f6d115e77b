"""Fault injection against the simulator: nothing lost, nothing started twice, under any fault.

Each run builds a random tenant, then sweeps it through faults: sweeps killed with SIGKILL at
random instants, 5xx answers and dropped connections (before the tenant acts, or after: the
reload started and its answer lost), 429s, duplicate and late events. Some runs add (see
``tests/chaos_tenant.py``): failed settling checks, chains of up to four hops, events minutes
late, two sweepers with the lock file deleted, the database emptied or an older copy restored,
an event stamped 2099, an API key ending in CR/LF, alerts sent to a local receiver that
refuses its first few (``tests/chaos_alerts.py``). Then the faults stop (but for answers lost
on hop starts, and the settling checks of those) and clean sweeps run until nothing is left.
The simulator's reload log must show every expected successor (every hop included) started
exactly once and nothing else; a CR/LF key must exit 2 and show up in no output, log or
database; every reload reload-chain started that failed must be alerted on exactly once.

Half the runs are "strict": tolerance 0, successors whose reloads often fail (so neither the
storm guard nor "fresh" can hide a second start) and each successor named by one source reload.
There, only the ledger stands between a killed sweep and a duplicate start.

    python -m tests.chaos --runs 500 --workers 4      # what `make soak` runs
    python -m tests.chaos --only two_sweepers,hops     # only these features, in every run
    python -m tests.chaos --only none                  # the soak as it was before issue 11
    python -m tests.chaos --only alerts                # issue 14: kills, 5xx and alerts only
    python -m tests.chaos --only alert_kills           # a kill right after an alert's 200
    python -m tests.chaos --plant blind-post-retry     # a planted bug: it must be caught
    python -m tests.chaos --report-plants --runs 100   # the planted-bug table (markdown)
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import random
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from loguru import logger

from tests.chaos_plants import PLANT_FEATURES, PLANTS, plant_ready
from tests.chaos_report import PLANT_TABLE_HEAD, RunResult, harm, plant_row, summarize
from tests.chaos_run import Run, make_plan
from tests.chaos_tenant import DEFAULT_MIX, FEATURES, build_tenant, pick_features

__all__ = ["RunResult", "main", "run_once", "summarize"]


def run_once(seed: int, mix: dict[str, float] | None = None, plant: str | None = None) -> RunResult:
    """One randomized run; the result says what was lost or duplicated (nothing, we hope)."""
    rng = random.Random(seed)
    strict = seed % 2 == 0
    later = random.Random(f"later-{seed}")  # draws for features added since (see pick_features)
    features = pick_features(rng, DEFAULT_MIX if mix is None else mix, later)
    tenant = build_tenant(rng, strict, features)
    plan = make_plan(rng, features)
    result = RunResult(seed, strict, len(tenant.expected), sorted(features), plant or "")
    with tempfile.TemporaryDirectory(prefix="chaos-") as folder:
        Run(tenant, plan, Path(folder), plant).play(result)
    return result


def run_many(
    seeds: range, workers: int, mix: dict[str, float] | None, plant: str | None
) -> list[RunResult]:
    """Runs in parallel: they mostly wait (latency, kill timers), so workers may exceed cores."""
    one = functools.partial(run_once, mix=mix, plant=plant)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(one, seeds, chunksize=1)


def parse_mix(only: str | None) -> dict[str, float] | None:
    """``--only a,b``: those features in every run, no other; ``none``: the soak before issue 11."""
    if only is None:
        return None
    names = [name for name in only.split(",") if name and name != "none"]
    unknown = set(names) - set(FEATURES)
    if unknown:
        raise SystemExit(f"unknown feature(s) {sorted(unknown)}; known: {', '.join(FEATURES)}")
    return dict.fromkeys(names, 1.0)


def soak(args: argparse.Namespace) -> int:
    """Run the soak; exit 1 if any run failed (with ``--plant``: exit 0 only if it was caught)."""
    started = time.monotonic()
    seeds = range(args.first_seed, args.first_seed + (args.runs or 500))
    results = run_many(seeds, args.workers, parse_mix(args.only), args.plant)
    totals = summarize(results, time.monotonic() - started)
    if args.plant:
        totals["plant"] = args.plant
    text = json.dumps(totals, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    for result in results:
        if not result.ok:
            print(json.dumps(asdict(result)), file=sys.stderr)
    if args.plant:
        return 0 if any(harm(results)) else 1
    return 0 if not totals["failed_seeds"] else 1


def report_plants(args: argparse.Namespace) -> int:
    """Each plant beside a baseline over the same seeds, as markdown; exit 1 if one escaped.

    Caught: more lost or duplicated starts, or more lost, duplicated or unexpected alerts, than
    the baseline with the same features.
    """
    seeds = range(args.first_seed, args.first_seed + (args.runs or 100))
    rows, escaped = [PLANT_TABLE_HEAD], False
    baselines: dict[tuple[str, ...], list[RunResult]] = {}
    for plant in PLANTS:
        names = tuple(parse_mix(args.only) or PLANT_FEATURES[plant])
        mix = dict.fromkeys(names, 1.0)
        shown = ", ".join(sorted(pick_features(random.Random(0), mix)))
        if not plant_ready(plant):
            rows.append(plant_row(plant, shown, None))
            continue
        if names not in baselines:
            baselines[names] = run_many(seeds, args.workers, mix, None)
            rows.append(plant_row("none", shown, baselines[names]))
        results = run_many(seeds, args.workers, mix, plant)
        caught = _worse(results, baselines[names])
        rows.append(plant_row(plant, shown, results, caught))
        escaped = escaped or not caught
        print("\n".join(rows[-2:]), file=sys.stderr, flush=True)  # progress
    table = "\n".join(rows)
    print(table)
    if args.json:
        args.json.write_text(table + "\n", encoding="utf-8")
    return 1 if escaped else 0


def _worse(results: list[RunResult], baseline: list[RunResult]) -> bool:
    return any(n > base for n, base in zip(harm(results), harm(baseline), strict=True))


def main(argv: list[str] | None = None) -> int:
    """Run the soak, one planted bug, or the planted-bug report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs (default 500; 100 per plant to report)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the totals (or the table) here")
    parser.add_argument("--only", metavar="F,F", help=f"features: {', '.join(FEATURES)}, none")
    parser.add_argument("--plant", choices=sorted(PLANTS), help="plant this bug in every sweep")
    parser.add_argument("--report-plants", action="store_true", help="the planted-bug table")
    args = parser.parse_args(argv)
    if args.plant and not plant_ready(args.plant):
        parser.error(f"plant {args.plant} is not written yet (see tests/chaos_plants.py)")
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    return report_plants(args) if args.report_plants else soak(args)


if __name__ == "__main__":
    sys.exit(main())

"""The fast subset of the fault-injection soak (`make soak` runs 500): nothing lost or doubled."""

from __future__ import annotations

import multiprocessing

from tests.chaos import run_once, summarize

FAST_RUNS = 16


def test_randomized_faulty_runs_lose_nothing_and_start_nothing_twice() -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(run_once, range(1000, 1000 + FAST_RUNS), chunksize=1)
    totals = summarize(results, 0.0)
    failures = [(r.seed, r.lost, r.duplicated, r.unexpected) for r in results if not r.ok]
    assert failures == []
    assert totals["expected_starts"] > FAST_RUNS  # the runs really expected something
    assert totals["sweeps_killed_mid_run"] > 0  # and some sweeps really died mid-run

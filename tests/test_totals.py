"""The totals pruning folds: counters by name, chain-run durations as histogram buckets."""

from __future__ import annotations

import math

from state.database import open_database
from state.totals import (
    DURATION_BUCKETS_S,
    FoldedDurations,
    add_totals,
    bucket_of,
    durations_folded,
    read_totals,
)


def test_a_duration_falls_in_the_first_bucket_at_least_as_large() -> None:
    assert bucket_of(0) == bucket_of(30) == 0
    assert bucket_of(30.001) == 1
    assert bucket_of(86400) == len(DURATION_BUCKETS_S) - 1
    assert bucket_of(86401) == len(DURATION_BUCKETS_S)
    assert bucket_of(math.inf) == -1  # +Inf


def test_folded_durations_read_back_as_the_same_histogram() -> None:
    db = open_database(":memory:")
    pruned, kept = [270.0, 30.0, 100_000.0], [45.0, 270.0]
    with db.atomic():
        add_totals(db, durations_folded(pruned[:2]))
        add_totals(db, durations_folded(pruned[2:]))  # added to, not replaced

    folded = read_totals(db).durations()

    assert folded.histogram(kept) == FoldedDurations().histogram(pruned + kept)
    buckets, total = folded.histogram(kept)
    assert (buckets[0], buckets[3], buckets[-1], total) == (
        ("30.0", 1),
        ("300.0", 4),
        ("+Inf", 5),
        100_615.0,
    )


def test_counters_are_read_by_name_and_prefix() -> None:
    db = open_database(":memory:")
    with db.atomic():
        add_totals(db, [("sweeps:0", 3), ("sweeps:1", 1), ("api_calls:GET /a:b", 2)])
        add_totals(db, [("sweeps:0", 2), ("reloads_started", 7), ("rate_limited", 0)])

    totals = read_totals(db)

    assert totals.counts("sweeps") == {"0": 5, "1": 1}
    assert totals.counts("api_calls") == {"GET /a:b": 2}
    assert (totals.count("reloads_started"), totals.count("rate_limited")) == (7, 0)

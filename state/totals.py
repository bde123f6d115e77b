"""The ``totals`` table: what pruning deleted, kept as the counts the metrics file adds back.

The metrics file's counters are recomputed from the database after every sweep, so a row
pruned (``state.retention``) would make a counter go down, which Prometheus reads as a reset.
Before a row is deleted, what it counted is added here, in the same transaction; the reads
(``state.metrics_reads``) add these totals to what the remaining rows count. Names:

- ``sweeps:<exit code>``, ``rate_limited``, ``decisions:<reason>``, ``api_calls:<endpoint>``
  (the sweep records pruned);
- ``reloads_started``, ``reload_outcomes:<outcome>`` (started reloads whose ledger rows went);
- ``chain_run_durations:<i>`` (finished chain runs pruned, per bucket of ``DURATION_BUCKETS_S``,
  the last one +Inf; not cumulative) and ``chain_run_durations:sum`` (their seconds).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

# Chain runs take from under a minute (one quick hop) to a night (a long chain of big apps).
DURATION_BUCKETS_S = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400)
SWEEPS = "sweeps"
RATE_LIMITED = "rate_limited"
DECISIONS = "decisions"
API_CALLS = "api_calls"
RELOADS_STARTED = "reloads_started"
RELOAD_OUTCOMES = "reload_outcomes"
DURATIONS = "chain_run_durations"
_ADD = "on conflict (name) do update set value = totals.value + excluded.value"


@dataclass(frozen=True)
class FoldedDurations:
    """Chain runs pruned: how many fell in each bucket (the last is +Inf), and their seconds."""

    counts: tuple[int, ...] = (0,) * (len(DURATION_BUCKETS_S) + 1)
    sum_s: float = 0.0

    def histogram(self, kept: Iterable[float]) -> tuple[list[tuple[str, int]], float]:
        """Prometheus' cumulative buckets (``"30.0"`` ... ``"+Inf"``) and sum, of these pruned
        runs and the ``kept`` durations together."""
        counts, total = list(self.counts), self.sum_s
        for seconds in kept:
            counts[bucket_of(seconds)] += 1
            total += seconds
        labels = [str(float(bound)) for bound in DURATION_BUCKETS_S] + ["+Inf"]
        running, buckets = 0, []
        for label, count in zip(labels, counts, strict=True):
            running += count
            buckets.append((label, running))
        return buckets, total


@dataclass(frozen=True)
class Totals:
    """The ``totals`` rows, by name."""

    values: Mapping[str, float] = field(default_factory=dict)

    def count(self, name: str) -> int:
        """One counter's folded value (0 when nothing was folded)."""
        return round(self.values.get(name, 0))

    def counts(self, prefix: str) -> dict[str, int]:
        """The counters named ``<prefix>:<key>``, by key."""
        start = f"{prefix}:"
        return {
            name[len(start) :]: round(value)
            for name, value in self.values.items()
            if name.startswith(start)
        }

    def durations(self) -> FoldedDurations:
        """The chain runs folded, as buckets and a sum."""
        folded = self.counts(DURATIONS)
        size = len(DURATION_BUCKETS_S) + 1
        counts = tuple(folded.get(str(index), 0) for index in range(size))
        return FoldedDurations(counts, self.values.get(f"{DURATIONS}:sum", 0.0))


def bucket_of(seconds: float) -> int:
    """The index of the first bucket whose bound is at least ``seconds`` (the last: +Inf)."""
    return bisect.bisect_left(DURATION_BUCKETS_S, seconds) if math.isfinite(seconds) else -1


def read_totals(db: Database) -> Totals:
    """Every total; none before the table exists (a database not yet migrated)."""
    if not db.table("totals").exists():
        return Totals()
    return Totals(dict(db.execute("select name, value from totals").fetchall()))


def add_totals(db: Database, values: Iterable[tuple[str, float]]) -> None:
    """Add each (name, value) to its total, inside the caller's transaction."""
    db.conn.executemany(
        f"insert into totals (name, value) values (?, ?) {_ADD}",
        [(name, value) for name, value in values if value],
    )


def add_selected(db: Database, select: str, params: Iterable[Any] = ()) -> None:
    """Add the (name, value) rows of ``select`` (which must have a ``where``) to the totals."""
    db.execute(f"insert into totals (name, value) {select} {_ADD}", list(params))


def durations_folded(durations: Iterable[float]) -> list[tuple[str, float]]:
    """The totals that ``durations`` (seconds of chain runs being pruned) add."""
    values = list(durations)
    size = len(DURATION_BUCKETS_S) + 1
    counts = [0] * size
    for seconds in values:
        counts[bucket_of(seconds) % size] += 1
    folded = [(f"{DURATIONS}:{index}", float(count)) for index, count in enumerate(counts)]
    return [*folded, (f"{DURATIONS}:sum", float(sum(values)))]

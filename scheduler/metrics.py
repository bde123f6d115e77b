"""The metrics file (``metrics_file``): Prometheus text format, rewritten after each sweep.

For node_exporter's and windows_exporter's textfile collectors (name the file ``*.prom``).
Every number comes from the state database, so counters keep counting across one-shot
``sweep`` processes. prometheus-client writes a temporary file beside it and renames it over
the old one: a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

from loguru import logger
from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlite_utils import Database

from scheduler.settings import Settings
from state.metrics_reads import MetricsSnapshot, metrics_snapshot

PREFIX = "reload_chain"
# Chain runs take from under a minute (one quick hop) to a night (a long chain of big apps).
# Always present, at 0 when none happened yet, so rate() works from the first scrape.
EXIT_CODES = (0, 1, 2, 3)
OUTCOMES = ("succeeded", "failed", "canceled")


def after_sweep(db: Database, settings: Settings) -> None:
    """Rewrite ``settings.metrics_file`` if set; a failure is one WARNING, never the sweep's."""
    path = settings.metrics_file
    if path is None:
        return
    try:
        write_metrics(db, path, str(settings.database))
    except Exception as error:  # the metrics file must never change a sweep's exit code
        logger.warning("metrics file {} not written: {}: {}", path, type(error).__name__, error)


def write_metrics(db: Database, path: Path, where: str = "state database") -> None:
    """Read the totals from ``db`` and replace ``path`` with them, atomically."""
    registry = build_registry(metrics_snapshot(db, where))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


def build_registry(snapshot: MetricsSnapshot) -> CollectorRegistry:
    """A private registry holding ``snapshot`` alone (never the process's default one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return registry


class SnapshotCollector(Collector):
    """The metric families of one snapshot, as they are: counters here are totals, not deltas."""

    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        """Every family of the metrics file."""
        yield from _sweep_families(self.snapshot)
        yield from _reload_families(self.snapshot)


def _sweep_families(s: MetricsSnapshot) -> Iterator[Metric]:
    """What the sweeps did: how they ended, when, what they decided, what they asked."""
    by_code = {str(code): count for code, count in s.sweeps_by_exit_code.items()}
    codes = _with_zeros(by_code, (str(code) for code in EXIT_CODES))
    yield _labelled("sweeps", "Sweeps recorded, by exit code.", "exit_code", codes)
    yield _gauge("last_sweep_timestamp_seconds", "When the newest sweep ended.", s.last_sweep_at)
    yield _gauge(
        "last_success_timestamp_seconds",
        "When the newest sweep with exit code 0 ended.",
        s.last_success_at,
    )
    reasons = s.decisions_by_reason
    yield _labelled("decisions", "Sweep decisions on successors, by reason.", "reason", reasons)
    yield _labelled("api_calls", "Qlik Cloud API calls of sweeps.", "endpoint", s.api_calls)
    yield _counter(
        "rate_limited",
        "429 answers sweeps received (rate limits, and starts of a reload already pending).",
        s.rate_limited,
    )


def _reload_families(s: MetricsSnapshot) -> Iterator[Metric]:
    """What became of the reloads reload-chain started, and how long chain runs took."""
    yield _counter("reloads_started", "Reloads reload-chain started.", s.reloads_started)
    yield _labelled(
        "reload_outcomes",
        "Reloads reload-chain started that were seen finished, by outcome.",
        "outcome",
        _with_zeros(s.reload_outcomes, OUTCOMES),
    )
    yield _histogram(*s.duration_histogram())


def _counter(name: str, documentation: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, value=value)


def _labelled(
    name: str, documentation: str, label: str, counts: Mapping[str, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=[label])
    for key, count in sorted(counts.items()):
        family.add_metric([key], count)
    return family


def _gauge(name: str, documentation: str, moment: datetime | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation)
    if moment is not None:  # none before the first such sweep: no sample, not a fake 0
        family.add_metric([], moment.timestamp())
    return family


def _histogram(buckets: list[tuple[str, int]], total_s: float) -> HistogramMetricFamily:
    # Pruned runs are folded into the totals (state.totals): the histogram never shrinks.
    return HistogramMetricFamily(
        f"{PREFIX}_chain_run_duration_seconds",
        "Finished chain runs: from the root reload's end to the end of the last reload it led to.",
        buckets=buckets,
        sum_value=total_s,
    )


def _with_zeros(counts: Mapping[str, int], keys: Iterable[str]) -> dict[str, int]:
    return dict.fromkeys(keys, 0) | dict(counts)

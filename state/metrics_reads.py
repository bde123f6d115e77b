"""Read-only snapshots for monitoring: the sweeps ``health`` judges, the totals of the metrics file.

Everything comes from the database, so the numbers outlive the process that swept: a Task
Scheduler ``sweep`` every few minutes adds to the totals of the ones before it. What pruning
deleted was folded into ``totals`` (``state.totals``) and is added back, so no counter goes down.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from qlik.times import parse_time
from state.database import StateError, state_errors
from state.totals import (
    API_CALLS,
    DECISIONS,
    RATE_LIMITED,
    RELOAD_OUTCOMES,
    RELOADS_STARTED,
    SWEEPS,
    FoldedDurations,
    Totals,
    read_totals,
)

# Exit codes of sweeps that did their work and failed (1: retried next sweep, 2: bad settings).
FAILED = (1, 2)
# Exit 3 (another sweep held the lock) counts neither way; neither does a record without a code.
LOCK_HELD = 3
RECENT = 3

_SWEEPS = "from sweeps where coalesce(dry_run, 0) = 0"
_MARK = f"select started_at, coalesce(finished_at, started_at), exit_code {_SWEEPS}"
_NEWEST = "order by started_at desc"  # served by the started_at index
_LAST_SUCCESS = f"(select started_at {_SWEEPS} and exit_code = 0 {_NEWEST} limit 1)"
_STARTED = "from ledger where decision = 'triggered' and reload_id is not null"
# A chain run is finished when it started something and nothing of it is still open: no start
# of unknown outcome, no started reload not yet seen finished.
_FINISHED_RUNS = """
select c.root_ended_at, max(l.ended_at)
from chain_runs c join ledger l on l.chain_run_id = c.run_id
where {runs}
group by c.run_id
having sum(l.decision = 'triggered') > 0
    and sum(l.state in ('intent', 'unconfirmed')) = 0
    and sum(l.decision = 'triggered' and (l.outcome is null or l.ended_at is null)) = 0
"""


@dataclass(frozen=True)
class SweepMark:
    """One recorded sweep: when it started and finished, and its exit code (None: unknown)."""

    started_at: datetime
    finished_at: datetime
    exit_code: int | None


@dataclass(frozen=True)
class SweepHistory:
    """The sweeps ``health`` looks at, as the database holds them."""

    newest: SweepMark | None = None  # whatever its exit code
    last_success: SweepMark | None = None  # the newest with exit 0
    recent: tuple[SweepMark, ...] = ()  # newest first, at most RECENT, lock-held ones left out
    failures_since_success: int = 0  # exit 1 or 2, newer than ``last_success``


@dataclass(frozen=True)
class MetricsSnapshot:
    """The totals of the metrics file, over every sweep and ledger row the database keeps."""

    sweeps_by_exit_code: dict[int, int]
    last_sweep_at: datetime | None
    last_success_at: datetime | None
    decisions_by_reason: dict[str, int]
    reloads_started: int
    reload_outcomes: dict[str, int]
    chain_run_durations_s: tuple[float, ...]  # of the chain runs still in the database
    api_calls: dict[str, int]
    rate_limited: int
    # The chain runs pruned, as histogram buckets: ``duration_histogram`` adds both.
    folded_durations: FoldedDurations = field(default_factory=FoldedDurations)

    def duration_histogram(self) -> tuple[list[tuple[str, int]], float]:
        """Every finished chain run's duration, pruned or not: cumulative buckets and sum."""
        return self.folded_durations.histogram(self.chain_run_durations_s)


def sweep_history(db: Database, where: str = "state database") -> SweepHistory:
    """The newest sweep, the newest successful one, the last counted ones, failures since."""
    counted = f"and exit_code is not null and exit_code != {LOCK_HELD}"
    failures = f"and exit_code in {FAILED} and started_at > coalesce({_LAST_SUCCESS}, '')"
    with _reading(db, where):
        newest = _marks(db, f"{_MARK} {_NEWEST} limit 1")
        success = _marks(db, f"{_MARK} and exit_code = 0 {_NEWEST} limit 1")
        recent = _marks(db, f"{_MARK} {counted} {_NEWEST} limit {RECENT}")
        failed = _scalar(db, f"select count(*) {_SWEEPS} {failures}")
    return SweepHistory(
        newest=newest[0] if newest else None,
        last_success=success[0] if success else None,
        recent=tuple(recent),
        failures_since_success=failed,
    )


def metrics_snapshot(db: Database, where: str = "state database") -> MetricsSnapshot:
    """Every total of the metrics file, read in one transaction so they agree with each other."""
    with _reading(db, where):
        by_code = f"select exit_code, count(*), sum(rate_limited) {_SWEEPS} group by 1"
        rows = db.execute(by_code).fetchall()
        newest = _marks(db, f"{_MARK} {_NEWEST} limit 1")
        success = _marks(db, f"{_MARK} and exit_code = 0 {_NEWEST} limit 1")
        outcomes = f"select outcome, count(distinct reload_id) {_STARTED} group by 1"
        folded = read_totals(db)
        by_exit_code = {str(code): count for code, count, _ in rows if code is not None}
        return MetricsSnapshot(
            sweeps_by_exit_code=_exit_codes(_plus(by_exit_code, folded, SWEEPS)),
            last_sweep_at=newest[0].finished_at if newest else None,
            last_success_at=success[0].finished_at if success else None,
            decisions_by_reason=_plus(_json_sums(db, "decisions"), folded, DECISIONS),
            reloads_started=_scalar(db, f"select count(distinct reload_id) {_STARTED}")
            + folded.count(RELOADS_STARTED),
            reload_outcomes=_plus(_counts(db, outcomes), folded, RELOAD_OUTCOMES),
            chain_run_durations_s=tuple(finished_run_durations(db)),
            api_calls=_plus(_json_sums(db, "api_calls"), folded, API_CALLS),
            rate_limited=sum(limited or 0 for _, _, limited in rows) + folded.count(RATE_LIMITED),
            folded_durations=folded.durations(),
        )


@contextmanager
def _reading(db: Database, where: str) -> Iterator[None]:
    """One read transaction, sqlite errors and unreadable stored times as ``StateError``."""
    with state_errors(where), _read_transaction(db):
        try:
            yield
        except ValueError as error:  # a time the program did not write (parse_time's error)
            raise StateError(f"state database {where}: {error}") from None


def _marks(db: Database, sql: str) -> list[SweepMark]:
    return [
        SweepMark(parse_time(started), parse_time(finished), code)
        for started, finished, code in db.execute(sql).fetchall()
    ]


def _counts(db: Database, sql: str) -> dict[Any, int]:
    """Rows of (key, count), keys that are NULL left out."""
    return {key: count for key, count in db.execute(sql).fetchall() if key is not None}


def _scalar(db: Database, sql: str) -> int:
    (value,) = db.execute(sql).fetchone()
    return int(value or 0)


def json_sums_sql(column: str, sweeps: str = "1") -> str:
    """(key, sum) over the sweeps counted (``sweeps``: a condition on ``s``) of a JSON object
    column such as ``{"reason": 2}``; ``state.retention`` folds the pruned ones with it."""
    return (
        f"select j.key as name, sum(j.value) as total from sweeps s, json_each(s.{column}) j "
        f"where coalesce(s.dry_run, 0) = 0 and json_valid(s.{column}) "
        f"and json_type(s.{column}) = 'object' and j.type = 'integer' and {sweeps} group by j.key"
    )


def _json_sums(db: Database, column: str) -> dict[str, int]:
    """Per key, the sum over every sweep of a JSON object column such as ``{"reason": 2}``."""
    return {key: int(total) for key, total in db.execute(json_sums_sql(column)).fetchall()}


def finished_run_durations(db: Database, runs: str = "1") -> Iterator[float]:
    """Seconds from each finished chain run's root reload end to its last reload's end.

    ``runs``: a condition on the chain run ``c`` (``state.retention`` folds the pruned ones).
    """
    for root_ended, last_ended in db.execute(_FINISHED_RUNS.format(runs=runs)).fetchall():
        if root_ended and last_ended:
            seconds = (parse_time(last_ended) - parse_time(root_ended)).total_seconds()
            yield max(0.0, seconds)


def _plus(counts: dict[str, int], folded: Totals, prefix: str) -> dict[str, int]:
    """``counts`` with the totals folded under ``prefix`` added."""
    merged = dict(counts)
    for key, value in folded.counts(prefix).items():
        merged[key] = merged.get(key, 0) + value
    return merged


def _exit_codes(counts: dict[str, int]) -> dict[int, int]:
    return {int(code): count for code, count in counts.items()}


@contextmanager
def _read_transaction(db: Database) -> Iterator[None]:
    """One read transaction (unless inside one already): every query sees the same state."""
    if db.conn.in_transaction:
        yield
        return
    db.conn.execute("BEGIN")
    try:
        yield
    finally:
        db.conn.execute("COMMIT")

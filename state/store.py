"""Writes of sweep state: intents, their resolution, the lease, and each sweep's commit.

Every write is an upsert on the table's primary key, so committing the same sweep twice
changes nothing. ``commit_sweep`` writes everything a sweep learned in one transaction.
The reads are ``StoreReads`` (``state.reads``); sqlite errors of every public method are
mapped to ``StateError`` once, by ``StateAccess`` (``state.access``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from qlik.times import format_time
from state import lease
from state.access import DB_NOW
from state.lease import Fence
from state.native_tasks import NativeTaskStore
from state.reads import AUDIT_CURSOR, HIGH_WATER, LATE_CHECK, RECOVERY, StoreReads
from state.retention import RetentionPolicy, prune
from state.rows import LedgerRow, Started, SweepCommit
from state.vacuum import vacuum_daily

__all__ = [
    "AUDIT_CURSOR",
    "HIGH_WATER",
    "LATE_CHECK",
    "RAW_TEXT_LIMIT",
    "RECOVERY",
    "LedgerRow",
    "Started",
    "Store",
    "SweepCommit",
]

RAW_TEXT_LIMIT = 20_000  # characters of an invalid event kept for inspection
SETTLED_PK = ("source_reload_id", "target_app_id")
LEDGER_PK = ("sweep_id", "app_id")


class Store(StoreReads):
    """The program's view of its SQLite database: the reads of ``StoreReads``, and the writes."""

    # What each sweep's commit prunes (``state.retention``): the runtime sets the settings'.
    retention = RetentionPolicy()

    def resolve_intent(self, row: LedgerRow, settled: list[dict[str, Any]], now: datetime) -> None:
        """Record what became of an intent, and the edges it settled, in one transaction.

        A start settled late may have finished already, its event handled by an earlier sweep:
        the sweep judges it then (``StoreReads.settled_without_outcome``).
        """
        with self.db.atomic():
            self.db.table("ledger").upsert(self._ledger_record(row, now), pk=LEDGER_PK)
            self._upsert("settled_edges", settled, SETTLED_PK)

    def record_intent(self, row: LedgerRow, now: datetime, fence: Fence | None = None) -> None:
        """Write a ledger row before its reload is requested (committed at once).

        With a ``fence``, the same transaction takes or keeps the sweep's lease and refuses a
        start another sweep already claimed (``LeaseLostError``): see ``state.lease``.
        """
        with self._fenced(fence, lease.hold, now):
            if fence is not None:
                lease.check_claims(self.db, row.app_id, row.sweep_id, row.source_reloads)
            self.db.table("ledger").upsert(self._ledger_record(row, now), pk=LEDGER_PK)
            self._stamp(row)

    def stamp_intent(self, row: LedgerRow, now: datetime, fence: Fence | None) -> None:
        """Right before a start is sent: the lease is still ours, and its clock starts now."""
        with self._fenced(fence, lease.hold, now):
            self._stamp(row)

    def release_lease(self, fence: Fence) -> None:
        """Give the lease back (``start``), or raise if another sweeper acted meanwhile."""
        with self._fenced(fence, lease.release, now=None):
            pass

    def commit_sweep(self, commit: SweepCommit, now: datetime, fence: Fence | None = None) -> None:
        """Write a sweep's handled events, ledger, settled edges, record and cursor at once.

        With a ``fence``, nothing is written if another sweeper took the lease meanwhile.
        Rows past retention are pruned in the same transaction; once a day, free pages are
        then given back to the disk.
        """
        with self._fenced(fence, lease.release, now):
            self._upsert("handled_events", commit.handled_events, "event_id")
            invalid = map(self._scrubbed_invalid, commit.invalid_events)
            self._upsert("invalid_events", invalid, "key")
            self._upsert("settled_edges", commit.settled_edges, SETTLED_PK)
            ledger = [self._ledger_record(row, now) for row in commit.ledger]
            self._upsert("ledger", ledger, LEDGER_PK)
            self._record_learned(commit)
            self.db.table("sweeps").upsert(commit.sweep, pk="sweep_id")
            self._set_cursor(AUDIT_CURSOR, commit.cursor, now)
            self._set_cursor(LATE_CHECK, commit.late_checked_at, now)
            self._set_cursor(HIGH_WATER, commit.high_water, now)
            self._set_cursor(RECOVERY, commit.recovering_until, now)
            prune(self.db, self.retention, now)
        vacuum_daily(self.db, now, self.where)

    def record_aborted_sweep(
        self,
        sweep: dict[str, Any],
        alerts: list[dict[str, Any]],
        now: datetime,
        fence: Fence | None = None,
    ) -> None:
        """Record a sweep that ended with an error, and the alerts it raised, at once.

        With a ``fence``, nothing is written if another sweeper took the lease meanwhile. It
        prunes too: a tenant that fails for months records nothing but aborted sweeps.
        """
        with self._fenced(fence, lease.release, now):
            self._upsert("alerts", alerts, "alert_id")
            self.db.table("sweeps").upsert(sweep, pk="sweep_id")
            prune(self.db, self.retention, now)

    def alert_sent(self, alert_id: str, sent_at: datetime) -> None:
        """An outbox row was delivered to its destination."""
        with self.db.atomic():
            self.db.execute(
                "update alerts set state = 'sent', sent_at = ?, attempts = coalesce(attempts, 0)"
                " + 1, last_error = null where alert_id = ?",
                [format_time(sent_at), alert_id],
            )

    def alert_failed(self, alert_id: str, error: str) -> None:
        """A delivery of an outbox row failed: counted, and why kept (scrubbed)."""
        with self.db.atomic():
            self.db.execute(
                "update alerts set attempts = coalesce(attempts, 0) + 1, last_error = ?"
                " where alert_id = ?",
                [self.scrub(error), alert_id],
            )

    def expire_alerts(self, alert_ids: Iterable[str]) -> None:
        """These outbox rows will never be delivered (too old, or their route is gone)."""
        with self.db.atomic():
            self.db.conn.executemany(
                "update alerts set state = 'expired' where alert_id = ? and state = 'pending'",
                [(alert_id,) for alert_id in alert_ids],
            )

    def _record_learned(self, commit: SweepCommit) -> None:
        """Outcomes of started reloads, chain runs, names, the outbox, deadline days."""
        self.db.conn.executemany(
            "update ledger set outcome = :outcome, ended_at = :ended_at,"
            " reload_started_at = :reload_started_at"
            " where reload_id = :reload_id and decision = 'triggered'",
            commit.reload_outcomes,
        )
        self._upsert("chain_runs", commit.chain_runs, "run_id")
        self._upsert("app_names", commit.app_names, "app_id")
        self._upsert("alerts", commit.alerts, "alert_id")
        self._upsert("deadline_days", commit.deadline_days, ("app_id", "day"))
        if commit.native_tasks is not None:
            NativeTaskStore.of(self).keep(commit.native_tasks)

    @contextmanager
    def _fenced(
        self,
        fence: Fence | None,
        step: Callable[[Database, Fence, str], Fence],
        now: datetime | None,
    ) -> Iterator[None]:
        """One write transaction that first takes, keeps or gives back the lease (``step``).

        The fence learns what the transaction did only once it committed: a rolled-back
        one (read-only file, disk full) leaves the lease as it was, so the fence must too.
        """
        with self.db.atomic():
            at = format_time(now) if now else ""
            committed = step(self.db, fence, at) if fence is not None else None
            yield
        if fence is not None and committed is not None:
            fence.update(committed)

    def _stamp(self, row: LedgerRow) -> None:
        self.db.execute(
            f"update ledger set written_at = {DB_NOW}, in_flight_s = ?"
            " where sweep_id = ? and app_id = ?",
            [self.in_flight_s, row.sweep_id, row.app_id],
        )

    def _set_cursor(self, name: str, position: datetime | None, now: datetime) -> None:
        if position is not None:
            row = {"name": name, "position": format_time(position), "updated_at": format_time(now)}
            self.db.table("cursor").upsert(row, pk="name")

    def _ledger_record(self, row: LedgerRow, now: datetime) -> dict[str, Any]:
        record = row.as_record(now)
        record["detail"] = self.scrub(record["detail"] or "")
        return record

    def _scrubbed_invalid(self, row: dict[str, Any]) -> dict[str, Any]:
        # Scrubbed before it is cut: a secret straddling the cut would otherwise survive.
        kept = {key: self.scrub(row[key]) for key in ("raw", "reason") if row.get(key)}
        if "raw" in kept:
            kept["raw"] = kept["raw"][:RAW_TEXT_LIMIT]
        return row | kept

    def _upsert(
        self, table: str, rows: Iterable[dict[str, Any]], pk: str | tuple[str, ...]
    ) -> None:
        # upsert_all writes in batches and does nothing for no rows.
        self.db.table(table).upsert_all(rows, pk=pk)

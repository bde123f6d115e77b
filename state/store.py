"""Reads and writes of sweep state: cursor, handled events, settled edges, ledger, sweeps.

Every write is an upsert on the table's primary key, so committing the same sweep twice
changes nothing. ``commit_sweep`` writes everything a sweep learned in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from qlik.times import format_time, parse_time
from state import lease
from state.database import state_errors
from state.lease import Fence
from state.rows import LedgerRow, Started, SweepCommit, chunks, decoded

__all__ = ["LedgerRow", "Started", "Store", "SweepCommit"]

AUDIT_CURSOR = "audit_events"
RAW_TEXT_LIMIT = 20_000  # characters of an invalid event kept for inspection
LATE_CHECK = "late_check"
HIGH_WATER = "high_water"
RECOVERY = "recovering_until"
# Intents not yet known to have reached the tenant: written before the start was sent
# (``intent``), or whose answer was lost (``unconfirmed``, the attempt is over).
UNFINISHED = ("intent", "unconfirmed")
# The database's clock, for elapsed times only: see ``intent_ages``.
_DB_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"


def _unchanged(text: str) -> str:
    return text


class Store:
    """The program's view of its SQLite database.

    ``scrub`` removes secrets from free text (error details, raw events) before it is stored.
    """

    def __init__(
        self,
        db: Database,
        where: str = "state database",
        scrub: Callable[[str], str] = _unchanged,
        in_flight_s: float = 60.0,
    ) -> None:
        self.db = db
        self.where = where
        self.scrub = scrub
        # How long a start sent by this process may take to land (twice its request deadline).
        self.in_flight_s = in_flight_s

    def cursor(self, name: str = AUDIT_CURSOR) -> datetime | None:
        """Time up to which every event has been handled, or None before the first sweep.

        ``name=LATE_CHECK``: when a sweep last re-read the late window.
        """
        with state_errors(self.where):
            rows = list(self.db.table("cursor").rows_where("name = ?", [name]))
        return parse_time(rows[0]["position"]) if rows else None

    def fence(self, sweep_id: str) -> Fence:
        """The lease as a sweep finds it when it begins (see ``state.lease``)."""
        with state_errors(self.where):
            return Fence(sweep_id, lease.current(self.db)[1])

    def handled(
        self, event_ids: Iterable[str], runs: Iterable[tuple[str, str]]
    ) -> tuple[set[str], set[tuple[str, str]]]:
        """Which of these event ids, and which (reload id, outcome) pairs, were handled before."""
        events = self._existing("handled_events", "event_id", event_ids)
        wanted = set(runs)
        sql = "select reload_id, outcome from handled_events where reload_id in ({})"
        found = {(row[0], row[1]) for row in self._rows_in(sql, (r for r, _ in wanted))}
        return events, found & wanted

    def known_invalid(self, keys: Iterable[str]) -> set[str]:
        """Which invalid events are already recorded."""
        return self._existing("invalid_events", "key", keys)

    def settled_edges(self, reload_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(source reload id, target app id) pairs already decided for good."""
        sql = (
            "select source_reload_id, target_app_id from settled_edges"
            " where source_reload_id in ({})"
        )
        return {(row[0], row[1]) for row in self._rows_in(sql, reload_ids)}

    def started_reloads(self, reload_ids: Iterable[str]) -> dict[str, Started]:
        """For reloads this program started: the app, and the source apps and reloads behind it."""
        sql = (
            "select reload_id, app_id, sources, source_reloads from ledger "
            "where decision = 'triggered' and reload_id in ({})"
        )
        return {
            reload_id: Started(
                app_id, tuple(json.loads(sources or "[]")), tuple(json.loads(reloads or "[]"))
            )
            for reload_id, app_id, sources, reloads in self._rows_in(sql, reload_ids)
        }

    def last_successes(self, app_ids: Iterable[str]) -> dict[str, datetime]:
        """When each app last finished a reload successfully, as far as events were read."""
        sql = (
            "select app_id, max(event_time) from handled_events "
            "where outcome = 'success' and app_id in ({}) group by app_id"
        )
        return {app_id: parse_time(ended) for app_id, ended in self._rows_in(sql, app_ids)}

    def unfinished_intents(self) -> list[LedgerRow]:
        """Starts whose outcome is unknown: the sweep died, or the answer was ambiguous."""
        with state_errors(self.where):
            rows = self.db.table("ledger").rows_where(
                "state in (?, ?)", list(UNFINISHED), order_by="updated_at"
            )
            return [LedgerRow.from_record(row) for row in rows]

    def recent_start_ages(self, window_s: float = 300.0) -> list[float]:
        """Seconds since each start request of the last ``window_s`` was sent (any process).

        Qlik counts reload starts per user over five minutes, across processes: a one-shot
        sweep seeds its rate limiter with these before it starts anything.
        """
        age = f"(julianday({_DB_NOW}) - julianday(written_at)) * 86400"
        sql = f"select {age} from ledger where written_at is not null and {age} < ?"
        with state_errors(self.where):
            return [float(row[0]) for row in self.db.execute(sql, [window_s]).fetchall()]

    def intent_ages(self) -> dict[tuple[str, str], tuple[float, float | None]]:
        """For each unfinished start: seconds since it was sent, and how long it may be in flight.

        Measured by SQLite's clock at both ends: the sweep's ``now`` is when the sweep began,
        possibly many minutes before the start was sent, and only the elapsed time matters.
        How long a start may be in flight is the writer's own (``in_flight_s``), not the reader's.
        """
        sql = (
            f"select sweep_id, app_id, (julianday({_DB_NOW}) - julianday(written_at)) * 86400, "
            "in_flight_s from ledger where state in (?, ?) and written_at is not null"
        )
        with state_errors(self.where):
            rows = self.db.execute(sql, list(UNFINISHED)).fetchall()
        return {(sweep, app): (float(age), flight) for sweep, app, age, flight in rows}

    def resolve_intent(self, row: LedgerRow, settled: list[dict[str, Any]], now: datetime) -> None:
        """Record what became of an intent, and the edges it settled, in one transaction."""
        with state_errors(self.where), self.db.atomic():
            self.db.table("ledger").upsert(self._ledger_record(row, now), pk=("sweep_id", "app_id"))
            self._upsert("settled_edges", settled, ("source_reload_id", "target_app_id"))

    def record_intent(self, row: LedgerRow, now: datetime, fence: Fence | None = None) -> None:
        """Write a ledger row before its reload is requested (committed at once).

        With a ``fence``, the same transaction takes or keeps the sweep's lease and refuses a
        start another sweep already claimed (``LeaseLostError``): see ``state.lease``.
        """
        with self._fenced(fence, lease.hold, now):
            if fence is not None:
                lease.check_claims(self.db, row.app_id, row.sweep_id, row.source_reloads)
            self.db.table("ledger").upsert(self._ledger_record(row, now), pk=("sweep_id", "app_id"))
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
        """
        with self._fenced(fence, lease.release, now):
            self._upsert("handled_events", commit.handled_events, "event_id")
            invalid = map(self._scrubbed_invalid, commit.invalid_events)
            self._upsert("invalid_events", invalid, "key")
            edges = commit.settled_edges
            self._upsert("settled_edges", edges, ("source_reload_id", "target_app_id"))
            ledger = [self._ledger_record(row, now) for row in commit.ledger]
            self._upsert("ledger", ledger, ("sweep_id", "app_id"))
            self.db.table("sweeps").upsert(commit.sweep, pk="sweep_id")
            self._set_cursor(AUDIT_CURSOR, commit.cursor, now)
            self._set_cursor(LATE_CHECK, commit.late_checked_at, now)
            self._set_cursor(HIGH_WATER, commit.high_water, now)
            self._set_cursor(RECOVERY, commit.recovering_until, now)

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
        with state_errors(self.where), self.db.atomic():
            at = format_time(now) if now else ""
            committed = step(self.db, fence, at) if fence is not None else None
            yield
        if fence is not None and committed is not None:
            fence.update(committed)

    def _stamp(self, row: LedgerRow) -> None:
        self.db.execute(
            f"update ledger set written_at = {_DB_NOW}, in_flight_s = ?"
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

    def recent_sweeps(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest sweep records, newest first, with their JSON columns decoded."""
        with state_errors(self.where):
            rows = self.db.table("sweeps").rows_where(order_by="started_at desc", limit=limit)
            return [decoded(row, ("decisions", "api_calls")) for row in rows]

    def recent_decisions(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ledger rows, newest first, with their JSON columns decoded."""
        with state_errors(self.where):
            rows = self.db.table("ledger").rows_where(order_by="updated_at desc", limit=limit)
            return [decoded(row, ("sources", "source_reloads")) for row in rows]

    def _upsert(
        self, table: str, rows: Iterable[dict[str, Any]], pk: str | tuple[str, ...]
    ) -> None:
        # upsert_all writes in batches and does nothing for no rows.
        self.db.table(table).upsert_all(rows, pk=pk)

    def _existing(self, table: str, column: str, values: Iterable[str]) -> set[str]:
        sql = f"select {column} from {table} where {column} in ({{}})"
        return {row[0] for row in self._rows_in(sql, values)}

    def _rows_in(self, sql: str, values: Iterable[str]) -> list[tuple[Any, ...]]:
        """``sql`` with its ``{}`` filled by placeholders, run per chunk of the distinct values.

        SQLite limits the variables of one statement, so a catch-up's ids go in chunks.
        """
        rows: list[tuple[Any, ...]] = []
        with state_errors(self.where):
            for chunk in chunks(sorted(set(values))):
                statement = sql.format(",".join("?" * len(chunk)))
                rows.extend(self.db.execute(statement, chunk).fetchall())
        return rows

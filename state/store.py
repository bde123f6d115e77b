"""Reads and writes of sweep state: cursor, handled events, settled edges, ledger, sweeps.

Every write is an upsert on the table's primary key, so committing the same sweep twice
changes nothing. ``commit_sweep`` writes everything a sweep learned in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from qlik.times import format_time, parse_time
from state.database import state_errors

AUDIT_CURSOR = "audit_events"


@dataclass(frozen=True)
class LedgerRow:
    """One decision about one successor app in one sweep."""

    sweep_id: str
    app_id: str
    decision: str
    reason: str
    sources: tuple[str, ...]
    source_reloads: tuple[str, ...]
    reload_id: str | None = None
    detail: str = ""
    state: str = "done"
    previous_reload_id: str | None = None
    source_end: datetime | None = None

    def as_record(self, now: datetime) -> dict[str, Any]:
        """The row as stored: lists as JSON, times as text."""
        record = self.__dict__ | {"updated_at": format_time(now)}
        record["sources"] = json.dumps(list(self.sources))
        record["source_reloads"] = json.dumps(list(self.source_reloads))
        record["source_end"] = format_time(self.source_end) if self.source_end else None
        return record

    @classmethod
    def from_record(cls, row: dict[str, Any]) -> LedgerRow:
        """The row as read back from the ``ledger`` table."""
        return cls(
            sweep_id=row["sweep_id"],
            app_id=row["app_id"],
            decision=row["decision"],
            reason=row["reason"],
            sources=tuple(json.loads(row["sources"] or "[]")),
            source_reloads=tuple(json.loads(row["source_reloads"] or "[]")),
            reload_id=row["reload_id"],
            detail=row["detail"] or "",
            state=row["state"],
            previous_reload_id=row.get("previous_reload_id"),
            source_end=parse_time(row["source_end"]) if row.get("source_end") else None,
        )


@dataclass(frozen=True)
class Started:
    """A reload this program started, and what started it."""

    app_id: str
    source_apps: tuple[str, ...]
    source_reloads: tuple[str, ...]


@dataclass
class SweepCommit:
    """Everything one sweep writes at its end, applied atomically."""

    sweep: dict[str, Any]
    # Iterables, consumed once inside the transaction: a catch-up's rows are never all in memory.
    handled_events: Iterable[dict[str, Any]] = field(default_factory=list)
    invalid_events: Iterable[dict[str, Any]] = field(default_factory=list)
    settled_edges: Iterable[dict[str, Any]] = field(default_factory=list)
    ledger: list[LedgerRow] = field(default_factory=list)
    cursor: datetime | None = None


class Store:
    """The program's view of its SQLite database."""

    def __init__(self, db: Database, where: str = "state database") -> None:
        self.db = db
        self.where = where

    def cursor(self) -> datetime | None:
        """Time up to which every event has been handled, or None before the first sweep."""
        with state_errors(self.where):
            rows = list(self.db.table("cursor").rows_where("name = ?", [AUDIT_CURSOR]))
        return parse_time(rows[0]["position"]) if rows else None

    def handled(
        self, event_ids: Iterable[str], runs: Iterable[tuple[str, str]]
    ) -> tuple[set[str], set[tuple[str, str]]]:
        """Which of these event ids, and which (reload id, outcome) pairs, were handled before."""
        events = self._existing("handled_events", "event_id", event_ids)
        wanted = set(runs)
        found: set[tuple[str, str]] = set()
        with state_errors(self.where):
            for chunk in _chunks(sorted({reload_id for reload_id, _ in wanted})):
                marks = ",".join("?" * len(chunk))
                sql = f"select reload_id, outcome from handled_events where reload_id in ({marks})"
                found.update((row[0], row[1]) for row in self.db.execute(sql, chunk).fetchall())
        return events, found & wanted

    def known_invalid(self, keys: Iterable[str]) -> set[str]:
        """Which invalid events are already recorded."""
        return self._existing("invalid_events", "key", keys)

    def settled_edges(self, reload_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(source reload id, target app id) pairs already decided for good."""
        ids = sorted(set(reload_ids))
        found: set[tuple[str, str]] = set()
        with state_errors(self.where):
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                sql = f"select source_reload_id, target_app_id from settled_edges where source_reload_id in ({marks})"  # noqa: E501
                found.update((row[0], row[1]) for row in self.db.execute(sql, chunk).fetchall())
        return found

    def started_reloads(self, reload_ids: Iterable[str]) -> dict[str, Started]:
        """For reloads this program started: the app, and the source apps and reloads behind it."""
        found: dict[str, Started] = {}
        with state_errors(self.where):
            for chunk in _chunks(sorted(set(reload_ids))):
                marks = ",".join("?" * len(chunk))
                sql = (
                    "select reload_id, app_id, sources, source_reloads from ledger "
                    f"where decision = 'triggered' and reload_id in ({marks})"
                )
                for reload_id, app_id, sources, reloads in self.db.execute(sql, chunk).fetchall():
                    found[reload_id] = Started(
                        app_id,
                        tuple(json.loads(sources or "[]")),
                        tuple(json.loads(reloads or "[]")),
                    )
        return found

    def last_successes(self, app_ids: Iterable[str]) -> dict[str, datetime]:
        """When each app last finished a reload successfully, as far as events were read."""
        found: dict[str, datetime] = {}
        with state_errors(self.where):
            for chunk in _chunks(sorted(set(app_ids))):
                marks = ",".join("?" * len(chunk))
                sql = (
                    "select app_id, max(event_time) from handled_events "
                    f"where outcome = 'success' and app_id in ({marks}) group by app_id"
                )
                for app_id, ended in self.db.execute(sql, chunk).fetchall():
                    found[app_id] = parse_time(ended)
        return found

    def unfinished_intents(self) -> list[LedgerRow]:
        """Starts whose outcome is unknown: the sweep died, or the answer was ambiguous."""
        with state_errors(self.where):
            rows = self.db.table("ledger").rows_where(
                "state = ?", ["intent"], order_by="updated_at"
            )
            return [LedgerRow.from_record(row) for row in rows]

    def resolve_intent(self, row: LedgerRow, settled: list[dict[str, Any]], now: datetime) -> None:
        """Record what became of an intent, and the edges it settled, in one transaction."""
        with state_errors(self.where), self.db.atomic():
            self.db.table("ledger").upsert(row.as_record(now), pk=("sweep_id", "app_id"))
            self._upsert("settled_edges", settled, ("source_reload_id", "target_app_id"))

    def record_intent(self, row: LedgerRow, now: datetime) -> None:
        """Write a ledger row before its reload is requested (committed at once)."""
        with state_errors(self.where), self.db.atomic():
            self.db.table("ledger").upsert(row.as_record(now), pk=("sweep_id", "app_id"))

    def commit_sweep(self, commit: SweepCommit, now: datetime) -> None:
        """Write a sweep's handled events, ledger, settled edges, record and cursor at once."""
        with state_errors(self.where), self.db.atomic():
            self._upsert("handled_events", commit.handled_events, "event_id")
            self._upsert("invalid_events", commit.invalid_events, "key")
            self._upsert(
                "settled_edges", commit.settled_edges, ("source_reload_id", "target_app_id")
            )
            ledger = [row.as_record(now) for row in commit.ledger]
            self._upsert("ledger", ledger, ("sweep_id", "app_id"))
            self.db.table("sweeps").upsert(commit.sweep, pk="sweep_id")
            if commit.cursor is not None:
                position = {"name": AUDIT_CURSOR, "position": format_time(commit.cursor)}
                self.db.table("cursor").upsert(
                    position | {"updated_at": format_time(now)}, pk="name"
                )

    def recent_sweeps(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest sweep records, newest first, with their JSON columns decoded."""
        with state_errors(self.where):
            rows = self.db.table("sweeps").rows_where(order_by="started_at desc", limit=limit)
            return [_decoded(row, ("decisions", "api_calls")) for row in rows]

    def recent_decisions(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ledger rows, newest first, with their JSON columns decoded."""
        with state_errors(self.where):
            rows = self.db.table("ledger").rows_where(order_by="updated_at desc", limit=limit)
            return [_decoded(row, ("sources", "source_reloads")) for row in rows]

    def _upsert(
        self, table: str, rows: Iterable[dict[str, Any]], pk: str | tuple[str, ...]
    ) -> None:
        # upsert_all writes in batches and does nothing for no rows.
        self.db.table(table).upsert_all(rows, pk=pk)

    def _existing(self, table: str, column: str, values: Iterable[str]) -> set[str]:
        wanted = sorted(set(values))
        found: set[str] = set()
        with state_errors(self.where):
            for chunk in _chunks(wanted):
                marks = ",".join("?" * len(chunk))
                sql = f"select {column} from {table} where {column} in ({marks})"
                found.update(row[0] for row in self.db.execute(sql, chunk).fetchall())
        return found


def _decoded(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """The row with these JSON text columns turned back into objects and lists."""
    return row | {
        column: json.loads(row[column]) for column in columns if isinstance(row.get(column), str)
    }


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]

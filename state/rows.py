"""The rows a sweep writes, as the program builds them, and their shapes as stored."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qlik.tasks import NativeTask
from qlik.times import format_time, parse_time


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
    # The chain run (the external reload at the root of its lineage) it belongs to.
    chain_run_id: str | None = None

    def as_record(self, now: datetime) -> dict[str, Any]:
        """The row as stored: lists as JSON, times as text."""
        record = self.__dict__ | {"updated_at": format_time(now)}
        record["sources"] = json.dumps(list(self.sources))
        record["source_reloads"] = json.dumps(list(self.source_reloads))
        record["source_end"] = format_time(self.source_end) if self.source_end else None
        if self.chain_run_id is None:
            # Unknown here is not "none": an upsert must keep the one stored (see jobs.learn).
            del record["chain_run_id"]
        return record

    def settled_records(self) -> list[dict[str, Any]]:
        """The ``settled_edges`` rows of a row decided for good: one per source reload."""
        return [
            {
                "source_reload_id": source_reload,
                "target_app_id": self.app_id,
                "sweep_id": self.sweep_id,
                "decision": self.decision,
                "reason": self.reason,
            }
            for source_reload in self.source_reloads
        ]

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
            chain_run_id=row.get("chain_run_id"),
        )


@dataclass(frozen=True)
class Started:
    """A reload this program started, and what started it."""

    app_id: str
    source_apps: tuple[str, ...]
    source_reloads: tuple[str, ...]
    chain_run_id: str | None = None


@dataclass(frozen=True)
class NativeSnapshot:
    """One listing of the tasks (``tasks`` None: the tenant refused it), to keep."""

    read_at: datetime
    tasks: tuple[NativeTask, ...] | None
    problems: dict[str, str] = field(default_factory=dict)  # task id -> problem key


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
    # When this sweep re-read the late window (None: it did not).
    late_checked_at: datetime | None = None
    # The newest event time ever committed, and the lost-state limit (see jobs.window).
    high_water: datetime | None = None
    recovering_until: datetime | None = None
    # What the sweep learned besides: how reloads it started ended (reload_id, outcome,
    # ended_at), the chain runs its decisions belong to, the apps' names, the alerts it raised
    # (the outbox) and the deadline days it judged.
    reload_outcomes: Iterable[dict[str, Any]] = field(default_factory=list)
    chain_runs: list[dict[str, Any]] = field(default_factory=list)
    app_names: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    deadline_days: list[dict[str, Any]] = field(default_factory=list)
    # The native task listing this sweep read, to keep (None: it read none).
    native_tasks: NativeSnapshot | None = None


def decoded(row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """The row with these JSON text columns turned back into objects and lists."""
    return row | {
        column: json.loads(row[column]) for column in columns if isinstance(row.get(column), str)
    }

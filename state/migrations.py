"""Named, ordered schema migrations. Append new ones; never edit or reorder applied ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True)
class Migration:
    name: str
    apply: Callable[[Database], None]


def _initial_schema(db: Database) -> None:
    db.table("cursor").create({"name": str, "position": str, "updated_at": str}, pk="name")
    db.table("handled_events").create(
        {
            "event_id": str,
            "reload_id": str,
            # One reload may finish more than once (an engine retry): error, then ok.
            "outcome": str,
            "app_id": str,
            "event_time": str,
            "sweep_id": str,
        },
        pk="event_id",
    )
    db.table("handled_events").create_index(["reload_id", "outcome"])
    db.table("invalid_events").create(
        {"key": str, "event_id": str, "reason": str, "raw": str, "sweep_id": str, "seen_at": str},
        pk="key",
    )
    db.table("settled_edges").create(
        {
            "source_reload_id": str,
            "target_app_id": str,
            "sweep_id": str,
            "decision": str,
            "reason": str,
        },
        pk=("source_reload_id", "target_app_id"),
    )
    db.table("ledger").create(
        {
            "sweep_id": str,
            "app_id": str,
            "state": str,
            "decision": str,
            "reason": str,
            "reload_id": str,
            "sources": str,
            "source_reloads": str,
            "detail": str,
            "updated_at": str,
        },
        pk=("sweep_id", "app_id"),
    )
    db.table("ledger").create_index(["app_id"])
    db.table("sweeps").create(
        {
            "sweep_id": str,
            "started_at": str,
            "finished_at": str,
            "dry_run": int,
            "window_from": str,
            "window_to": str,
            "events_read": int,
            "events_new": int,
            "events_invalid": int,
            "sources": int,
            "decisions": str,
            "api_calls": str,
            "duration_s": float,
            "exit_code": int,
        },
        pk="sweep_id",
    )


def _intent_evidence(db: Database) -> None:
    # What the tenant looked like before a start, so a restart can tell whether it happened.
    db.table("ledger").add_column("previous_reload_id", str)
    db.table("ledger").add_column("source_end", str)
    db.table("ledger").create_index(["state"])


def _status_indexes(db: Database) -> None:
    # `reload-chain status` reads the newest rows, and each app's newest, of tables that grow.
    db.table("ledger").create_index(["app_id", "updated_at"])
    db.table("ledger").create_index(["updated_at"])
    db.table("sweeps").create_index(["started_at"])


def _fences_and_late_events(db: Database) -> None:
    # When an intent was written, by the database's clock: a start younger than its deadline
    # may still be in flight in another process and must not be judged "not started".
    db.table("ledger").add_column("written_at", str)
    # One row: the sweep allowed to start reloads, and a counter bumped each time it changes.
    db.table("lease").create({"name": str, "holder": str, "epoch": int, "taken_at": str}, pk="name")
    # Events found after the sweep that should have seen them: how many, and the worst lag.
    db.table("sweeps").add_column("late_events", int)
    db.table("sweeps").add_column("late_worst_s", float)


def _in_flight_windows(db: Database) -> None:
    # How long each start may still land, by its writer's own request deadline.
    db.table("ledger").add_column("in_flight_s", float)


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial_schema", _initial_schema),
    Migration("0002_intent_evidence", _intent_evidence),
    Migration("0003_status_indexes", _status_indexes),
    Migration("0004_fences_and_late_events", _fences_and_late_events),
    Migration("0005_in_flight_windows", _in_flight_windows),
)

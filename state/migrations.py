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


def _chain_runs_and_alerts(db: Database) -> None:
    # How each reload this program started ended, and the chain run (root reload) it belongs to.
    ledger = db.table("ledger")
    ledger.add_column("chain_run_id", str)
    ledger.add_column("outcome", str)
    ledger.add_column("ended_at", str)
    ledger.create_index(["reload_id"])
    ledger.create_index(["chain_run_id"])
    # One row per chain run: the external reload at its root.
    db.table("chain_runs").create(
        {
            "run_id": str,
            "root_app_id": str,
            "root_status": str,
            "root_ended_at": str,
            "sweep_id": str,
            "updated_at": str,
        },
        pk="run_id",
    )
    db.table("chain_runs").create_index(["root_ended_at"])
    # App names as the sweeps last saw them, so tables and alerts name apps without a call.
    db.table("app_names").create({"app_id": str, "name": str, "updated_at": str}, pk="app_id")
    # The outbox: alerts written in the sweep's own transaction, delivered after its commit.
    db.table("alerts").create(
        {
            "alert_id": str,
            "destination": str,
            "kind": str,
            "app_id": str,
            "chain_run_id": str,
            "message": str,
            "raised_at": str,
            "sweep_id": str,
            "state": str,
            "attempts": int,
            "last_error": str,
            "sent_at": str,
        },
        pk="alert_id",
    )
    db.table("alerts").create_index(["state", "raised_at"])
    db.table("alerts").create_index(["destination", "kind", "app_id", "raised_at"])
    # Deadlines: per app and local day, when it was met and when `late` was raised.
    db.table("deadline_days").create(
        {"app_id": str, "day": str, "by_at": str, "met_at": str, "late_at": str},
        pk=("app_id", "day"),
    )
    # 429 answers the sweep got (the metrics file counts them across processes).
    db.table("sweeps").add_column("rate_limited", int)


def _reload_start(db: Database) -> None:
    # When the engine began each reload this program started (its end less the event's
    # duration): the report splits a hop's time into queued and reloading.
    db.table("ledger").add_column("reload_started_at", str)
    # The report, rewritten after every sweep, reads each app's newest decision of each kind
    # and each root app's newest run: from these indexes, not a scan of 90 days of rows.
    db.table("ledger").create_index(["app_id", "decision", "updated_at"])
    db.table("chain_runs").create_index(["root_app_id", "root_ended_at"])


def _retention_totals(db: Database) -> None:
    # What pruning deleted, folded into totals (state/retention.py): the metrics file's
    # counters, read from the database, must never go down.
    db.table("totals").create({"name": str, "value": float}, pk="name")
    # Pruning takes the oldest decisions that started nothing first, without walking past
    # months of started reloads, which are kept longer (state/retention.py).
    db.execute(
        "create index idx_ledger_untriggered on ledger (updated_at) where decision != 'triggered'"
    )
    # Every query by app id is served as well by (app_id, updated_at): 48 bytes a decision less.
    db.execute("drop index if exists idx_ledger_app_id")


def _native_tasks(db: Database) -> None:
    # The tenant's native reload tasks as last listed (state/native_tasks.py): sweeps reuse
    # the listing while it is fresh, and alert once when a task becomes disabled.
    db.table("native_tasks").create(
        {
            "task_id": str,
            "name": str,
            "app_id": str,
            "app_name": str,
            "enabled": int,
            "disabled_code": str,
            "upstreams": str,
            "last_run_ended_at": str,
            "problem": str,
            "read_at": str,
        },
        pk="task_id",
    )


def _native_task_runs(db: Database) -> None:
    # A task fires on a source reload only when the listing shows that reload as its run:
    # its newest run's status and reload id, and whether one run alone starts a full reload.
    table = db.table("native_tasks")
    table.add_column("last_run_status", str)
    table.add_column("last_run_reload_id", str)
    table.add_column("fires_alone", int, not_null_default=1)


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial_schema", _initial_schema),
    Migration("0002_intent_evidence", _intent_evidence),
    Migration("0003_status_indexes", _status_indexes),
    Migration("0004_fences_and_late_events", _fences_and_late_events),
    Migration("0005_in_flight_windows", _in_flight_windows),
    Migration("0006_chain_runs_and_alerts", _chain_runs_and_alerts),
    Migration("0007_reload_start", _reload_start),
    Migration("0008_retention_totals", _retention_totals),
    Migration("0009_native_tasks", _native_tasks),
    Migration("0010_native_task_runs", _native_task_runs),
)

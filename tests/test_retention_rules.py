"""Each retention rule: a row just past its horizon is pruned, one just inside is kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from qlik.times import format_time
from state.database import open_database
from state.retention import READ_REACH, RetentionPolicy, prune

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
HISTORY = NOW - timedelta(days=90)
SAFE = NOW - READ_REACH  # with the cursor at NOW
BEFORE, AT = timedelta(milliseconds=-1), timedelta(0)


@pytest.fixture
def db() -> Iterator[Database]:
    database = open_database(":memory:")
    set_cursor(database, NOW)
    yield database
    database.close()


def set_cursor(db: Database, at: datetime) -> None:
    row = {"name": "audit_events", "position": format_time(at), "updated_at": format_time(at)}
    db.table("cursor").upsert(row, pk="name")


def run_prune(db: Database, policy: RetentionPolicy | None = None) -> dict[str, int]:
    with db.atomic():
        return prune(db, policy or RetentionPolicy(), NOW)


def keys(db: Database, table: str, column: str) -> set[Any]:
    return {row[0] for row in db.execute(f"select {column} from {table}").fetchall()}


def t(moment: datetime) -> str:
    return format_time(moment)


def ledger_row(sweep: str, app: str, at: datetime, **columns: Any) -> dict[str, Any]:
    row = {"sweep_id": sweep, "app_id": app, "state": "done", "decision": "skipped"}
    return row | {"reason": "fresh", "updated_at": t(at)} | columns


def triggered(sweep: str, at: datetime, run: str | None = None, **more: Any) -> dict[str, Any]:
    reload_id = f"r-{sweep}"
    extra = {"decision": "triggered", "reason": "triggered", "reload_id": reload_id}
    return ledger_row(sweep, "app", at, chain_run_id=run or reload_id, **extra | more)


def test_handled_events_go_once_no_window_can_read_them(db: Database) -> None:
    for name, at in [("out", SAFE + BEFORE), ("in", SAFE + AT)]:
        db.table("handled_events").insert({"event_id": name, "event_time": t(at)})

    run_prune(db)

    assert keys(db, "handled_events", "event_id") == {"in"}


def test_handled_events_stay_as_long_as_the_longest_join_window(db: Database) -> None:
    join = NOW - timedelta(days=120)
    for name, at in [("out", join + BEFORE), ("in", join + AT), ("old", SAFE + BEFORE)]:
        db.table("handled_events").insert({"event_id": name, "event_time": t(at)})

    run_prune(db, RetentionPolicy(longest_join_minutes=120 * 24 * 60))

    assert keys(db, "handled_events", "event_id") == {"in", "old"}


def test_settled_edges_go_by_the_time_of_the_sweep_that_settled_them(db: Database) -> None:
    second = timedelta(seconds=1)
    sweeps = {
        "out": f"{SAFE - second:%Y%m%dT%H%M%SZ}-0001",
        "start-out": f"start-{SAFE - second:%Y%m%dT%H%M%SZ}-0002",
        "in": f"{SAFE:%Y%m%dT%H%M%SZ}-0003",
        "undated": "s1",  # an id that says no time is never pruned
    }
    for name, sweep_id in sweeps.items():
        row = {"source_reload_id": name, "target_app_id": "b", "sweep_id": sweep_id}
        db.table("settled_edges").insert(row)

    run_prune(db)

    assert keys(db, "settled_edges", "source_reload_id") == {"in", "undated"}


def test_invalid_events_go_once_no_window_can_read_them(db: Database) -> None:
    for name, at in [("out", SAFE + BEFORE), ("in", SAFE + AT)]:
        db.table("invalid_events").insert({"key": name, "seen_at": t(at)})

    run_prune(db)

    assert keys(db, "invalid_events", "key") == {"in"}


def test_a_clock_set_ahead_prunes_history_but_not_what_safety_needs(db: Database) -> None:
    db.table("handled_events").insert({"event_id": "e", "event_time": t(NOW - timedelta(days=2))})
    db.table("sweeps").insert({"sweep_id": "s", "started_at": t(NOW - timedelta(days=2))})

    with db.atomic():
        prune(db, RetentionPolicy(), NOW + timedelta(days=3650))  # the cursor stays at NOW

    assert keys(db, "handled_events", "event_id") == {"e"}


def test_decisions_that_started_nothing_go_after_the_retention_days(db: Database) -> None:
    rows = [
        ledger_row("out", "a", HISTORY + BEFORE),
        ledger_row("in", "a", HISTORY + AT),
        ledger_row("intent", "b", NOW - timedelta(days=3650), state="intent", decision="pending"),
        ledger_row("unconfirmed", "c", NOW - timedelta(days=3650), state="unconfirmed"),
    ]
    db.table("ledger").insert_all(rows)

    run_prune(db)

    assert keys(db, "ledger", "sweep_id") == {"in", "intent", "unconfirmed"}


def test_started_reloads_stay_while_their_events_can_be_read(db: Database) -> None:
    week = RetentionPolicy(days=7)
    db.table("ledger").insert_all(
        [
            triggered("out", SAFE + BEFORE),
            triggered("in", SAFE + AT),
            ledger_row("skip", "a", NOW - timedelta(days=8)),  # history only: 7 days
        ]
    )

    run_prune(db, week)

    assert keys(db, "ledger", "sweep_id") == {"in"}


def test_a_chain_run_still_going_keeps_all_its_started_reloads(db: Database) -> None:
    old = SAFE - timedelta(days=30)
    db.table("ledger").insert_all(
        [
            triggered("root-hop", old, run="run-1"),
            triggered("last-hop", SAFE + AT, run="run-1"),
            triggered("open-run-hop", old, run="run-2"),
            triggered("open", old, run="run-2", state="unconfirmed"),
            triggered("over", old, run="run-3"),
        ]
    )

    run_prune(db)

    assert keys(db, "ledger", "sweep_id") == {"root-hop", "last-hop", "open-run-hop", "open"}


def test_chain_runs_go_once_over_and_past_the_retention_days(db: Database) -> None:
    old = HISTORY - timedelta(days=10)
    runs = {"out": HISTORY + BEFORE, "in": HISTORY + AT, "young-row": old, "open": old}
    for run_id, ended in runs.items():
        db.table("chain_runs").insert({"run_id": run_id, "root_ended_at": t(ended)})
    db.table("ledger").insert_all(
        [
            ledger_row("s1", "a", HISTORY + AT, chain_run_id="young-row"),
            ledger_row("s2", "a", old, chain_run_id="open", state="intent"),
        ]
    )

    run_prune(db)

    assert keys(db, "chain_runs", "run_id") == {"in", "young-row", "open"}


def test_sweep_records_go_after_the_retention_days_but_the_newest_success(db: Database) -> None:
    old = HISTORY - timedelta(days=100)
    rows = [
        ("success", old - timedelta(days=1), 0),
        ("failed-since", old, 1),
        ("out", HISTORY + BEFORE, 1),
        ("in", HISTORY + AT, 1),
    ]
    for sweep_id, started, code in rows:
        db.table("sweeps").insert(
            {"sweep_id": sweep_id, "started_at": t(started), "exit_code": code}
        )

    run_prune(db)

    assert keys(db, "sweeps", "sweep_id") == {"success", "in"}


def test_alerts_go_once_sent_or_expired_and_past_the_retention_days(db: Database) -> None:
    rows = [
        ("sent-out", "sent", HISTORY + BEFORE),
        ("expired-out", "expired", HISTORY + BEFORE),
        ("sent-in", "sent", HISTORY + AT),
        ("pending", "pending", HISTORY - timedelta(days=30)),
    ]
    for alert_id, state, raised in rows:
        db.table("alerts").insert({"alert_id": alert_id, "state": state, "raised_at": t(raised)})

    run_prune(db)

    assert keys(db, "alerts", "alert_id") == {"sent-in", "pending"}


def test_deadline_days_and_app_names_go_after_the_retention_days(db: Database) -> None:
    day = HISTORY.date()
    for name, on in [("out", day - timedelta(days=1)), ("in", day)]:
        db.table("deadline_days").insert(
            {"app_id": name, "day": on.isoformat()}, pk=("app_id", "day")
        )
    for name, seen in [("out", HISTORY + BEFORE), ("in", HISTORY + AT)]:
        db.table("app_names").insert({"app_id": name, "name": name, "updated_at": t(seen)})

    run_prune(db)

    assert keys(db, "deadline_days", "app_id") == {"in"}
    assert keys(db, "app_names", "app_id") == {"in"}


def test_cursors_the_lease_and_migrations_are_never_pruned(db: Database) -> None:
    db.table("lease").insert({"name": "sweeper", "holder": None, "epoch": 3, "taken_at": "x"})
    before = {table: db.table(table).count for table in ("cursor", "lease", "migrations")}

    with db.atomic():
        prune(db, RetentionPolicy(days=7), NOW + timedelta(days=3650))

    assert {table: db.table(table).count for table in before} == before

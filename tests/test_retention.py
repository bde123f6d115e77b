"""Pruning in a sweep's commit: bounded work, intents kept, decisions and metrics unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from jobs.sweep import SweepContext, run_sweep
from qlik.times import format_time
from scheduler.config import load
from scheduler.settings import SettingsError
from state.database import open_database
from state.metrics_reads import MetricsSnapshot, metrics_snapshot
from state.retention import READ_REACH, RetentionPolicy, horizons_at
from state.rows import SweepCommit
from state.store import Store
from tests.fake_tenant import FakeTenant, app_id
from tests.sweeping import finish_started, outcomes

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
YEARS_AGO = format_time(NOW - timedelta(days=3650))


@pytest.fixture
def store() -> Iterator[Store]:
    db = open_database(":memory:")
    yield Store(db, ":memory:")
    db.close()


def commit(store: Store, now: datetime, name: str = "s", *, move: bool = True) -> None:
    """A sweep with nothing new at ``now`` (its cursor moved to ``now``): its commit prunes."""
    record = {"sweep_id": f"{now:%Y%m%dT%H%M%SZ}-{name}", "started_at": format_time(now)}
    cursor = now if move else None
    store.commit_sweep(SweepCommit(sweep=record | {"exit_code": 0}, cursor=cursor), now)


def old_rows(db: Database, count: int) -> None:
    for n in range(count):
        db.table("handled_events").insert({"event_id": f"e{n}", "event_time": YEARS_AGO})
        row = {"sweep_id": f"old{n}", "app_id": "a", "state": "done", "decision": "skipped"}
        db.table("ledger").insert(row | {"updated_at": YEARS_AGO})
        db.table("sweeps").insert({"sweep_id": f"old{n}", "started_at": YEARS_AGO})


def test_horizons_keep_what_a_window_can_read_and_the_longest_join() -> None:
    cursor = NOW - timedelta(hours=1)
    joins = RetentionPolicy(days=7, longest_join_minutes=200 * 24 * 60)

    week = horizons_at(RetentionPolicy(days=7), NOW, cursor)
    long = horizons_at(RetentionPolicy(days=365), NOW, cursor)
    ahead = horizons_at(RetentionPolicy(days=7), NOW + timedelta(days=400), cursor)

    assert (week.history, week.safe, week.events) == (
        NOW - timedelta(days=7),
        *[cursor - READ_REACH] * 2,
    )
    assert long.safe == long.events == NOW - timedelta(days=365)
    assert ahead.safe == cursor - READ_REACH  # the tenant's time, not a clock run ahead
    assert horizons_at(joins, NOW, cursor).events == NOW - timedelta(days=200)
    assert horizons_at(RetentionPolicy(), NOW, None).safe == NOW - READ_REACH


def test_each_sweep_prunes_a_bounded_batch_until_it_caught_up(
    store: Store, logged: list[str]
) -> None:
    old_rows(store.db, 10)
    store.retention = RetentionPolicy(batch=3)
    counts = []
    for minute in range(5):
        commit(store, NOW + timedelta(minutes=minute), str(minute))
        counts.append(store.db.table("handled_events").count)

    assert counts == [7, 4, 1, 0, 0]
    assert store.db.table("ledger").count == 0
    assert store.db.table("sweeps").count == 5  # the sweeps' own records
    assert any(line.startswith("INFO") and "more next sweep" in line for line in logged)


def test_intents_and_unconfirmed_starts_are_never_pruned(store: Store) -> None:
    for state in ("intent", "unconfirmed"):
        row = {"sweep_id": state, "app_id": state, "state": state, "decision": "pending"}
        store.db.table("ledger").insert(row | {"updated_at": YEARS_AGO, "chain_run_id": "run"})
    store.db.table("chain_runs").insert({"run_id": "run", "root_ended_at": YEARS_AGO})
    store.retention = RetentionPolicy(days=7)

    commit(store, NOW + timedelta(days=3650))

    assert store.db.table("ledger").count == 2
    assert store.db.table("chain_runs").count == 1


def test_a_rule_that_fails_costs_the_pruning_never_the_commit(
    store: Store, logged: list[str]
) -> None:
    old_rows(store.db, 2)
    store.db.execute("drop table app_names")  # a database changed by hand

    commit(store, NOW)

    assert store.db.table("handled_events").count == 2  # the whole pruning rolled back
    assert store.cursor() == NOW
    assert any(line.startswith("WARNING pruning skipped this sweep") for line in logged)


def cycle(tenant: FakeTenant) -> tuple[str, str]:
    """A -> B -> A: the cycle guard must see that B's reload was started for A's."""
    a = tenant.add_app(1, tags=[f"next-{app_id(2)}"])
    b = tenant.add_app(2, tags=[f"next-{a}"])
    return a, b


def decisions_since(ctx: SweepContext, now: datetime, since: datetime) -> dict[str, Any]:
    return outcomes(run_sweep(ctx, now, since=since, dry_run=True))


def test_a_sweep_after_pruning_decides_as_before_on_every_readable_event(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    ctx.store.retention = RetentionPolicy(days=3650)  # nothing pruned while history builds
    a, b = cycle(tenant)
    for day in (0, 95):
        tenant.now = NOW + timedelta(days=day)
        tenant.finish(a, at=tenant.now - timedelta(minutes=5))
        assert outcomes(run_sweep(ctx, tenant.now))[b] == ("triggered", "triggered")
        finish_started(tenant, b)
        if day == 0:  # day 0's chain run ends; day 95's B is read by the sweeps below
            assert outcomes(run_sweep(ctx, tenant.now)) == {a: ("skipped", "cycle")}
    readable = tenant.now - timedelta(days=1)  # A's and B's reloads of day 95
    before = decisions_since(ctx, tenant.now, readable)

    ctx.store.retention = RetentionPolicy(days=90)
    commit(ctx.store, tenant.now, move=False)

    assert ctx.store.db.table("handled_events").count == 1  # A's of day 95: day 0's went
    assert {row["sweep_id"][:8] for row in ctx.store.db.table("ledger").rows} == {"20270225"}
    assert ctx.store.db.table("settled_edges").count == 1
    assert before == {a: ("skipped", "cycle")}
    assert decisions_since(ctx, tenant.now, readable) == before
    assert outcomes(run_sweep(ctx, tenant.now)) == before


def counters(snapshot: MetricsSnapshot) -> dict[str, Any]:
    return {
        "sweeps": snapshot.sweeps_by_exit_code,
        "decisions": snapshot.decisions_by_reason,
        "started": snapshot.reloads_started,
        "outcomes": snapshot.reload_outcomes,
        "api_calls": snapshot.api_calls,
        "rate_limited": snapshot.rate_limited,
        "durations": snapshot.duration_histogram(),
    }


def test_the_metrics_counters_do_not_change_when_their_rows_are_pruned(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    c = tenant.add_app(3)
    b = tenant.add_app(2, tags=[f"next-{c}"])
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    finish_started(tenant, b)
    run_sweep(ctx, tenant.now)
    finish_started(tenant, c, tenant.now - timedelta(seconds=30))
    run_sweep(ctx, tenant.now)
    before = counters(metrics_snapshot(ctx.store.db))

    commit(ctx.store, tenant.now + timedelta(days=200))  # everything but this sweep goes

    after = counters(metrics_snapshot(ctx.store.db))
    db = ctx.store.db
    assert (db.table("ledger").count, db.table("chain_runs").count) == (0, 0)
    assert db.table("sweeps").count == 1
    assert before["sweeps"] == {0: 3} and after["sweeps"] == {0: 4}  # the new sweep
    assert {**after, "sweeps": None} == {**before, "sweeps": None}
    assert before["durations"][0][-1] == ("+Inf", 1)


@pytest.mark.parametrize(("value", "days"), [(None, 90), ("7", 7), ("3650", 3650)])
def test_retention_days_is_a_setting(value: str | None, days: int) -> None:
    environ = {"RELOAD_CHAIN_RETENTION_DAYS": value} if value else {}
    assert load(environ=environ, keyring=False).settings.retention_days == days


@pytest.mark.parametrize("value", ["6", "3651", "ninety"])
def test_retention_days_out_of_range_is_one_line_naming_it(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(environ={"RELOAD_CHAIN_RETENTION_DAYS": value}, keyring=False)
    text = str(caught.value)
    assert "retention_days" in text and "RELOAD_CHAIN_RETENTION_DAYS" in text
    assert "\n" not in text and caught.value.exit_code == 2


def test_an_aborted_sweep_prunes_too(tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    db = open_database(tmp_path / "state.db")
    store = Store(db)
    old = {"sweep_id": "old", "started_at": "2026-01-01T00:00:00.000Z", "exit_code": 1}
    store.db.table("sweeps").insert(old)
    aborted = {"sweep_id": "new", "started_at": "2026-12-01T00:00:00.000Z", "exit_code": 2}
    store.record_aborted_sweep(aborted, [], now)
    # January is past the 90 days of retention on 1 December.
    assert [row["sweep_id"] for row in store.db.table("sweeps").rows] == ["new"]
    db.close()

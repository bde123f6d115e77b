"""What a sweep learns at no extra call: outcomes of its starts, chain runs, app names."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jobs.sweep import SweepContext, run_sweep
from qlik.times import format_time
from tests.fake_tenant import FakeTenant
from tests.sweeping import finish_started


def ledger(ctx: SweepContext, app_id: str) -> list[dict[str, Any]]:
    sql = "select * from ledger where app_id = ? and decision = 'triggered'"
    return [dict(row) for row in ctx.store.db.query(sql, [app_id])]


def three_hops(tenant: FakeTenant) -> tuple[str, str, str]:
    c = tenant.add_app(3)
    b = tenant.add_app(2, tags=[f"next-{c}"])
    a = tenant.add_app(1, tags=[f"next-{b}"])
    return a, b, c


def test_every_hop_of_a_chain_belongs_to_the_run_of_its_external_root(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, b, c = three_hops(tenant)
    root = tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    b_reload = finish_started(tenant, b)
    run_sweep(ctx, tenant.now)

    assert [row["chain_run_id"] for row in ledger(ctx, b)] == [root]
    assert [row["chain_run_id"] for row in ledger(ctx, c)] == [root]
    (run,) = ctx.store.db.table("chain_runs").rows
    assert run["run_id"] == root
    assert (run["root_app_id"], run["root_status"]) == (a, "succeeded")
    assert run["root_ended_at"] == format_time(tenant.now - timedelta(minutes=5))
    # The finish event of B, a reload this program started, recorded its outcome.
    (b_row,) = ledger(ctx, b)
    assert (b_row["reload_id"], b_row["outcome"]) == (b_reload, "succeeded")
    assert b_row["ended_at"] == format_time(tenant.now - timedelta(minutes=1))
    assert ledger(ctx, c)[0]["outcome"] is None  # started, not seen finished yet


def test_a_failed_started_reload_is_recorded_failed(ctx: SweepContext, tenant: FakeTenant) -> None:
    a, b, _ = three_hops(tenant)
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    (b_row,) = ledger(ctx, b)
    tenant.events.append(
        tenant.event(b, b_row["reload_id"], "error", tenant.now - timedelta(minutes=1))
    )
    run_sweep(ctx, tenant.now)
    assert ledger(ctx, b)[0]["outcome"] == "failed"


def test_an_external_reload_of_an_app_is_not_recorded_as_ours(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, b, _ = three_hops(tenant)
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    tenant.finish(b, status="error", at=tenant.now - timedelta(minutes=1))  # a schedule's
    run_sweep(ctx, tenant.now)
    assert ledger(ctx, b)[0]["outcome"] is None


def test_the_names_of_the_apps_looked_up_are_kept(ctx: SweepContext, tenant: FakeTenant) -> None:
    a, b, _ = three_hops(tenant)
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    names = {row["app_id"]: row["name"] for row in ctx.store.db.table("app_names").rows}
    assert names == {a: "App 1", b: "App 2"}


def test_the_reload_start_is_its_end_less_the_duration_of_its_event(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, b, _ = three_hops(tenant)
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    (b_row,) = ledger(ctx, b)
    ended = tenant.now - timedelta(minutes=1)
    event = tenant.event(b, b_row["reload_id"], "ok", ended)
    event["data"]["duration"] = 42_500  # milliseconds
    tenant.events.append(event)
    run_sweep(ctx, tenant.now)
    (b_row,) = ledger(ctx, b)
    assert b_row["reload_started_at"] == format_time(ended - timedelta(seconds=42.5))
    assert b_row["ended_at"] == format_time(ended)


def test_without_a_duration_the_reload_start_is_not_known(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, b, _ = three_hops(tenant)
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    finish_started(tenant, b)
    run_sweep(ctx, tenant.now)
    (b_row,) = ledger(ctx, b)
    assert (b_row["outcome"], b_row["reload_started_at"]) == ("succeeded", None)

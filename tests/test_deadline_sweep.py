"""Deadlines through the sweep: ``late`` once per app and day into the outbox, and ``status``."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta
from typing import Any

from jobs.alerts import KINDS, Alerting
from jobs.deadline_config import Deadline
from jobs.deadline_sweep import deadline_states
from jobs.sweep import SweepContext, run_sweep
from scheduler.alert_config import AlertRoute
from tests.fake_tenant import FakeTenant

RECEIVER = "json://127.0.0.1:9/alerts"  # never sent to here: the outbox is what is checked


def with_deadline(ctx: SweepContext, app_id: str, by: time) -> SweepContext:
    routes = (AlertRoute((RECEIVER,), frozenset(KINDS), repeat_minutes=0),)
    return replace(
        ctx,
        deadlines=(Deadline(app_id, by),),
        alerting=Alerting(routes, "https://tenant.example"),
    )


def installed_the_day_before(ctx: SweepContext, tenant: FakeTenant) -> None:
    """A first sweep a day earlier: the install day itself is never judged late."""
    run_sweep(ctx, tenant.now - timedelta(days=1))


def outbox(ctx: SweepContext, kind: str) -> list[dict[str, Any]]:
    rows = ctx.store.db.query("select * from alerts where kind = ?", [kind])
    return [dict(row) for row in rows]


def test_a_missed_deadline_raises_late_once_per_day(ctx: SweepContext, tenant: FakeTenant) -> None:
    a = tenant.add_app(1)
    ctx = with_deadline(ctx, a, time(9, 0))  # tenant.now is 10:00 UTC: past it
    installed_the_day_before(ctx, tenant)
    run_sweep(ctx, tenant.now)
    run_sweep(ctx, tenant.now + timedelta(minutes=5))

    (late,) = outbox(ctx, "late")
    assert late["app_id"] == a
    assert "no successful reload by 09:00 UTC" in late["message"]
    (day,) = ctx.store.db.table("deadline_days").rows
    assert (day["app_id"], day["met_at"]) == (a, None) and day["late_at"]


def test_a_success_before_the_deadline_meets_it(ctx: SweepContext, tenant: FakeTenant) -> None:
    a = tenant.add_app(1)
    tenant.finish(a, at=tenant.now - timedelta(minutes=90))  # 08:30
    ctx = with_deadline(ctx, a, time(9, 0))
    installed_the_day_before(ctx, tenant)
    run_sweep(ctx, tenant.now)

    assert outbox(ctx, "late") == []
    (state,) = deadline_states(ctx.store.db, ctx.store.where, ctx.deadlines, tenant.now)
    assert (state["state"], state["summary"]) == ("met", "met 08:30")


def test_before_the_deadline_nothing_is_late(ctx: SweepContext, tenant: FakeTenant) -> None:
    a = tenant.add_app(1)
    ctx = with_deadline(ctx, a, time(11, 0))
    installed_the_day_before(ctx, tenant)
    run_sweep(ctx, tenant.now)
    assert outbox(ctx, "late") == []
    (state,) = deadline_states(ctx.store.db, ctx.store.where, ctx.deadlines, tenant.now)
    assert state["state"] == "pending"


def test_a_dry_run_raises_no_late(ctx: SweepContext, tenant: FakeTenant) -> None:
    a = tenant.add_app(1)
    ctx = with_deadline(ctx, a, time(9, 0))
    installed_the_day_before(ctx, tenant)
    days_before = ctx.store.db.table("deadline_days").count
    run_sweep(ctx, tenant.now, dry_run=True)
    assert outbox(ctx, "late") == []
    assert ctx.store.db.table("deadline_days").count == days_before

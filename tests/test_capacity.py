"""max_active_reloads: the starts beyond the tenant's free capacity wait, in order, as deferred."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from jobs.capacity import cap_active
from jobs.decide import Candidate, Decision
from jobs.sweep import SweepContext, run_sweep
from qlik.client import connect
from qlik.limits import QLIK_LIMITS, RateLimiter, RateLimits
from scheduler.settings import Settings
from state.database import open_database
from state.store import Store
from tests.fake_tenant import TENANT, FakeTenant


def decision(app: str, action: str = "trigger") -> Decision:
    reason = "triggered" if action == "trigger" else "tolerance"
    return Decision(Candidate(app, ()), action, reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("active", "limit", "started"),
    [(None, 3, "abcd"), (0, None, "abcd"), (0, 3, "abc"), (2, 3, "a"), (3, 3, ""), (9, 3, "")],
)
def test_only_the_free_capacity_is_started_first_named_first(
    active: int | None, limit: int | None, started: str
) -> None:
    decisions = [decision("a"), decision("s", "skip"), decision("b"), decision("c"), decision("d")]

    capped = cap_active(decisions, active, limit)

    assert [d.app_id for d in capped if d.action == "trigger"] == list(started)
    deferred = [d.app_id for d in capped if d.reason == "deferred"]
    assert deferred == [app for app in "abcd" if app not in started]
    assert capped[1] == decisions[1]  # other skips untouched


def test_a_start_with_no_slot_within_60_s_is_deferred_then_started_once(
    tenant: FakeTenant,
) -> None:
    """Qlik's start budget spent: the third successor waits for a later sweep, never lost."""
    clock = [1000.0]
    limits = RateLimits(calls=dict(QLIK_LIMITS) | {"reload_start": 2})
    limiter = RateLimiter(limits, clock=lambda: clock[0], sleep=lambda _s: None)
    client = connect(TENANT, SecretStr("key"), sender_options={"limiter": limiter})
    settings = Settings(tenant_url=TENANT, api_key="key", tolerance_minutes=0)
    ctx = SweepContext(client, Store(open_database(":memory:")), settings)
    targets = [tenant.add_app(10 + n) for n in range(3)]
    source = tenant.add_app(1, tags=[f"next-{t}" for t in targets])
    tenant.finish(source, at=tenant.now - timedelta(minutes=5))

    first = run_sweep(ctx, tenant.now)

    assert tenant.started == targets[:2]
    assert [(o.decision, o.reason) for o in first.outcomes][2] == ("skipped", "deferred")
    assert first.exit_code == 0  # nothing failed: the start was never sent
    clock[0] += 301  # five minutes on, by the limiter's clock and the ledger's alike
    ctx.store.db.execute("update ledger set written_at = '2000-01-01T00:00:00.000Z'")
    ctx.store.db.conn.commit()
    tenant.now += timedelta(minutes=6)

    second = run_sweep(ctx, tenant.now)

    assert tenant.started == targets
    assert [(o.app_id, o.reason) for o in second.outcomes] == [(targets[2], "triggered")]
    client.close()


def test_max_active_reloads_defers_the_rest_then_starts_them_once(tenant: FakeTenant) -> None:
    """One reload already runs in the tenant; at most 2 at once: one start now, two later."""
    client = connect(TENANT, SecretStr("key"), sender_options={"sleep": lambda _s: None})
    settings = Settings(tenant_url=TENANT, api_key="key", tolerance_minutes=0, max_active_reloads=2)
    ctx = SweepContext(client, Store(open_database(":memory:")), settings)
    busy = tenant.add_app(99)
    tenant._reload(busy, "RELOADING", tenant.now - timedelta(minutes=1))
    targets = [tenant.add_app(10 + n) for n in range(3)]
    source = tenant.add_app(1, tags=[f"next-{t}" for t in targets])
    tenant.finish(source, at=tenant.now - timedelta(minutes=5))

    first = run_sweep(ctx, tenant.now)

    assert tenant.started == targets[:1]
    assert [o.reason for o in first.outcomes] == ["triggered", "deferred", "deferred"]
    assert first.exit_code == 0
    for row in tenant.reloads:
        row["status"] = "SUCCEEDED" if row["status"] in ("QUEUED", "RELOADING") else row["status"]
    tenant.now += timedelta(minutes=1)

    second = run_sweep(ctx, tenant.now)

    assert tenant.started == targets  # each once
    assert [(o.app_id, o.reason) for o in second.outcomes] == [
        (targets[1], "triggered"),
        (targets[2], "triggered"),
    ]
    client.close()

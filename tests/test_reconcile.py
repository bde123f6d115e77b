"""Interrupted starts are settled with the tenant before anything is decided again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from jobs.reconcile import SETTLE_DEPTH, this_start, was_started
from jobs.sweep import SweepContext, run_sweep
from qlik.client import connect
from qlik.models import Reload
from scheduler.settings import Settings
from state.database import open_database
from state.store import LedgerRow, Store
from tests.fake_tenant import TENANT, FakeTenant, age_intents

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def reload(ident: str, created: datetime) -> Reload:
    body = {"id": ident, "appId": "app", "status": "QUEUED", "creationTime": created.isoformat()}
    return Reload.model_validate(body)


def intent(previous: str | None = "old", source_end: datetime | None = T0) -> LedgerRow:
    return LedgerRow(
        "s1",
        "app",
        "pending",
        "intent",
        ("src",),
        ("r1",),
        state="intent",
        previous_reload_id=previous,
        source_end=source_end,
    )


@pytest.mark.parametrize(
    ("latest", "previous", "started"),
    [
        (None, None, False),  # the app never reloaded
        (reload("old", T0 + timedelta(minutes=1)), "old", False),  # still the reload known before
        (reload("other", T0 - timedelta(minutes=1)), None, False),  # older than the sources' end
        (reload("new", T0 + timedelta(seconds=1)), "old", True),
        (reload("new", T0), None, True),
    ],
)
def test_was_started(latest: Reload | None, previous: str | None, started: bool) -> None:
    assert was_started(intent(previous), latest) is started


@pytest.fixture
def ctx(tenant: FakeTenant) -> Iterator[SweepContext]:
    settings = Settings(tenant_url=TENANT, api_key="key", tolerance_minutes=0)
    db = open_database(":memory:")
    assert settings.api_key is not None
    client = connect(TENANT, settings.api_key, sender_options={"sleep": lambda _s: None})
    yield SweepContext(client, Store(db), settings)
    client.close()
    db.close()


def chain(tenant: FakeTenant) -> tuple[str, str]:
    """A tagged next-B; B fails its reloads (so "fresh" never hides a second start)."""
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    return a, b


def finish_active_reloads_as_failed(tenant: FakeTenant) -> None:
    for row in tenant.reloads:
        if row["status"] == "QUEUED":
            row["status"] = "FAILED"


def test_a_start_whose_answer_was_lost_is_confirmed_not_repeated(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    _, b = chain(tenant)
    tenant.accept_then_fail.add(b)

    first = run_sweep(ctx, tenant.now)

    assert [(o.decision, o.reason) for o in first.outcomes] == [("failed", "transient")]
    assert [row.app_id for row in ctx.store.unfinished_intents()] == [b]
    tenant.accept_then_fail.clear()
    finish_active_reloads_as_failed(tenant)
    tenant.now += timedelta(minutes=3)

    second = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]  # asked the tenant instead of starting it again
    assert second.outcomes == []
    assert ctx.store.unfinished_intents() == []
    (row,) = [d for d in ctx.store.recent_decisions() if d["state"] == "done"]
    assert (row["decision"], row["reload_id"]) == ("triggered", tenant.reloads[-1]["id"])
    assert second.api_calls.get("POST /api/v1/reloads") is None


def test_a_start_that_never_reached_the_tenant_is_made_once(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    _, b = chain(tenant)
    tenant.post_answers[b] = httpx.Response(503)

    run_sweep(ctx, tenant.now)
    del tenant.post_answers[b]
    tenant.now += timedelta(minutes=3)
    age_intents(ctx.store.db)  # its answer was lost: in flight until its window is over
    second = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]
    assert [(o.app_id, o.decision) for o in second.outcomes] == [(b, "triggered")]
    reasons = sorted(d["reason"] for d in ctx.store.recent_decisions())
    assert reasons == ["not_started", "triggered"]


def test_a_sweep_killed_after_its_intent_is_settled_by_the_next_one(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    """The state a kill -9 between POST and commit leaves: an intent and a new reload."""
    a, b = chain(tenant)
    run_sweep(ctx, tenant.now, dry_run=True)  # nothing recorded: the "killed" sweep's view
    source = tenant.reloads[0]
    ctx.store.record_intent(
        LedgerRow(
            "killed",
            b,
            "pending",
            "intent",
            (a,),
            (source["id"],),
            state="intent",
            source_end=tenant.now - timedelta(minutes=5),
        ),
        tenant.now,
    )
    tenant.started.append(b)
    tenant.reloads.append(
        tenant.reloads[0] | {"id": "rld-killed", "appId": b, "creationTime": tenant.now.isoformat()}
    )
    tenant.now += timedelta(minutes=3)

    after = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]
    assert after.outcomes == [] and after.exit_code == 0
    assert ctx.store.cursor() is not None


LAST = f"t{SETTLE_DEPTH - 1}"


def made_by(ident: str, user: str | None, minutes: int) -> Reload:
    body = {
        "id": ident,
        "appId": "app",
        "status": "FAILED",
        "creationTime": (T0 + timedelta(minutes=minutes)).isoformat(),
        "userId": user,
    }
    return Reload.model_validate(body)


@pytest.mark.parametrize(
    ("newest", "found"),
    [
        ([], None),
        ([made_by("theirs", "scheduler", 3)], None),  # a schedule's reload is not this start
        ([made_by("theirs", "scheduler", 3), made_by("ours", "me", 1)], "ours"),
        ([made_by("anon", None, 1)], "anon"),  # the tenant names no user: it may be ours
        ([made_by("ours", "me", 2), made_by("old", "me", -9)], "ours"),
        ([made_by("after", "me", 2), made_by("old", "me", 1)], "after"),  # "old": known before
        # A full listing of others' reloads: this start's may lie deeper; never start twice.
        (
            [made_by(f"t{n}", "scheduler", 20 - n) for n in range(SETTLE_DEPTH)],
            f"t{SETTLE_DEPTH - 1}",
        ),
    ],
)
def test_this_start_is_this_identitys_reload_after_the_sources(
    newest: list[Reload], found: str | None
) -> None:
    reload = this_start(intent(previous="old"), newest, "me")
    assert (reload.id if reload else None) == found

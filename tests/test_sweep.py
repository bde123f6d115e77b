"""The sweep end to end against a fake tenant (respx at the transport), with injected ``now``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from jobs.sweep import SweepContext, run_sweep
from qlik.client import connect
from scheduler.settings import Settings
from state.database import open_database
from state.store import Store
from tests.fake_tenant import TENANT, FakeTenant

NO_SLEEP = {"sleep": lambda _s: None}


@pytest.fixture
def ctx(tenant: FakeTenant) -> Iterator[SweepContext]:
    settings = Settings(tenant_url=TENANT, api_key="key", database=":memory:")
    db = open_database(":memory:")
    client = connect(TENANT, settings.api_key, sender_options=NO_SLEEP)  # type: ignore[arg-type]
    yield SweepContext(client, Store(db), settings)
    client.close()
    db.close()


def sweep(ctx: SweepContext, tenant: FakeTenant, **kwargs: object):  # type: ignore[no-untyped-def]
    return run_sweep(ctx, tenant.now, **kwargs)  # type: ignore[arg-type]


def decisions(report) -> dict[str, tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {o.app_id: (o.decision, o.reason) for o in report.outcomes}


def test_chain_unfolds_one_hop_per_sweep(ctx: SweepContext, tenant: FakeTenant) -> None:
    c1, c2, c3 = (tenant.add_app(n) for n in (11, 12, 13))
    b = tenant.add_app(2, tags=[f"next-{c1}", f"next-{c2}", f"next-{c3}"])
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=30))

    first = sweep(ctx, tenant)
    assert tenant.started == [b]
    assert decisions(first) == {b: ("triggered", "triggered")}
    assert first.exit_code == 0

    tenant.now += timedelta(minutes=15)
    tenant.finish(b)
    second = sweep(ctx, tenant)
    assert sorted(tenant.started) == sorted([b, c1, c2, c3])
    assert set(decisions(second)) == {c1, c2, c3}
    assert second.events_new == 1


def test_five_sources_naming_one_target_trigger_it_once(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    target = tenant.add_app(100)
    sources = [tenant.add_app(n, tags=[f"next-{target}"]) for n in range(1, 6)]
    for minutes, source in enumerate(sources):
        tenant.finish(source, at=tenant.now - timedelta(minutes=20 - minutes))

    report = sweep(ctx, tenant)

    assert tenant.started == [target]
    (outcome,) = report.outcomes
    assert outcome.candidate.source_apps == tuple(sources)
    assert report.sources == 5


def test_a_sweep_with_nothing_new_triggers_nothing(ctx: SweepContext, tenant: FakeTenant) -> None:
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=3))
    sweep(ctx, tenant)
    tenant.now += timedelta(minutes=2)

    again = sweep(ctx, tenant)

    assert tenant.started == [b]
    assert again.outcomes == []
    assert again.events_read == 1  # re-read through the overlap, recognised as handled
    assert again.events_new == 0
    assert again.api_calls == {"GET /api/v1/audits": 1}


def test_duplicate_events_of_one_reload_count_once(ctx: SweepContext, tenant: FakeTenant) -> None:
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5), copies=3)

    report = sweep(ctx, tenant)

    assert (report.events_read, report.events_new) == (3, 1)
    assert tenant.started == [b]


def test_failed_source_follows_only_onfail_tags(ctx: SweepContext, tenant: FakeTenant) -> None:
    on_success, on_failure = tenant.add_app(2), tenant.add_app(3)
    a = tenant.add_app(1, tags=[f"next-{on_success}", f"next-onfail-{on_failure}"])
    tenant.finish(a, status="error", at=tenant.now - timedelta(minutes=5))

    sweep(ctx, tenant)

    assert tenant.started == [on_failure]


def test_catch_up_reads_every_page_in_order(ctx: SweepContext, tenant: FakeTenant) -> None:
    target = tenant.add_app(100)
    sources = [tenant.add_app(n, tags=[f"next-{target}"]) for n in range(1, 51)]
    for i in range(250):
        tenant.finish(sources[i % 50], at=tenant.now - timedelta(minutes=50, seconds=-i))

    report = sweep(ctx, tenant)

    assert report.events_read == 250
    assert report.api_calls["GET /api/v1/audits"] == 3
    assert tenant.started == [target]


def test_transient_post_failure_keeps_the_event_for_next_sweep(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    b, c = tenant.add_app(2), tenant.add_app(3)
    a = tenant.add_app(1, tags=[f"next-{b}", f"next-{c}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    tenant.post_answers[c] = httpx.Response(503)

    failed = sweep(ctx, tenant)

    assert failed.exit_code == 1
    assert decisions(failed) == {b: ("triggered", "triggered"), c: ("failed", "transient")}
    assert ctx.store.cursor() == tenant.now - timedelta(minutes=5)

    del tenant.post_answers[c]
    tenant.now += timedelta(minutes=2)
    retried = sweep(ctx, tenant)

    assert retried.exit_code == 0
    assert decisions(retried) == {c: ("triggered", "triggered")}
    assert tenant.started == [b, c]
    assert ctx.store.cursor() == tenant.now


def test_dry_run_starts_nothing_and_records_nothing(ctx: SweepContext, tenant: FakeTenant) -> None:
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))

    report = sweep(ctx, tenant, dry_run=True)

    assert decisions(report) == {b: ("triggered", "triggered")}
    assert tenant.started == []
    assert ctx.store.cursor() is None
    assert ctx.store.recent_sweeps() == []
    assert ctx.store.recent_decisions() == []


def test_api_calls_for_250_events_from_50_sources_with_20_successors(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    """The figure quoted in issue 2's closing note, counted by the client per endpoint."""
    successors = [tenant.add_app(100 + n) for n in range(20)]
    sources = [tenant.add_app(n, tags=[f"next-{successors[n % 20]}"]) for n in range(50)]
    for i in range(250):
        tenant.finish(sources[i % 50], at=tenant.now - timedelta(minutes=50, seconds=-i))

    report = sweep(ctx, tenant)

    assert report.api_calls == {
        "GET /api/v1/audits": 3,  # 250 events, 100 a page
        "GET /api/v1/items": 2,  # tags of 50 sources, then facts of 20 successors
        # One tenant-wide listing, newest first, stopping at the oldest source reload's end:
        # 130 of the 250 source reloads were created after it, so two pages of 100.
        "GET /api/v1/reloads": 2,
        "POST /api/v1/reloads": 20,
    }
    assert sorted(tenant.started) == sorted(successors)

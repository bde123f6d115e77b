"""The sweep end to end against a fake tenant (respx at the transport), with injected ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from jobs.sweep import SweepContext, run_sweep
from qlik.budget import Budget
from qlik.client import connect
from qlik.times import parse_time
from scheduler.settings import Settings
from state.database import StateError, open_database
from state.lease import Fence
from state.store import LedgerRow, Store
from tests.fake_tenant import TENANT, FakeTenant, age_intents
from tests.sweeping import NO_SLEEP, outcomes


def sweep(ctx: SweepContext, tenant: FakeTenant, **kwargs: object):  # type: ignore[no-untyped-def]
    return run_sweep(ctx, tenant.now, **kwargs)  # type: ignore[arg-type]


def a_names_b_and_c(tenant: FakeTenant) -> tuple[str, str, datetime]:
    """A, tagged to start B then C, finished 5 minutes ago: B, C and when A finished."""
    b, c = tenant.add_app(2), tenant.add_app(3)
    a = tenant.add_app(1, tags=[f"next-{b}", f"next-{c}"])
    a_finished = tenant.now - timedelta(minutes=5)
    tenant.finish(a, at=a_finished)
    return b, c, a_finished


def test_chain_unfolds_one_hop_per_sweep(ctx: SweepContext, tenant: FakeTenant) -> None:
    c1, c2, c3 = (tenant.add_app(n) for n in (11, 12, 13))
    b = tenant.add_app(2, tags=[f"next-{c1}", f"next-{c2}", f"next-{c3}"])
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=30))

    first = sweep(ctx, tenant)
    assert tenant.started == [b]
    assert outcomes(first) == {b: ("triggered", "triggered")}
    assert first.exit_code == 0

    tenant.now += timedelta(minutes=15)
    tenant.finish(b)
    second = sweep(ctx, tenant)
    assert sorted(tenant.started) == sorted([b, c1, c2, c3])
    assert set(outcomes(second)) == {c1, c2, c3}
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
    b, c, a_finished = a_names_b_and_c(tenant)
    tenant.post_answers[c] = httpx.Response(503)

    failed = sweep(ctx, tenant)

    assert failed.exit_code == 1
    assert outcomes(failed) == {b: ("triggered", "triggered"), c: ("failed", "transient")}
    assert ctx.store.cursor() == a_finished

    del tenant.post_answers[c]
    tenant.now += timedelta(minutes=2)
    age_intents(ctx.store.db)  # the lost answer's in-flight window is over
    retried = sweep(ctx, tenant)

    assert retried.exit_code == 0
    assert outcomes(retried) == {c: ("triggered", "triggered")}
    assert tenant.started == [b, c]
    # Only the tenant's times move the cursor: up to the newest event read, not to "now".
    assert ctx.store.cursor() == a_finished


def test_dry_run_starts_nothing_and_records_nothing(ctx: SweepContext, tenant: FakeTenant) -> None:
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))

    report = sweep(ctx, tenant, dry_run=True)

    assert outcomes(report) == {b: ("triggered", "triggered")}
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
        # One tenant-wide listing, newest first, read back to each successor's own horizon
        # (its newest source end less 2 minutes: within the newest 21 reloads), so one page;
        # none of the successors has a reload there, so one listing of active reloads follows.
        "GET /api/v1/reloads": 2,
        # Before starting anything, a new database lists the native tasks (one page, none).
        "GET /api/scheduling/tasks": 1,
        "POST /api/v1/reloads": 20,
    }
    assert sorted(tenant.started) == sorted(successors)


UNAUTHORIZED = httpx.Response(401, json={"errors": [{"code": "HTTP-401", "title": "Unauthorized"}]})


def test_401_on_a_later_start_commits_the_earlier_start_and_exits_2(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    b, c, a_finished = a_names_b_and_c(tenant)
    tenant.post_answers[c] = UNAUTHORIZED

    refused = sweep(ctx, tenant)

    assert refused.exit_code == 2
    assert outcomes(refused) == {b: ("triggered", "triggered"), c: ("failed", "auth")}
    started_b = refused.outcomes[0].reload_id
    assert started_b is not None
    ledger = {row["app_id"]: row for row in ctx.store.recent_decisions()}
    assert (ledger[b]["decision"], ledger[b]["state"], ledger[b]["reload_id"]) == (
        "triggered",
        "done",
        started_b,
    )
    assert (ledger[c]["decision"], ledger[c]["reason"]) == ("failed", "auth")
    assert ctx.store.cursor() == a_finished  # A's event is read again next sweep
    assert ctx.store.recent_sweeps()[0]["exit_code"] == 2

    del tenant.post_answers[c]  # the key is fixed
    tenant.now += timedelta(minutes=2)
    fixed = sweep(ctx, tenant)

    assert fixed.exit_code == 0
    assert outcomes(fixed) == {c: ("triggered", "triggered")}
    assert tenant.started == [b, c]


def test_after_a_401_no_further_start_is_attempted_in_that_sweep(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    b, c, d = tenant.add_app(2), tenant.add_app(3), tenant.add_app(4)
    a = tenant.add_app(1, tags=[f"next-{b}", f"next-{c}", "next-" + "0" * 24, f"next-{d}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    tenant.post_answers[b] = UNAUTHORIZED

    refused = sweep(ctx, tenant)

    assert refused.exit_code == 2
    assert outcomes(refused) == {
        b: ("failed", "auth"),
        c: ("failed", "auth"),
        "0" * 24: ("skipped", "not_found"),
        d: ("failed", "auth"),
    }
    assert all(o.retry for o in refused.outcomes if o.reason == "auth")
    assert refused.api_calls["POST /api/v1/reloads"] == 1
    assert tenant.started == []


def test_database_busy_before_a_start_fails_only_that_successor(
    ctx: SweepContext, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    b, c = tenant.add_app(2), tenant.add_app(3)
    a = tenant.add_app(1, tags=[f"next-{c}", f"next-{b}"])
    a_finished = tenant.now - timedelta(minutes=5)
    tenant.finish(a, at=a_finished)
    record_intent = ctx.store.record_intent

    def busy_for_c(row: LedgerRow, now: datetime, fence: Fence | None = None) -> None:
        if row.app_id == c:
            raise StateError("state database :memory:: database is locked")
        record_intent(row, now, fence)

    monkeypatch.setattr(ctx.store, "record_intent", busy_for_c)

    report = sweep(ctx, tenant)

    assert report.exit_code == 1
    assert outcomes(report) == {c: ("failed", "transient"), b: ("triggered", "triggered")}
    assert tenant.started == [b]  # no start without its intent in the ledger
    assert report.api_calls["POST /api/v1/reloads"] == 1
    assert ctx.store.cursor() == a_finished

    monkeypatch.undo()
    tenant.now += timedelta(minutes=2)
    assert outcomes(sweep(ctx, tenant)) == {c: ("triggered", "triggered")}
    assert tenant.started == [b, c]


def test_cursor_follows_the_tenants_clock_when_the_local_clock_runs_ahead(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    """This server's clock is 7 minutes ahead of the tenant's: more than the 5-minute overlap."""
    ahead = timedelta(minutes=7)
    b, c = tenant.add_app(2), tenant.add_app(3)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    x = tenant.add_app(5, tags=[f"next-{c}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=1))

    first = run_sweep(ctx, tenant.now + ahead)
    assert outcomes(first) == {b: ("triggered", "triggered")}

    # One minute after the first sweep's newest event, on the tenant's clock, x finishes:
    # its event did not exist yet when the first sweep read the audits.
    x_finished = tenant.now + timedelta(minutes=1)
    tenant.now += timedelta(minutes=10)
    tenant.finish(x, at=x_finished)

    second = run_sweep(ctx, tenant.now + ahead)

    assert second.window_from <= x_finished
    assert outcomes(second) == {c: ("triggered", "triggered")}
    assert tenant.started == [b, c]


def test_error_then_ok_of_one_reload_in_one_sweep_fire_both_edges_once(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    on_ok, on_fail = tenant.add_app(2), tenant.add_app(3)
    a = tenant.add_app(1, tags=[f"next-{on_ok}", f"next-onfail-{on_fail}"])
    reload_id = tenant.finish(a, status="error", at=tenant.now - timedelta(minutes=6))
    # The engine retried the reload under the same reload id, and this time it succeeded.
    tenant.events.append(tenant.event(a, reload_id, "ok", tenant.now - timedelta(minutes=4)))

    report = sweep(ctx, tenant)

    assert report.events_new == 2
    assert outcomes(report) == {
        on_ok: ("triggered", "triggered"),
        on_fail: ("triggered", "triggered"),
    }
    tenant.now += timedelta(minutes=2)
    again = sweep(ctx, tenant)
    assert (again.events_read, again.events_new, again.outcomes) == (2, 0, [])
    assert sorted(tenant.started) == sorted([on_ok, on_fail])


def test_error_then_ok_of_one_reload_across_sweeps_fire_both_edges_once(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    on_ok, on_fail = tenant.add_app(2), tenant.add_app(3)
    a = tenant.add_app(1, tags=[f"next-{on_ok}", f"next-onfail-{on_fail}"])
    reload_id = tenant.finish(a, status="error", at=tenant.now - timedelta(minutes=5))

    first = sweep(ctx, tenant)
    assert outcomes(first) == {on_fail: ("triggered", "triggered")}

    tenant.now += timedelta(minutes=3)
    tenant.events.append(tenant.event(a, reload_id, "ok", tenant.now - timedelta(minutes=1)))
    second = sweep(ctx, tenant)
    assert outcomes(second) == {on_ok: ("triggered", "triggered")}

    tenant.now += timedelta(minutes=2)
    third = sweep(ctx, tenant)
    assert (third.events_new, third.outcomes) == (0, [])
    assert tenant.started == [on_fail, on_ok]


def test_sweep_record_has_its_finish_time(ctx: SweepContext, tenant: FakeTenant) -> None:
    report = sweep(ctx, tenant)
    (record,) = ctx.store.recent_sweeps()
    finished = parse_time(record["finished_at"])
    assert finished == tenant.now + timedelta(seconds=round(report.duration_s, 3))


def test_past_max_sweep_minutes_a_sweep_makes_no_new_call_commits_and_exits_1(
    tenant: FakeTenant,
) -> None:
    """The sweep's budget runs out after the first start: the second is never sent."""
    clock = [0.0]
    settings = Settings(tenant_url=TENANT, api_key="key", tolerance_minutes=0)
    client = connect(
        TENANT, SecretStr("key"), sender_options=NO_SLEEP, budget=Budget(clock=lambda: clock[0])
    )
    ctx = SweepContext(client, Store(open_database(":memory:")), settings)
    b, c, _ = a_names_b_and_c(tenant)

    def thirty_one_minutes_pass(_app: str) -> None:
        clock[0] += 31 * 60

    tenant.on_start = thirty_one_minutes_pass
    first = sweep(ctx, tenant)

    assert tenant.started == [b]
    assert outcomes(first) == {b: ("triggered", "triggered"), c: ("failed", "transient")}
    assert first.exit_code == 1
    assert ctx.store.unfinished_intents() == []  # never sent, so nothing to settle
    tenant.on_start = None
    tenant.now += timedelta(minutes=1)

    second = sweep(ctx, tenant)

    assert tenant.started == [b, c]
    assert outcomes(second) == {c: ("triggered", "triggered")}
    assert second.exit_code == 0
    client.close()

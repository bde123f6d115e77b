"""jobs.native_sweep: when a sweep lists the native tasks, what it decides with them, what it
keeps and alerts; first its functions (respx at the transport), then whole sweeps against the
FakeTenant, with ``now`` passed explicitly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from jobs.alerts import KINDS, NATIVE_TASK_DISABLED, Alerting
from jobs.decide import AppFacts, TenantFacts
from jobs.edges import Edge
from jobs.native_sweep import ASK_AGAIN_AFTER_REFUSAL, decide_beside_native, read_native
from jobs.report import SweepReport
from jobs.sweep import SweepContext, run_sweep
from qlik.client import QlikClient
from qlik.errors import RetryableError
from qlik.events import FinishedReload
from qlik.tasks import NativeTask, TaskModel, native_task
from scheduler.alert_config import AlertRoute
from state.database import open_database
from state.native_tasks import NativeTaskStore
from state.rows import NativeSnapshot
from state.store import Store
from tests.fake_tenant import FakeTenant
from tests.native_rows import task_json
from tests.sweeping import finish_started, outcomes

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
C = "cccccccc-0000-4000-8000-000000000003"
A_ENDED = NOW - timedelta(minutes=5)
TASKS = "/api/scheduling/tasks"
LISTING = f"GET {TASKS}"
RECEIVER = "json://127.0.0.1:9/alerts"  # never sent to here: the outbox is what is checked


@dataclass(frozen=True)
class Knobs:
    tolerance_minutes: int = 10
    only_managed_spaces: bool = False
    max_active_reloads: int | None = None
    native_tasks_refresh_minutes: int = 15


@pytest.fixture
def store() -> Iterator[Store]:
    db = open_database(":memory:")
    yield Store(db)
    db.close()


def page(rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, json={"data": rows, "links": {}})


def a_run(reload_id: str = "rld-a") -> FinishedReload:
    return FinishedReload("ev-a", A_ENDED, A, reload_id, "success", A_ENDED)


def a_names_b_and_c(**kwargs: Any) -> TenantFacts:
    edges = {A: [Edge(A, B, "success", "tag"), Edge(A, C, "success", "tag")]}
    return TenantFacts(**{"edges": edges, "apps": {B: AppFacts(B), C: AppFacts(C)}} | kwargs)


def scheduled_a(ended: datetime = A_ENDED) -> dict[str, Any]:
    return task_json("t-a", A, last_run_ended=ended)


def b_after_a(**kwargs: Any) -> dict[str, Any]:
    return task_json("t-b", B, after="t-a", after_app=A, **kwargs)


def kept(store: Store, at: datetime, *tasks: NativeTask, refused: bool = False) -> None:
    NativeTaskStore.of(store).keep(NativeSnapshot(at, None if refused else tasks))


def warnings(logged: list[str]) -> list[str]:
    return [line for line in logged if line.startswith("WARNING") and TASKS in line]


# --- decide_beside_native / read_native --------------------------------------------------------


def test_nothing_to_start_lists_nothing(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    facts = a_names_b_and_c(apps={})  # B and C not found: nothing to start
    decisions, read = decide_beside_native(client, store, [a_run()], facts, Knobs(), now=NOW)
    assert {d.reason for d in decisions} == {"not_found"}
    assert (read.native, read.snapshot, read.alerts) == (None, None, [])
    assert client.calls == {}


def test_a_successor_with_a_firing_task_is_skipped_and_the_other_started(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    route = router.get(TASKS).mock(return_value=page([scheduled_a(), b_after_a()]))

    decisions, read = decide_beside_native(
        client, store, [a_run()], a_names_b_and_c(), Knobs(), now=NOW
    )

    assert {d.app_id: (d.action, d.reason) for d in decisions} == {
        B: ("skip", "native_task"),
        C: ("trigger", "triggered"),
    }
    assert route.call_count == 1
    assert read.snapshot is not None and read.snapshot.read_at == NOW
    assert [task.task_id for task in read.snapshot.tasks or ()] == ["t-a", "t-b"]


def test_a_source_reload_reload_chain_started_fires_no_task(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    router.get(TASKS).mock(return_value=page([scheduled_a(), b_after_a()]))
    facts = a_names_b_and_c(lineage={"rld-a": frozenset({A, "x"})})
    decisions, _ = decide_beside_native(client, store, [a_run()], facts, Knobs(), now=NOW)
    assert {d.reason for d in decisions} == {"triggered"}


def test_a_fresh_kept_listing_without_the_successors_serves(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    other = NativeTask("t-x", "x", "x-app", True)
    kept(store, NOW - timedelta(minutes=14, seconds=59), other)

    read = read_native(client, store, {B, C}, Knobs(), NOW)

    assert read.native is not None and read.native.tasks == (other,)
    assert (read.snapshot, read.alerts) == (None, [])
    assert client.calls == {}


def test_a_kept_listing_as_old_as_the_refresh_is_listed_again(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    kept(store, NOW - timedelta(minutes=15), NativeTask("t-x", "x", "x-app", True))
    route = router.get(TASKS).mock(return_value=page([]))
    read = read_native(client, store, {B}, Knobs(), NOW)
    assert route.call_count == 1
    assert read.snapshot == NativeSnapshot(NOW, (), {})


def test_a_kept_listing_with_a_task_of_a_successor_is_listed_again(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    kept(store, NOW - timedelta(minutes=1), NativeTask("t-b", "b", B, False, "MANUALLY"))
    route = router.get(TASKS).mock(return_value=page([b_after_a()]))
    read = read_native(client, store, {B}, Knobs(), NOW)
    assert route.call_count == 1
    assert read.native is not None and read.native.by_app[B][0].enabled


def test_refresh_zero_lists_in_every_sweep(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    kept(store, NOW, NativeTask("t-x", "x", "x-app", True))
    route = router.get(TASKS).mock(return_value=page([]))
    read_native(client, store, {B}, Knobs(native_tasks_refresh_minutes=0), NOW)
    assert route.call_count == 1


def test_a_refused_listing_is_remembered_and_said_once(
    router: respx.MockRouter, client: QlikClient, store: Store, logged: list[str]
) -> None:
    router.get(TASKS).respond(403, json={"errors": [{"code": "HTTP-403", "title": "Forbidden"}]})

    read = read_native(client, store, {B}, Knobs(), NOW)

    assert (read.native, read.snapshot, read.alerts) == (None, NativeSnapshot(NOW, None), [])
    (warning,) = warnings(logged)
    assert "may not list native reload tasks" in warning and "asked again in a day" in warning


def test_after_a_refusal_the_tasks_are_not_asked_for_a_day(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    kept(store, NOW - timedelta(minutes=1), NativeTask("t-b", "b", B, True), refused=True)
    kept(store, NOW, refused=True)
    route = router.get(TASKS).mock(return_value=page([b_after_a()]))

    almost = NOW + ASK_AGAIN_AFTER_REFUSAL - timedelta(seconds=1)
    assert read_native(client, store, {B}, Knobs(), almost).native is None
    assert route.call_count == 0

    read = read_native(client, store, {B}, Knobs(), NOW + ASK_AGAIN_AFTER_REFUSAL)
    assert route.call_count == 1
    assert read.native is not None and [t.task_id for t in read.native.tasks] == ["t-b"]


def test_a_failed_listing_holds_back_a_successor_the_kept_listing_gave_a_task(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    route = router.get(TASKS).respond(503)
    stale = NOW - timedelta(hours=1)
    kept(store, stale, native_task(TaskModel.model_validate(b_after_a())))
    with pytest.raises(RetryableError, match="native reload tasks could not be listed"):
        decide_beside_native(client, store, [a_run()], a_names_b_and_c(), Knobs(), now=NOW)
    assert route.call_count == 4  # one call and the client's three retries


@pytest.mark.parametrize("answer", [503, 400])
def test_a_failed_listing_otherwise_decides_without_the_tasks_and_warns(
    router: respx.MockRouter,
    client: QlikClient,
    store: Store,
    answer: int,
    logged: list[str],
) -> None:
    # An optional API that fails must not stop every chain: at worst a reload twice.
    router.get(TASKS).respond(answer, json={"errors": [{"code": "X", "title": "broken"}]})
    decisions, read = decide_beside_native(
        client, store, [a_run()], a_names_b_and_c(), Knobs(), now=NOW
    )
    assert {d.app_id: d.reason for d in decisions} == {B: "triggered", C: "triggered"}
    assert (read.native, read.snapshot) == (None, None)
    assert any("decided without them" in line for line in logged)


def test_a_newly_disabled_task_alerts_once_and_again_when_its_code_changes(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    disabled = b_after_a(enabled=False, disabled_code="CONSECUTIVE-FAILURES")
    route = router.get(TASKS).mock(return_value=page([scheduled_a(), disabled]))

    first = read_native(client, store, {C}, Knobs(), NOW)

    (cause,) = first.alerts
    assert (cause.kind, cause.app_id) == (NATIVE_TASK_DISABLED, B)
    assert cause.reason == (
        'native task "Reload t-b" (t-b) is disabled: CONSECUTIVE-FAILURES'
        f"; it no longer reloads this app after {A}"
    )
    assert first.snapshot is not None
    assert first.snapshot.problems == {"t-b": "disabled:CONSECUTIVE-FAILURES"}

    NativeTaskStore.of(store).keep(first.snapshot)  # as the sweep's commit does
    later = NOW + timedelta(minutes=20)
    assert read_native(client, store, {C}, Knobs(), later).alerts == []

    moved = b_after_a(enabled=False, disabled_code="OWNER-MOVED")
    route.mock(return_value=page([scheduled_a(), moved]))
    (changed,) = read_native(client, store, {C}, Knobs(), later).alerts
    assert "is disabled: OWNER-MOVED;" in changed.reason
    assert route.call_count == 3


def test_a_task_disabled_by_hand_raises_nothing_but_is_kept_as_known(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    manual = b_after_a(enabled=False, disabled_code="MANUALLY")
    router.get(TASKS).mock(return_value=page([scheduled_a(), manual]))
    read = read_native(client, store, {C}, Knobs(), NOW)
    assert read.alerts == []
    assert read.snapshot is not None and read.snapshot.problems == {"t-b": "disabled:MANUALLY"}


def test_a_task_whose_upstream_is_gone_alerts(
    router: respx.MockRouter, client: QlikClient, store: Store
) -> None:
    router.get(TASKS).mock(return_value=page([b_after_a()]))  # task t-a was deleted
    (cause,) = read_native(client, store, {C}, Knobs(), NOW).alerts
    assert (cause.kind, cause.app_id) == (NATIVE_TASK_DISABLED, B)
    assert cause.reason.startswith('native task "Reload t-b" (t-b) waits on task t-a, which no')


# --- whole sweeps --------------------------------------------------------------------------------


def sweep(ctx: SweepContext, tenant: FakeTenant) -> SweepReport:
    return run_sweep(ctx, tenant.now)


def listings(report: SweepReport) -> int:
    return report.api_calls.get(LISTING, 0)


def chain(tenant: FakeTenant, source: int, *targets: int) -> tuple[str, list[str]]:
    """App ``source`` tagged to start each of ``targets``: its id and theirs."""
    ids = [tenant.add_app(n) for n in targets]
    return tenant.add_app(source, tags=[f"next-{target}" for target in ids]), ids


def test_an_idle_sweep_makes_no_tasks_call(ctx: SweepContext, tenant: FakeTenant) -> None:
    tenant.tasks = [task_json("t-x", tenant.add_app(9))]
    assert sweep(ctx, tenant).api_calls == {"GET /api/v1/audits": 1}


def test_a_sweep_with_nothing_to_start_makes_no_tasks_call(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a = tenant.add_app(1, tags=["next-" + "0" * 24])  # names a script that does not exist
    tenant.tasks = [task_json("t-a", a)]
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    report = sweep(ctx, tenant)
    assert outcomes(report) == {"0" * 24: ("skipped", "not_found")}
    assert listings(report) == 0


def test_a_kept_listing_serves_15_minutes_while_no_successor_has_a_task(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    tenant.tasks = [task_json("t-x", tenant.add_app(9))]
    pairs = [chain(tenant, source, source + 100) for source in (1, 2, 3)]
    started = tenant.now

    def next_source_ends(pair: int, minutes: int) -> SweepReport:
        tenant.now = started + timedelta(minutes=minutes)
        tenant.finish(pairs[pair][0], at=tenant.now - timedelta(minutes=1))
        return sweep(ctx, tenant)

    assert listings(next_source_ends(0, 0)) == 1
    assert listings(next_source_ends(1, 14)) == 0  # 14 minutes after the listing
    assert listings(next_source_ends(2, 16)) == 1
    assert tenant.started == [target for _, (target,) in pairs]


def test_a_kept_listing_with_a_task_of_the_successor_is_listed_again(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, (b,) = chain(tenant, 1, 2)
    # B's task fires after A's task, whose newest run long predates A's reloads here (hub).
    tenant.tasks = [scheduled_on(a, tenant.now - timedelta(days=1)), task_after(b, a)]
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    first = sweep(ctx, tenant)
    finish_started(tenant, b)
    tenant.now += timedelta(minutes=12)  # past B's tolerance, within the listing's 15 minutes
    tenant.finish(a, at=tenant.now - timedelta(minutes=1))
    second = sweep(ctx, tenant)

    assert (listings(first), listings(second)) == (1, 1)
    assert tenant.started == [b, b]


def scheduled_on(app: str, ended: datetime) -> dict[str, Any]:
    return task_json("t-a", app, last_run_ended=ended)


def task_after(app: str, upstream_app: str, **kwargs: Any) -> dict[str, Any]:
    return task_json(f"t-{app[-2:]}", app, after="t-a", after_app=upstream_app, **kwargs)


def test_a_successor_a_native_task_starts_is_skipped_the_other_started(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, (b, c) = chain(tenant, 1, 2, 3)
    a_ended = tenant.now - timedelta(minutes=5)
    tenant.finish(a, at=a_ended)
    tenant.tasks = [scheduled_on(a, a_ended), task_after(b, a)]  # A's task ran that reload

    report = sweep(ctx, tenant)

    assert outcomes(report) == {b: ("skipped", "native_task"), c: ("triggered", "triggered")}
    assert tenant.started == [c]
    assert listings(report) == 1
    ledger = {row["app_id"]: row["reason"] for row in ctx.store.recent_decisions()}
    assert ledger == {b: "native_task", c: "triggered"}

    tenant.now += timedelta(minutes=2)
    again = sweep(ctx, tenant)
    assert (again.outcomes, tenant.started) == ([], [c])


def test_a_source_reload_reload_chain_started_does_not_fire_the_native_task(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, (b,) = chain(tenant, 1, 2)
    x = tenant.add_app(9, tags=[f"next-{a}"])  # X -> A (reload-chain) -> B (tag, native task)
    tenant.tasks = [scheduled_on(a, tenant.now - timedelta(days=1)), task_after(b, a)]
    tenant.finish(x, at=tenant.now - timedelta(minutes=5))
    assert outcomes(sweep(ctx, tenant)) == {a: ("triggered", "triggered")}

    tenant.now += timedelta(minutes=5)
    a_ended = tenant.now - timedelta(minutes=1)
    finish_started(tenant, a, a_ended)
    # A's task also has a run ending then: only who started this reload tells them apart.
    tenant.tasks[0] = scheduled_on(a, a_ended)
    second = sweep(ctx, tenant)

    assert outcomes(second) == {b: ("triggered", "triggered")}
    assert listings(second) == 1
    assert tenant.started == [a, b]


def test_a_disabled_native_task_does_not_suppress_the_start(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, (b,) = chain(tenant, 1, 2)
    a_ended = tenant.now - timedelta(minutes=5)
    tenant.finish(a, at=a_ended)
    tenant.tasks = [
        scheduled_on(a, a_ended),
        task_after(b, a, enabled=False, disabled_code="CONSECUTIVE-FAILURES"),
    ]
    report = sweep(ctx, tenant)
    assert outcomes(report) == {b: ("triggered", "triggered")}
    assert (listings(report), tenant.started) == (1, [b])


def test_a_refused_listing_starts_normally_warns_once_and_is_not_asked_for_a_day(
    ctx: SweepContext, tenant: FakeTenant, logged: list[str]
) -> None:
    pairs = [chain(tenant, source, source + 100) for source in (1, 2, 3)]
    tenant.tasks_answer = httpx.Response(403, json={"errors": [{"code": "HTTP-403"}]})
    started = tenant.now

    def next_source_ends(pair: int, after: timedelta) -> SweepReport:
        tenant.now = started + after
        tenant.finish(pairs[pair][0], at=tenant.now - timedelta(minutes=1))
        return sweep(ctx, tenant)

    first = next_source_ends(0, timedelta(0))
    second = next_source_ends(1, timedelta(hours=23, minutes=59))

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert (listings(first), listings(second)) == (1, 0)
    assert len(warnings(logged)) == 1
    tenant.tasks_answer = None
    third = next_source_ends(2, timedelta(days=1))
    assert listings(third) == 1
    assert tenant.started == [target for _, (target,) in pairs]


def with_alerts(ctx: SweepContext) -> SweepContext:
    routes = (AlertRoute((RECEIVER,), frozenset(KINDS), repeat_minutes=0),)
    return replace(ctx, alerting=Alerting(routes, "https://tenant.example"))


def raised(ctx: SweepContext) -> list[dict[str, Any]]:
    rows = ctx.store.db.query("select * from alerts where kind = ?", [NATIVE_TASK_DISABLED])
    return [dict(row) for row in rows]


def test_a_task_newly_disabled_alerts_once_per_change(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    ctx = with_alerts(ctx)
    pairs = [chain(tenant, source, source + 100) for source in (1, 2, 3, 4)]
    d = tenant.add_app(50)
    failing = task_after(d, pairs[0][0], enabled=False, disabled_code="CONSECUTIVE-FAILURES")
    tenant.tasks = [scheduled_on(pairs[0][0], tenant.now), failing]
    started = tenant.now

    def next_source_ends(pair: int, minutes: int) -> SweepReport:
        tenant.now = started + timedelta(minutes=minutes)
        tenant.finish(pairs[pair][0], at=tenant.now - timedelta(minutes=1))
        return sweep(ctx, tenant)

    assert listings(next_source_ends(0, 0)) == 1
    (alert,) = raised(ctx)
    assert alert["app_id"] == d
    assert "is disabled: CONSECUTIVE-FAILURES" in alert["message"]

    assert listings(next_source_ends(1, 20)) == 1  # unchanged: raised before
    assert len(raised(ctx)) == 1

    tenant.tasks[1] = task_after(d, pairs[0][0], enabled=False, disabled_code="OWNER-MOVED")
    assert listings(next_source_ends(2, 40)) == 1
    assert [("OWNER-MOVED" in row["message"]) for row in raised(ctx)] == [False, True]

    assert listings(next_source_ends(3, 60)) == 1
    assert len(raised(ctx)) == 2


def test_a_task_disabled_by_hand_raises_no_alert(ctx: SweepContext, tenant: FakeTenant) -> None:
    ctx = with_alerts(ctx)
    a, _ = chain(tenant, 1, 2)
    d = tenant.add_app(50)
    tenant.tasks = [
        scheduled_on(a, tenant.now),
        task_after(d, a, enabled=False, disabled_code="MANUALLY"),
    ]
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    report = sweep(ctx, tenant)
    assert listings(report) == 1
    assert raised(ctx) == []


def test_a_503_on_the_listing_leaves_every_event_for_the_next_sweep_when_a_task_was_kept(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, (b, c) = chain(tenant, 1, 2, 3)
    a_ended = tenant.now - timedelta(minutes=5)
    # An earlier listing gave B a native task: only the tenant can say whether it fires now.
    b_task = native_task(TaskModel.model_validate(task_json("t-b", b, after="t-x")))
    kept(ctx.store, tenant.now - timedelta(hours=1), b_task)
    tenant.finish(a, at=a_ended)
    tenant.tasks_answer = httpx.Response(503)

    failed = sweep(ctx, tenant)

    assert failed.exit_code == 1
    assert (failed.outcomes, tenant.started) == ([], [])
    assert listings(failed) == 4  # one call and the client's three retries
    assert "POST /api/v1/reloads" not in failed.api_calls
    assert ctx.store.cursor() == a_ended  # A's event is read again
    assert ctx.store.recent_decisions() == []

    tenant.tasks_answer = None
    tenant.now += timedelta(minutes=2)
    retried = sweep(ctx, tenant)
    assert (retried.exit_code, retried.events_new) == (0, 1)
    assert outcomes(retried) == {b: ("triggered", "triggered"), c: ("triggered", "triggered")}

    tenant.now += timedelta(minutes=2)
    assert sweep(ctx, tenant).outcomes == []
    assert sorted(tenant.started) == sorted([b, c])

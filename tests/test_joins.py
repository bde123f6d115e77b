"""Joins: reload the target once every member succeeded in the window, after its last reload.

First the pure rules (``join_complete`` and ``decide`` with an injected ``now``), then whole
sweeps against the respx fake tenant: across sweeps, after downtime, and the two ways a
member's success can be too old.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobs.chainfile import ChainFile
from jobs.decide import AppFacts, TenantFacts, decide, join_complete
from jobs.edges import Edge, Join
from jobs.sweep import SweepContext, run_sweep
from qlik.events import FinishedReload
from qlik.models import Reload
from qlik.times import format_time
from scheduler.settings import Settings
from tests.fake_tenant import TENANT, FakeTenant
from tests.sweeping import NO_SLEEP, finish_started, outcomes, sweep_context

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
M1 = "00000000-0000-4000-8000-000000000001"
M2 = "00000000-0000-4000-8000-000000000002"
M3 = "00000000-0000-4000-8000-000000000003"
TARGET = "00000000-0000-4000-8000-000000000009"


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


# --- join_complete ---------------------------------------------------------------------------


def join(*members: str, within: int = 60, target: str = TARGET) -> Join:
    return Join(target, members, within, "test:1")


def reload(
    created: float, started: float | None = None, status: str = "SUCCEEDED", app: str = TARGET
) -> Reload:
    body: dict[str, Any] = {
        "id": "latest",
        "appId": app,
        "status": status,
        "creationTime": format_time(ago(created)),
    }
    if started is not None:
        body |= {"startTime": format_time(ago(started)), "endTime": format_time(ago(started - 1))}
    return Reload.model_validate(body)


def test_complete_when_every_member_succeeded_inside_the_window() -> None:
    successes = {M1: ago(50), M2: ago(5)}
    assert join_complete(join(M1, M2), None, successes, NOW)


def test_waiting_while_a_member_has_no_success() -> None:
    assert not join_complete(join(M1, M2), None, {M1: ago(5)}, NOW)


def test_a_success_at_the_window_edge_is_outside_one_second_later_inside() -> None:
    assert not join_complete(join(M1, M2), None, {M1: ago(60), M2: ago(1)}, NOW)
    inside = ago(60) + timedelta(seconds=1)
    assert join_complete(join(M1, M2), None, {M1: inside, M2: ago(1)}, NOW)


def test_a_success_before_the_targets_last_reload_started_does_not_count() -> None:
    latest = reload(created=31, started=30)
    assert not join_complete(join(M1, M2), latest, {M1: ago(35), M2: ago(5)}, NOW)
    assert join_complete(join(M1, M2), latest, {M1: ago(29), M2: ago(5)}, NOW)


def test_a_target_reload_without_start_time_is_compared_by_creation_time() -> None:
    latest = reload(created=20)
    assert not join_complete(join(M1), latest, {M1: ago(21)}, NOW)
    assert join_complete(join(M1), latest, {M1: ago(19)}, NOW)


def test_the_later_of_window_start_and_target_start_bounds_the_members() -> None:
    old_reload = reload(created=600, started=599)
    assert not join_complete(join(M1, within=60), old_reload, {M1: ago(61)}, NOW)
    assert join_complete(join(M1, within=60), old_reload, {M1: ago(59)}, NOW)


# --- decide ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Knobs:
    tolerance_minutes: int = 10
    only_managed_spaces: bool = False
    max_active_reloads: int | None = None


def run(app: str, reload_id: str, minutes_ago: float = 2) -> FinishedReload:
    ended = ago(minutes_ago)
    return FinishedReload(f"ev-{reload_id}", ended, app, reload_id, "success", ended)


def facts(
    chain: ChainFile,
    last_success: dict[str, datetime],
    latest: Reload | None = None,
    **extra: Any,
) -> TenantFacts:
    apps = {a: AppFacts(a) for a in (M1, M2, M3, TARGET)}
    return TenantFacts(
        edges=chain.edges_by_source(),
        apps=extra.pop("apps", apps),
        latest_reloads={TARGET: latest},
        last_success=last_success,
        **extra,
    )


def reasons(runs: list[FinishedReload], tenant: TenantFacts) -> dict[str, tuple[str, str]]:
    return {d.app_id: (d.action, d.reason) for d in decide(runs, tenant, Knobs(), NOW)}


JOINED = ChainFile(joins=(join(M1, M2, within=120),))


def test_decide_waits_for_the_other_member() -> None:
    tenant = facts(JOINED, {M1: ago(2)})
    assert reasons([run(M1, "r1")], tenant) == {TARGET: ("skip", "join_waiting")}


def test_decide_triggers_when_the_last_member_arrives() -> None:
    tenant = facts(JOINED, {M1: ago(90), M2: ago(2)}, latest=reload(created=300, started=299))
    assert reasons([run(M2, "r2")], tenant) == {TARGET: ("trigger", "triggered")}


def test_decide_waits_when_a_member_success_left_the_window() -> None:
    tenant = facts(JOINED, {M1: ago(121), M2: ago(2)})
    assert reasons([run(M2, "r2")], tenant) == {TARGET: ("skip", "join_waiting")}


def test_one_complete_join_of_several_is_enough() -> None:
    chain = ChainFile(joins=(join(M1, M2), join(M1, M3)))
    tenant = facts(chain, {M1: ago(2), M3: ago(30)})
    assert reasons([run(M1, "r1")], tenant) == {TARGET: ("trigger", "triggered")}


def test_a_target_also_named_by_a_plain_edge_is_decided_as_a_plain_successor() -> None:
    chain = ChainFile(edges=(Edge(M1, TARGET, "success", "test:2"),), joins=JOINED.joins)
    tenant = facts(chain, {M1: ago(2)})
    (decision,) = decide([run(M1, "r1")], tenant, Knobs(), NOW)
    assert (decision.action, decision.reason) == ("trigger", "triggered")
    assert decision.candidate.plain
    assert decision.candidate.joins == JOINED.joins


def test_a_plain_edge_from_another_source_also_makes_the_target_plain() -> None:
    chain = ChainFile(edges=(Edge(M3, TARGET, "success", "test:2"),), joins=JOINED.joins)
    tenant = facts(chain, {M1: ago(2)})
    runs = [run(M1, "r1"), run(M3, "r3")]
    assert reasons(runs, tenant) == {TARGET: ("trigger", "triggered")}


@pytest.mark.parametrize(
    ("latest", "extra", "expected"),
    [
        (None, {"apps": {}}, "not_found"),
        (reload(created=1, status="RELOADING"), {}, "running"),
        (reload(created=5, started=4), {}, "tolerance"),
        # Started after the members' reloads ended: both fresh and join_waiting; fresh wins.
        (reload(created=1.5, started=1.2), {}, "fresh"),
        (None, {"lineage": {"r1": frozenset({M1, TARGET})}}, "cycle"),
    ],
)
def test_other_reasons_come_before_join_waiting(
    latest: Reload | None, extra: dict[str, Any], expected: str
) -> None:
    tenant = facts(JOINED, {M1: ago(2)}, latest, **extra)
    settings = Knobs(tolerance_minutes=1 if expected == "fresh" else 10)
    (decision,) = decide([run(M1, "r1")], tenant, settings, NOW)
    assert (decision.action, decision.reason) == ("skip", expected)


# --- sweeps against the fake tenant ----------------------------------------------------------


@pytest.fixture
def sweeper(tenant: FakeTenant) -> Iterator[Callable[[ChainFile], SweepContext]]:
    """A sweep context per chain file, on one in-memory database."""
    settings = Settings(tenant_url=TENANT, api_key="key", database=":memory:")
    with sweep_context(settings, sender_options=NO_SLEEP) as ctx:
        yield lambda chain: replace(ctx, chain=chain)


def members(tenant: FakeTenant, within: int = 1440) -> tuple[str, str, str, ChainFile]:
    m1, m2, target = tenant.add_app(1), tenant.add_app(2), tenant.add_app(9)
    return m1, m2, target, ChainFile(joins=(Join(target, (m1, m2), within, "test:1"),))


def test_join_across_two_sweeps_waits_then_triggers_once(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext]
) -> None:
    m1, m2, target, chain = members(tenant)
    ctx = sweeper(chain)
    tenant.finish(m1, at=tenant.now - timedelta(minutes=1))
    first = run_sweep(ctx, tenant.now)
    assert outcomes(first) == {target: ("skipped", "join_waiting")}
    assert tenant.started == []

    tenant.now += timedelta(minutes=15)
    tenant.finish(m2, at=tenant.now - timedelta(minutes=1))
    second = run_sweep(ctx, tenant.now)
    assert outcomes(second) == {target: ("triggered", "triggered")}
    assert tenant.started == [target]

    tenant.now += timedelta(minutes=15)
    finish_started(tenant, target, tenant.now - timedelta(minutes=5))
    third = run_sweep(ctx, tenant.now)
    assert outcomes(third) == {}
    assert tenant.started == [target]

    # One member again, after the target reloaded: the other member's success is too old now.
    tenant.now += timedelta(minutes=15)
    tenant.finish(m1, at=tenant.now - timedelta(minutes=1))
    fourth = run_sweep(ctx, tenant.now)
    assert outcomes(fourth) == {target: ("skipped", "join_waiting")}
    assert tenant.started == [target]


def test_both_members_read_in_one_catch_up_sweep_after_downtime_trigger_once(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext]
) -> None:
    m1, m2, target, chain = members(tenant)
    ctx = sweeper(chain)
    assert run_sweep(ctx, tenant.now).outcomes == []
    start = tenant.now

    tenant.finish(m1, at=start + timedelta(hours=2))
    tenant.finish(m2, at=start + timedelta(hours=4))
    tenant.now = start + timedelta(hours=6)
    report = run_sweep(ctx, tenant.now)

    assert report.events_new == 2
    assert outcomes(report) == {target: ("triggered", "triggered")}
    (outcome,) = report.outcomes
    assert set(outcome.candidate.source_apps) == {m1, m2}
    assert tenant.started == [target]

    tenant.now += timedelta(minutes=30)
    assert run_sweep(ctx, tenant.now).outcomes == []
    assert tenant.started == [target]


@pytest.mark.parametrize(("gap_hours", "expected"), [(23, "triggered"), (25, "join_waiting")])
def test_member_success_read_in_an_earlier_sweep_counts_only_inside_the_window(
    tenant: FakeTenant,
    sweeper: Callable[[ChainFile], SweepContext],
    gap_hours: int,
    expected: str,
) -> None:
    m1, m2, target, chain = members(tenant, within=1440)
    ctx = sweeper(chain)
    tenant.finish(m1, at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {target: ("skipped", "join_waiting")}

    tenant.now += timedelta(hours=gap_hours)
    tenant.finish(m2, at=tenant.now - timedelta(minutes=1))
    report = run_sweep(ctx, tenant.now)

    decision = "triggered" if expected == "triggered" else "skipped"
    assert outcomes(report) == {target: (decision, expected)}
    assert tenant.started == ([target] if expected == "triggered" else [])


def test_member_success_older_than_the_window_in_the_same_catch_up_sweep_waits(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext]
) -> None:
    m1, m2, target, chain = members(tenant, within=120)
    ctx = sweeper(chain)
    run_sweep(ctx, tenant.now)
    start = tenant.now

    tenant.finish(m1, at=start + timedelta(hours=1))
    tenant.finish(m2, at=start + timedelta(hours=5))
    tenant.now = start + timedelta(hours=5, minutes=10)
    report = run_sweep(ctx, tenant.now)

    assert outcomes(report) == {target: ("skipped", "join_waiting")}
    assert tenant.started == []


def test_member_success_before_the_targets_last_reload_started_waits(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext]
) -> None:
    m1, m2, target, chain = members(tenant)
    ctx = sweeper(chain)
    start = tenant.now
    tenant.finish(m1, at=start - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {target: ("skipped", "join_waiting")}

    # The target is reloaded by someone else (its schedule) after m1's success.
    tenant.finish(target, at=start + timedelta(minutes=30))
    tenant.finish(m2, at=start + timedelta(minutes=59))
    tenant.now = start + timedelta(minutes=60)
    assert outcomes(run_sweep(ctx, tenant.now)) == {target: ("skipped", "join_waiting")}
    assert tenant.started == []

    # m1 succeeds again: now both succeeded after the target's reload.
    tenant.finish(m1, at=start + timedelta(minutes=70))
    tenant.now = start + timedelta(minutes=75)
    assert outcomes(run_sweep(ctx, tenant.now)) == {target: ("triggered", "triggered")}
    assert tenant.started == [target]


def test_target_reload_older_than_any_tolerance_still_bounds_the_members(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext]
) -> None:
    m1, m2, target, chain = members(tenant, within=10 * 1440)
    ctx = sweeper(chain)
    start = tenant.now
    tenant.finish(m1, at=start - timedelta(minutes=1))
    run_sweep(ctx, tenant.now)

    tenant.finish(target, at=start + timedelta(days=1))  # two days before m2's success
    tenant.now = start + timedelta(days=3)
    tenant.finish(m2, at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {target: ("skipped", "join_waiting")}
    assert tenant.started == []


def test_plain_edge_to_a_join_target_triggers_it_without_waiting(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext]
) -> None:
    m1, _m2, target, joined = members(tenant)
    chain = ChainFile(edges=(Edge(m1, target, "success", "test:2"),), joins=joined.joins)
    ctx = sweeper(chain)
    tenant.finish(m1, at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {target: ("triggered", "triggered")}
    assert tenant.started == [target]


def test_a_failed_member_reload_neither_counts_nor_proposes_the_target(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext]
) -> None:
    m1, m2, target, chain = members(tenant)
    ctx = sweeper(chain)
    tenant.finish(m1, at=tenant.now - timedelta(minutes=2))
    tenant.finish(m2, status="error", at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {target: ("skipped", "join_waiting")}
    assert tenant.started == []

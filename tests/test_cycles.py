"""The cycle guard, sweep by sweep against the respx fake tenant, with ``tolerance_minutes=0``.

With no tolerance nothing but the guard stops A -> B -> A from reloading forever: each
reload this program starts is finished here under its own reload id, with its audit event,
exactly as the tenant would report it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from jobs.chainfile import ChainFile
from jobs.edges import Edge
from jobs.sweep import SweepContext, run_sweep
from scheduler.settings import Settings
from tests.fake_tenant import TENANT, FakeTenant, app_id
from tests.sweeping import NO_SLEEP, finish_started, outcomes, sweep_context

Wiring = Callable[[FakeTenant, dict[int, list[int]]], ChainFile]


@pytest.fixture
def sweeper(tenant: FakeTenant) -> Iterator[Callable[[ChainFile], SweepContext]]:
    settings = Settings(tenant_url=TENANT, api_key="key", database=":memory:", tolerance_minutes=0)
    with sweep_context(settings, sender_options=NO_SLEEP) as ctx:
        yield lambda chain: replace(ctx, chain=chain)


def by_tags(tenant: FakeTenant, successors: dict[int, list[int]]) -> ChainFile:
    """Apps numbered 1..9 with ``next-<id>`` tags; no chain file."""
    for n in range(1, 10):
        tenant.add_app(n, tags=[f"next-{app_id(m)}" for m in successors.get(n, [])])
    return ChainFile()


def by_chain_file(tenant: FakeTenant, successors: dict[int, list[int]]) -> ChainFile:
    """The same apps without tags; the edges come from the chain file."""
    for n in range(1, 10):
        tenant.add_app(n)
    edges = [
        Edge(app_id(n), app_id(m), "success", f"chain.toml:{n}")
        for n, targets in successors.items()
        for m in targets
    ]
    return ChainFile(edges=tuple(edges))


WIRINGS = [pytest.param(by_tags, id="tags"), pytest.param(by_chain_file, id="chain-file")]
A, B, C, D = (app_id(n) for n in (1, 2, 3, 4))


@pytest.mark.parametrize("wiring", WIRINGS)
@pytest.mark.parametrize("later", [timedelta(minutes=5), timedelta(hours=6)], ids=["5m", "6h"])
def test_a_to_b_to_a_runs_b_once_then_a_is_a_cycle(
    tenant: FakeTenant,
    sweeper: Callable[[ChainFile], SweepContext],
    wiring: Wiring,
    later: timedelta,
) -> None:
    ctx = sweeper(wiring(tenant, {1: [2], 2: [1]}))
    tenant.finish(A, at=tenant.now - timedelta(minutes=1))  # scheduled, not started by us

    assert outcomes(run_sweep(ctx, tenant.now)) == {B: ("triggered", "triggered")}
    assert tenant.started == [B]

    tenant.now += timedelta(minutes=5)
    finish_started(tenant, B)
    tenant.now += later
    second = run_sweep(ctx, tenant.now)
    assert outcomes(second) == {A: ("skipped", "cycle")}
    assert second.exit_code == 0
    assert tenant.started == [B]

    tenant.now += timedelta(hours=1)
    assert run_sweep(ctx, tenant.now).outcomes == []
    assert tenant.started == [B]


@pytest.mark.parametrize("wiring", WIRINGS)
def test_each_external_start_runs_the_loop_once(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext], wiring: Wiring
) -> None:
    ctx = sweeper(wiring(tenant, {1: [2], 2: [1]}))
    for round_number in (1, 2, 3):
        tenant.now += timedelta(hours=1)
        tenant.finish(A, at=tenant.now - timedelta(minutes=1))
        assert outcomes(run_sweep(ctx, tenant.now)) == {B: ("triggered", "triggered")}
        tenant.now += timedelta(minutes=10)
        finish_started(tenant, B)
        assert outcomes(run_sweep(ctx, tenant.now)) == {A: ("skipped", "cycle")}
        assert tenant.started == [B] * round_number


@pytest.mark.parametrize("wiring", WIRINGS)
def test_a_longer_loop_stops_where_it_started_and_other_successors_still_run(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext], wiring: Wiring
) -> None:
    ctx = sweeper(wiring(tenant, {1: [2], 2: [3], 3: [1, 4]}))
    tenant.finish(A, at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {B: ("triggered", "triggered")}

    tenant.now += timedelta(minutes=10)
    finish_started(tenant, B)
    assert outcomes(run_sweep(ctx, tenant.now)) == {C: ("triggered", "triggered")}

    tenant.now += timedelta(minutes=10)
    finish_started(tenant, C)
    assert outcomes(run_sweep(ctx, tenant.now)) == {
        A: ("skipped", "cycle"),
        D: ("triggered", "triggered"),
    }
    assert tenant.started == [B, C, D]


@pytest.mark.parametrize("wiring", WIRINGS)
def test_a_self_edge_never_triggers(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext], wiring: Wiring
) -> None:
    ctx = sweeper(wiring(tenant, {1: [1, 2]}))
    tenant.finish(A, at=tenant.now - timedelta(minutes=1))
    report = run_sweep(ctx, tenant.now)
    assert outcomes(report) == {A: ("skipped", "cycle"), B: ("triggered", "triggered")}
    assert tenant.started == [B]

    tenant.now += timedelta(hours=2)
    finish_started(tenant, B)
    tenant.finish(A, at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {
        A: ("skipped", "cycle"),
        B: ("triggered", "triggered"),
    }
    assert tenant.started == [B, B]


def test_self_tag_with_upper_case_id_is_still_a_cycle(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext]
) -> None:
    a = tenant.add_app(1, tags=[f"next-{app_id(1).upper()}"])
    ctx = sweeper(ChainFile())
    tenant.finish(a, at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {a: ("skipped", "cycle")}
    assert tenant.started == []


@pytest.mark.parametrize("wiring", WIRINGS)
def test_a_non_cyclic_source_of_the_same_target_still_triggers_it(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext], wiring: Wiring
) -> None:
    ctx = sweeper(wiring(tenant, {1: [2], 2: [1], 3: [1]}))
    tenant.finish(A, at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {B: ("triggered", "triggered")}

    # B (started for A) and C (scheduled) finish before the same sweep.
    tenant.now += timedelta(minutes=10)
    finish_started(tenant, B, tenant.now - timedelta(minutes=2))
    tenant.finish(C, at=tenant.now - timedelta(minutes=1))
    second = run_sweep(ctx, tenant.now)
    assert outcomes(second) == {A: ("triggered", "triggered")}
    (outcome,) = second.outcomes
    assert C in outcome.candidate.source_apps
    assert tenant.started == [B, A]

    # A's reload came from C's new data, so B follows once more, and then the loop stops.
    tenant.now += timedelta(minutes=10)
    finish_started(tenant, A)
    assert outcomes(run_sweep(ctx, tenant.now)) == {B: ("triggered", "triggered")}
    tenant.now += timedelta(minutes=10)
    finish_started(tenant, B)
    assert outcomes(run_sweep(ctx, tenant.now)) == {A: ("skipped", "cycle")}
    assert tenant.started == [B, A, B]


@pytest.mark.parametrize("wiring", WIRINGS)
def test_a_non_cyclic_source_in_a_later_sweep_still_triggers(
    tenant: FakeTenant, sweeper: Callable[[ChainFile], SweepContext], wiring: Wiring
) -> None:
    ctx = sweeper(wiring(tenant, {1: [2], 2: [1], 3: [1]}))
    tenant.finish(A, at=tenant.now - timedelta(minutes=1))
    run_sweep(ctx, tenant.now)
    tenant.now += timedelta(minutes=10)
    finish_started(tenant, B)
    assert outcomes(run_sweep(ctx, tenant.now)) == {A: ("skipped", "cycle")}

    tenant.now += timedelta(minutes=10)
    tenant.finish(C, at=tenant.now - timedelta(minutes=1))
    assert outcomes(run_sweep(ctx, tenant.now)) == {A: ("triggered", "triggered")}
    assert tenant.started == [B, A]

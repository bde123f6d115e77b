"""decide(): one decision per successor, with exactly one reason, from plain values."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobs.decide import (
    AppFacts,
    Candidate,
    Decision,
    TenantFacts,
    candidates,
    decide,
    decide_bare,
)
from jobs.edges import Edge
from jobs.native import NativeTasks
from qlik.events import FinishedReload, Outcome
from qlik.models import Reload
from qlik.tasks import Firing, NativeTask, Upstream

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SRC = "aaaaaaaa-0000-0000-0000-000000000001"
TARGET = "bbbbbbbb-0000-0000-0000-000000000002"
OTHER = "cccccccc-0000-0000-0000-000000000003"
REASONS = {
    "not_found",
    "not_managed",
    "running",
    "tolerance",
    "fresh",
    "triggered",
    "cycle",
    "join_waiting",
}


@dataclass(frozen=True)
class Knobs:
    tolerance_minutes: int = 10
    only_managed_spaces: bool = False
    max_active_reloads: int | None = None


def run(
    app_id: str = SRC,
    reload_id: str = "r1",
    outcome: Outcome = "success",
    ended_minutes_ago: float = 30,
    event_id: str | None = None,
) -> FinishedReload:
    ended = NOW - timedelta(minutes=ended_minutes_ago)
    return FinishedReload(
        event_id=event_id or f"ev-{reload_id}",
        event_time=ended,
        app_id=app_id,
        reload_id=reload_id,
        outcome=outcome,
        ended_at=ended,
    )


def minutes_ago(minutes: float) -> str:
    return (NOW - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reload(
    status: str = "SUCCEEDED",
    created: float = 60,
    started: float | None = None,
    app_id: str = TARGET,
) -> Reload:
    body: dict[str, Any] = {
        "id": "latest",
        "appId": app_id,
        "status": status,
        "creationTime": minutes_ago(created),
        "type": "hub",
    }
    if started is not None:
        body["startTime"] = minutes_ago(started)
        body["endTime"] = minutes_ago(started - 1)
    return Reload.model_validate(body)


def edge(source: str = SRC, target: str = TARGET, on: str = "success") -> Edge:
    return Edge(source, target, on, "test")  # type: ignore[arg-type]


def facts(
    edges: dict[str, list[Edge]] | None = None,
    apps: list[str] | None = None,
    latest: dict[str, Reload | None] | None = None,
    **kwargs: Any,
) -> TenantFacts:
    return TenantFacts(
        edges=edges if edges is not None else {SRC: [edge()]},
        apps={app: AppFacts(app) for app in (apps if apps is not None else [TARGET, OTHER])},
        latest_reloads=latest or {},
        **kwargs,
    )


def reasons(decisions: list[Decision]) -> dict[str, str]:
    return {decision.app_id: decision.reason for decision in decisions}


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1
    return decisions[0]


# --- one test per reason -------------------------------------------------------------------


def test_triggered_when_target_never_reloaded() -> None:
    decision = only(decide([run()], facts(), Knobs(), NOW))
    assert (decision.app_id, decision.action, decision.reason) == (TARGET, "trigger", "triggered")


def test_triggered_when_latest_reload_is_old_and_before_the_source() -> None:
    latest = {TARGET: reload(created=120, started=119)}
    decision = only(decide([run()], facts(latest=latest), Knobs(), NOW))
    assert (decision.action, decision.reason) == ("trigger", "triggered")


def test_not_found_when_successor_is_unknown() -> None:
    decision = only(decide([run()], facts(apps=[OTHER]), Knobs(), NOW))
    assert (decision.app_id, decision.action, decision.reason) == (TARGET, "skip", "not_found")


def test_not_managed_when_space_is_shared() -> None:
    tenant = TenantFacts(
        edges={SRC: [edge()]},
        apps={TARGET: AppFacts(TARGET, space_id="sp1")},
        space_types={"sp1": "shared"},
    )
    decision = only(decide([run()], tenant, Knobs(only_managed_spaces=True), NOW))
    assert (decision.action, decision.reason) == ("skip", "not_managed")


def test_not_managed_when_app_is_in_a_personal_space() -> None:
    tenant = TenantFacts(edges={SRC: [edge()]}, apps={TARGET: AppFacts(TARGET, space_id=None)})
    decision = only(decide([run()], tenant, Knobs(only_managed_spaces=True), NOW))
    assert decision.reason == "not_managed"


def test_managed_space_passes_the_managed_filter() -> None:
    tenant = TenantFacts(
        edges={SRC: [edge()]},
        apps={TARGET: AppFacts(TARGET, space_id="sp1")},
        space_types={"sp1": "managed"},
    )
    assert only(decide([run()], tenant, Knobs(only_managed_spaces=True), NOW)).reason == "triggered"


def test_shared_space_is_fine_when_filter_is_off() -> None:
    tenant = TenantFacts(
        edges={SRC: [edge()]},
        apps={TARGET: AppFacts(TARGET, space_id="sp1")},
        space_types={"sp1": "shared"},
    )
    assert only(decide([run()], tenant, Knobs(), NOW)).reason == "triggered"


@pytest.mark.parametrize("status", ["QUEUED", "RELOADING", "CANCELING"])
def test_running_when_latest_reload_is_active(status: str) -> None:
    latest = {TARGET: reload(status=status, created=120)}
    decision = only(decide([run()], facts(latest=latest), Knobs(), NOW))
    assert (decision.action, decision.reason) == ("skip", "running")


def test_tolerance_when_latest_reload_created_inside_the_window() -> None:
    latest = {TARGET: reload(status="FAILED", created=9, started=9)}
    decision = only(decide([run()], facts(latest=latest), Knobs(tolerance_minutes=10), NOW))
    assert (decision.action, decision.reason) == ("skip", "tolerance")


def test_not_tolerance_at_exactly_the_tolerance() -> None:
    latest = {TARGET: reload(status="FAILED", created=10, started=10)}
    decision = only(decide([run()], facts(latest=latest), Knobs(tolerance_minutes=10), NOW))
    assert decision.reason == "triggered"


def test_tolerance_zero_disables_the_storm_guard() -> None:
    latest = {TARGET: reload(status="FAILED", created=0, started=0)}
    decision = only(decide([run()], facts(latest=latest), Knobs(tolerance_minutes=0), NOW))
    assert decision.reason == "triggered"


def test_fresh_when_latest_success_started_after_the_source_ended() -> None:
    latest = {TARGET: reload(status="SUCCEEDED", created=25, started=20)}
    decision = only(decide([run(ended_minutes_ago=30)], facts(latest=latest), Knobs(), NOW))
    assert (decision.action, decision.reason) == ("skip", "fresh")


def test_fresh_uses_creation_time_when_start_time_is_missing() -> None:
    latest = {TARGET: reload(status="SUCCEEDED", created=20)}
    decision = only(decide([run(ended_minutes_ago=30)], facts(latest=latest), Knobs(), NOW))
    assert decision.reason == "fresh"


def test_not_fresh_when_that_reload_failed() -> None:
    latest = {TARGET: reload(status="FAILED", created=25, started=20)}
    decision = only(decide([run(ended_minutes_ago=30)], facts(latest=latest), Knobs(), NOW))
    assert decision.reason == "triggered"


def test_not_fresh_when_it_started_before_the_source_ended() -> None:
    latest = {TARGET: reload(status="SUCCEEDED", created=45, started=40)}
    decision = only(decide([run(ended_minutes_ago=30)], facts(latest=latest), Knobs(), NOW))
    assert decision.reason == "triggered"


def test_not_fresh_when_it_started_before_the_newest_source_ended() -> None:
    latest = {TARGET: reload(status="SUCCEEDED", created=25, started=20)}
    runs = [run(SRC, "r1", ended_minutes_ago=30), run(OTHER, "r2", ended_minutes_ago=15)]
    edges = {SRC: [edge()], OTHER: [edge(OTHER)]}
    decision = only(decide(runs, facts(edges=edges, latest=latest), Knobs(), NOW))
    assert decision.reason == "triggered"


# --- precedence ----------------------------------------------------------------------------


def test_not_found_comes_before_running() -> None:
    latest = {TARGET: reload(status="RELOADING", created=1)}
    decision = only(decide([run()], facts(apps=[], latest=latest), Knobs(), NOW))
    assert decision.reason == "not_found"


def test_not_managed_comes_before_running() -> None:
    tenant = TenantFacts(
        edges={SRC: [edge()]},
        apps={TARGET: AppFacts(TARGET)},
        latest_reloads={TARGET: reload(status="RELOADING", created=1)},
    )
    assert only(decide([run()], tenant, Knobs(only_managed_spaces=True), NOW)).reason == (
        "not_managed"
    )


def test_running_comes_before_tolerance() -> None:
    latest = {TARGET: reload(status="QUEUED", created=1)}
    decision = only(decide([run()], facts(latest=latest), Knobs(), NOW))
    assert decision.reason == "running"


def test_tolerance_comes_before_fresh() -> None:
    latest = {TARGET: reload(status="SUCCEEDED", created=5, started=4)}
    decision = only(decide([run(ended_minutes_ago=30)], facts(latest=latest), Knobs(), NOW))
    assert decision.reason == "tolerance"


# --- conditions ----------------------------------------------------------------------------


def condition_edges() -> dict[str, list[Edge]]:
    return {SRC: [edge(target=TARGET, on="success"), edge(target=OTHER, on="failure")]}


def test_success_fires_success_edges_only() -> None:
    decisions = decide([run(outcome="success")], facts(edges=condition_edges()), Knobs(), NOW)
    assert reasons(decisions) == {TARGET: "triggered"}


def test_failure_fires_onfail_edges_only() -> None:
    decisions = decide([run(outcome="failure")], facts(edges=condition_edges()), Knobs(), NOW)
    assert reasons(decisions) == {OTHER: "triggered"}


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_any_fires_on_success_and_failure(outcome: Outcome) -> None:
    edges = {SRC: [edge(on="any")]}
    assert reasons(decide([run(outcome=outcome)], facts(edges=edges), Knobs(), NOW)) == {
        TARGET: "triggered"
    }


def test_canceled_fires_nothing() -> None:
    edges = {SRC: [edge(target=TARGET, on="any"), edge(target=OTHER, on="success")]}
    assert decide([run(outcome="canceled")], facts(edges=edges), Knobs(), NOW) == []


def test_source_without_edges_names_nothing() -> None:
    assert decide([run(app_id=OTHER)], facts(), Knobs(), NOW) == []


# --- de-duplication ------------------------------------------------------------------------


def test_five_sources_naming_one_target_give_one_decision() -> None:
    sources = [f"5{n}aaaaaa-0000-0000-0000-000000000000" for n in range(5)]
    edges = {source: [edge(source)] for source in sources}
    runs = [run(source, f"r{n}", ended_minutes_ago=30 - n) for n, source in enumerate(sources)]
    decision = only(decide(runs, facts(edges=edges), Knobs(), NOW))
    assert decision.candidate.source_apps == tuple(sources)
    assert decision.candidate.source_reloads == ("r0", "r1", "r2", "r3", "r4")


def test_sources_are_listed_in_first_seen_order() -> None:
    sources = ["11111111-0000-0000-0000-00000000000" + str(n) for n in (3, 1, 2)]
    edges = {source: [edge(source)] for source in sources}
    runs = [run(sources[0], "ra"), run(sources[1], "rb"), run(sources[0], "rc"), run(sources[2])]
    decision = only(decide(runs, facts(edges=edges), Knobs(), NOW))
    assert decision.candidate.source_apps == tuple(sources)
    assert decision.candidate.source_reloads == ("ra", "rb", "rc", "r1")


def test_the_same_run_listed_twice_counts_once() -> None:
    once = run()
    decision = only(decide([once, once], facts(), Knobs(), NOW))
    assert decision.candidate.runs == (once,)


def test_one_source_with_two_edges_to_one_target_gives_one_decision() -> None:
    edges = {SRC: [edge(on="success"), edge(on="any")]}
    decision = only(decide([run()], facts(edges=edges), Knobs(), NOW))
    assert len(decision.candidate.runs) == 1


def test_settled_pairs_are_excluded() -> None:
    edges = {SRC: [edge(target=TARGET), edge(target=OTHER)]}
    tenant = facts(edges=edges, settled=frozenset({("r1", TARGET)}))
    assert reasons(decide([run(reload_id="r1")], tenant, Knobs(), NOW)) == {OTHER: "triggered"}


def test_settled_pair_excludes_only_that_source_reload() -> None:
    tenant = facts(settled=frozenset({("r1", TARGET)}))
    runs = [run(reload_id="r1"), run(reload_id="r2", ended_minutes_ago=20)]
    decision = only(decide(runs, tenant, Knobs(), NOW))
    assert decision.candidate.source_reloads == ("r2",)


def test_newest_source_end_is_the_latest_end() -> None:
    sources = [SRC, OTHER, "dddddddd-0000-0000-0000-000000000004"]
    edges = {source: [edge(source)] for source in sources}
    runs = [
        run(sources[0], "r1", ended_minutes_ago=30),
        run(sources[1], "r2", ended_minutes_ago=5),
        run(sources[2], "r3", ended_minutes_ago=50),
    ]
    decision = only(decide(runs, facts(edges=edges), Knobs(), NOW))
    assert decision.candidate.newest_source_end == NOW - timedelta(minutes=5)


def test_decisions_follow_the_order_successors_were_first_named() -> None:
    third = "eeeeeeee-0000-0000-0000-000000000005"
    edges = {SRC: [edge(target=OTHER), edge(target=TARGET)], OTHER: [edge(OTHER, third)]}
    runs = [run(SRC, "r1"), run(OTHER, "r2")]
    decisions = decide(runs, facts(edges=edges, apps=[TARGET, OTHER, third]), Knobs(), NOW)
    assert [decision.app_id for decision in decisions] == [OTHER, TARGET, third]


def test_candidates_ignore_runs_whose_condition_does_not_match() -> None:
    named = candidates([run(outcome="failure")], {SRC: [edge()]})
    assert named == {}


# --- native_task (Qlik's own event-based tasks) ------------------------------------------------


def native_b_after_src(ended_minutes_ago: float = 30, on: Firing = "success") -> NativeTasks:
    """TARGET's native task fires when SRC's task (its newest run ended then) ends so."""
    src_task = NativeTask(
        "t-src",
        "src",
        SRC,
        True,
        last_run_ended_at=run(ended_minutes_ago=ended_minutes_ago).ended_at,
        last_run_status="SUCCEEDED",
    )
    target_task = NativeTask(
        "t-target", "target", TARGET, True, None, (Upstream("t-src", SRC, on),)
    )
    return NativeTasks((src_task, target_task))


def test_native_task_when_a_native_task_starts_it_after_this_source_reload() -> None:
    decisions = decide([run()], facts(native=native_b_after_src()), Knobs(), NOW)
    assert (only(decisions).action, only(decisions).reason) == ("skip", "native_task")


def test_no_native_task_reason_when_the_tasks_were_not_asked() -> None:
    assert only(decide([run()], facts(native=None), Knobs(), NOW)).reason == "triggered"


def test_no_native_task_reason_when_the_task_fires_on_the_other_outcome() -> None:
    native = native_b_after_src(on="failure")
    assert only(decide([run()], facts(native=native), Knobs(), NOW)).reason == "triggered"


def test_no_native_task_reason_when_reload_chain_started_the_source_reload() -> None:
    lineage = {"r1": frozenset({SRC, OTHER})}
    tenant = facts(native=native_b_after_src(), lineage=lineage)
    assert only(decide([run()], tenant, Knobs(), NOW)).reason == "triggered"


def test_the_newest_source_reload_decides_native_task() -> None:
    """OTHER (no native task) ended after SRC: the task's reload would predate OTHER's data."""
    edges = {SRC: [edge()], OTHER: [edge(OTHER)]}
    runs = [run(), run(OTHER, "r2", ended_minutes_ago=20)]
    tenant = facts(edges, native=native_b_after_src())
    assert only(decide(runs, tenant, Knobs(), NOW)).reason == "triggered"
    runs = [run(), run(OTHER, "r2", ended_minutes_ago=40)]
    assert only(decide(runs, tenant, Knobs(), NOW)).reason == "native_task"


def test_native_task_comes_before_the_reload_history_it_explains() -> None:
    # Qlik's own start is why the successor is running: the reason says so.
    tenant = facts(latest={TARGET: reload("RELOADING")}, native=native_b_after_src())
    assert only(decide([run()], tenant, Knobs(), NOW)).reason == "native_task"
    unsettled = replace(tenant, unsettled=frozenset({TARGET}))
    assert only(decide([run()], unsettled, Knobs(), NOW)).reason == "unsettled"


def test_start_is_never_skipped_as_native_task() -> None:
    tenant = facts(native=native_b_after_src())
    decision = decide_bare(Candidate(TARGET, ()), tenant, Knobs(), NOW)
    assert (decision.action, decision.reason) == ("trigger", "triggered")


# --- property test -------------------------------------------------------------------------

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is not a project dependency

    def test_decide_properties_for_random_inputs() -> None:
        pytest.skip("hypothesis is not installed")

else:
    APPS = [f"{n:08x}-0000-0000-0000-000000000000" for n in range(6)]
    app_ids = st.sampled_from(APPS)
    runs_strategy = st.lists(
        st.builds(
            run,
            app_id=app_ids,
            reload_id=st.sampled_from(["r1", "r2", "r3", "r4"]),
            outcome=st.sampled_from(["success", "failure", "canceled"]),
            ended_minutes_ago=st.integers(0, 120),
        ),
        max_size=12,
    )
    edges_strategy = st.lists(
        st.builds(
            edge,
            source=app_ids,
            target=app_ids,
            on=st.sampled_from(["success", "failure", "any"]),
        ),
        max_size=12,
    )
    latest_strategy = st.dictionaries(
        app_ids,
        st.one_of(
            st.none(),
            st.builds(
                reload,
                status=st.sampled_from(
                    ["QUEUED", "RELOADING", "CANCELING", "SUCCEEDED", "FAILED", "CANCELED"]
                ),
                created=st.integers(0, 120),
                started=st.one_of(st.none(), st.integers(1, 120)),
            ),
        ),
    )

    @settings(max_examples=200, deadline=None)
    @given(
        runs=runs_strategy,
        edge_list=edges_strategy,
        known=st.sets(app_ids),
        latest=latest_strategy,
        knobs=st.builds(Knobs, st.integers(0, 30), st.booleans()),
    )
    def test_decide_properties_for_random_inputs(
        runs: list[FinishedReload],
        edge_list: list[Edge],
        known: set[str],
        latest: dict[str, Reload | None],
        knobs: Knobs,
    ) -> None:
        edges: dict[str, list[Edge]] = {}
        for one in edge_list:
            edges.setdefault(one.source, []).append(one)
        tenant = TenantFacts(
            edges=edges,
            apps={app: AppFacts(app, space_id="sp") for app in known},
            space_types={"sp": "managed"},
            latest_reloads=latest,
        )
        decisions = decide(runs, tenant, knobs, NOW)

        targets = [decision.app_id for decision in decisions]
        assert len(targets) == len(set(targets))
        assert set(targets) == {
            e.target
            for r in runs
            for e in edges.get(r.app_id, [])
            if r.outcome != "canceled" and e.on in ("any", r.outcome)
        }
        for decision in decisions:
            assert decision.reason in REASONS
            assert (decision.action == "trigger") == (decision.reason == "triggered")
            assert decision.candidate.runs
            if decision.app_id not in known:
                assert decision.reason == "not_found"

"""jobs.native, pure: which native task starts a successor after a source reload, what has
stopped (problems, and which of them alert), native edges and edges declared twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from jobs.edges import Edge
from jobs.native import (
    RUN_END_SLACK,
    NativeEdge,
    NativeTasks,
    TaskProblem,
    declared_twice,
    firing_task,
    native_edges,
    problems_to_alert,
    task_problems,
)
from qlik.events import FinishedReload, Outcome
from qlik.tasks import Firing, NativeTask, Upstream

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
A = "aaaaaaaa-0000-4000-8000-000000000001"  # the source
B = "bbbbbbbb-0000-4000-8000-000000000002"  # its successor
C = "cccccccc-0000-4000-8000-000000000003"
A_ENDED = NOW - timedelta(minutes=5)


def source_run(
    app: str = A, outcome: Outcome = "success", ended: datetime = A_ENDED
) -> FinishedReload:
    return FinishedReload("ev-1", ended, app, "rld-1", outcome, ended)


def schedule(
    task_id: str = "t-a",
    app: str = A,
    ended: datetime | None = A_ENDED,
    status: str | None = "SUCCEEDED",
    reload_id: str | None = None,
) -> NativeTask:
    """The upstream's own (scheduled) task, its newest run ended at ``ended`` with ``status``
    (``reload_id``: the run's reload, as ``lastRun.workerId`` says)."""
    return NativeTask(
        task_id,
        f"Reload {app}",
        app,
        True,
        last_run_ended_at=ended,
        last_run_status=status,
        last_run_reload_id=reload_id,
    )


def after(
    task_id: str | None = "t-a",
    app: str | None = A,
    on: Firing = "success",
    target: str = B,
    *,
    enabled: bool = True,
    code: str | None = None,
    name: str = "t-b",
) -> NativeTask:
    """A task reloading ``target`` when task ``task_id`` (on ``app``) ends with ``on``."""
    return NativeTask(
        name, f"Reload {target}", target, enabled, code, (Upstream(task_id, app, on),)
    )


def tasks(*listed: NativeTask) -> NativeTasks:
    return NativeTasks(listed)


def fires(native: NativeTasks, run: FinishedReload | None = None, app: str = B) -> bool:
    return firing_task(app, run or source_run(), native, started_here=False) is not None


# --- firing_task -------------------------------------------------------------------------------


def test_an_enabled_task_on_the_source_tasks_success_starts_the_successor() -> None:
    successor_task = after()
    native = tasks(schedule(), successor_task)
    assert firing_task(B, source_run(), native, started_here=False) == successor_task


def test_a_disabled_task_starts_nothing() -> None:
    assert not fires(tasks(schedule(), after(enabled=False, code="MANUALLY")))


def test_of_two_tasks_on_the_successor_the_enabled_one_fires() -> None:
    enabled = after(name="t-b2")
    native = tasks(schedule(), after(enabled=False, code="MANUALLY"), enabled)
    assert firing_task(B, source_run(), native, started_here=False) == enabled


def test_a_task_on_another_successor_does_not_fire_for_this_one() -> None:
    native = tasks(schedule(), after(target=C))
    assert not fires(native, app=B)
    assert fires(native, app=C)


def test_a_task_on_another_upstream_app_does_not_fire() -> None:
    native = tasks(schedule("t-c", C), after("t-c", C))
    assert not fires(native)
    assert fires(native, source_run(app=C))


def test_the_upstream_app_comes_from_the_upstream_task_when_the_event_names_none() -> None:
    assert fires(tasks(schedule(), after("t-a", None)))
    assert not fires(tasks(schedule("t-c", C), after("t-c", None)))


def test_an_upstream_named_by_its_app_alone_never_fires() -> None:
    # Without the upstream task nothing says the reload was its run: a hub reload would
    # otherwise be taken for one, and the hop lost.
    assert not fires(tasks(after(None, A)))
    assert not fires(tasks(after(None, C)))


@pytest.mark.parametrize(
    ("on", "outcome", "fired"),
    [
        ("success", "success", True),
        ("success", "failure", False),
        ("failure", "failure", True),
        ("failure", "success", False),
        ("any", "success", True),
        ("any", "failure", True),
        ("any", "canceled", False),
    ],
)
def test_the_status_must_match_the_source_reloads_outcome(
    on: Firing, outcome: Outcome, fired: bool
) -> None:
    run_status = {"success": "SUCCEEDED", "failure": "FAILED"}.get(outcome, "FAILED")
    native = tasks(schedule(status=run_status), after(on=on))
    assert fires(native, source_run(outcome=outcome)) is fired


def test_a_run_of_the_upstream_task_with_another_outcome_is_not_this_reload() -> None:
    # A hub reload of A succeeded; A's task then ran and failed a minute later: B's task, on
    # success, fired on nothing.
    assert not fires(tasks(schedule(status="FAILED"), after()))


@pytest.mark.parametrize(("reload_id", "fired"), [("rld-1", True), ("rld-other", False)])
def test_the_runs_reload_id_when_given_decides_whatever_the_times(
    reload_id: str, fired: bool
) -> None:
    # lastRun.workerId is the run's reload: the time is not needed, nor trusted.
    upstream = schedule(ended=A_ENDED - timedelta(hours=3), reload_id=reload_id)
    assert fires(tasks(upstream, after())) is fired


def test_a_task_that_waits_for_all_of_several_events_or_reloads_partially_never_fires_alone() -> (
    None
):
    waits = replace(after(), fires_alone=False)
    assert not fires(tasks(schedule(), waits))


def test_an_upstream_task_no_longer_listed_never_fires() -> None:
    # The event still names A, but task t-a is gone (deleted): Qlik will not fire t-b.
    assert not fires(tasks(after("t-a", A)))


def test_a_source_reload_started_by_reload_chain_fires_no_task() -> None:
    native = tasks(schedule(), after())
    assert firing_task(B, source_run(), native, started_here=True) is None
    assert firing_task(B, source_run(), native, started_here=False) is not None


@pytest.mark.parametrize(
    ("newest_run_ended", "fired"),
    [
        (A_ENDED, True),
        (A_ENDED + RUN_END_SLACK, True),
        (A_ENDED + timedelta(minutes=3), False),  # it ran again since: this one cannot be told
        (A_ENDED - RUN_END_SLACK, True),
        (A_ENDED - RUN_END_SLACK - timedelta(seconds=1), False),
        (A_ENDED - timedelta(hours=3), False),  # the reload was not a run of the task
        (None, False),  # the tenant does not say: not taken to have run it (never lost)
    ],
)
def test_the_upstream_tasks_newest_run_must_have_ended_with_the_reload(
    newest_run_ended: datetime | None, fired: bool
) -> None:
    assert fires(tasks(schedule(ended=newest_run_ended), after())) is fired


# --- problems ----------------------------------------------------------------------------------


def test_disabled_tasks_and_tasks_whose_upstream_is_gone_are_problems() -> None:
    failing = after(enabled=False, code="CONSECUTIVE-FAILURES", name="t-failing")
    codeless = after(enabled=False, name="t-codeless")
    orphan = after("t-gone", A, name="t-orphan")
    fine = after(name="t-fine")
    problems = task_problems(tasks(schedule(), failing, codeless, orphan, fine))
    assert [(p.task.task_id, p.kind, p.detail, p.key) for p in problems] == [
        ("t-failing", "disabled", "CONSECUTIVE-FAILURES", "disabled:CONSECUTIVE-FAILURES"),
        ("t-codeless", "disabled", "DISABLED", "disabled:DISABLED"),
        ("t-orphan", "upstream_missing", "t-gone", "upstream_missing:t-gone"),
    ]


def test_a_disabled_task_whose_upstream_is_gone_is_one_problem_disabled() -> None:
    (problem,) = task_problems(tasks(after("t-gone", enabled=False, code="OWNER-DELETED")))
    assert (problem.kind, problem.detail) == ("disabled", "OWNER-DELETED")


def test_a_task_with_two_upstreams_gone_is_one_problem() -> None:
    two = NativeTask(
        "t-b", "b", B, True, upstreams=(Upstream("x", A, "any"), Upstream("y", A, "any"))
    )
    (problem,) = task_problems(tasks(two))
    assert problem.key == "upstream_missing:x"


def test_no_problem_when_every_task_is_enabled_and_its_upstream_listed() -> None:
    assert task_problems(tasks(schedule(), after(), after(None, C, name="t-c"))) == []


def test_a_task_disabled_by_hand_is_a_problem_that_does_not_alert() -> None:
    (manual,) = task_problems(tasks(after(enabled=False, code="MANUALLY")))
    assert not manual.alerting
    (failing,) = task_problems(tasks(after(enabled=False, code="CONSECUTIVE-FAILURES")))
    assert failing.alerting
    (orphan,) = task_problems(tasks(after("t-gone")))
    assert orphan.alerting


def test_a_task_never_enabled_is_a_problem_that_does_not_alert() -> None:
    # No code at all: a task created and never switched on, not one Qlik stopped.
    (codeless,) = task_problems(tasks(after(enabled=False)))
    assert (codeless.detail, codeless.alerting) == ("DISABLED", False)


def problem(code: str, task_id: str = "t-b") -> TaskProblem:
    return TaskProblem(after(enabled=False, code=code, name=task_id), "disabled", code)


def test_problems_to_alert_are_the_new_alerting_ones() -> None:
    failing, manual = problem("CONSECUTIVE-FAILURES"), problem("MANUALLY", "t-m")
    assert problems_to_alert([failing, manual], {}) == [failing]


def test_a_problem_already_known_is_not_alerted_again_but_a_changed_one_is() -> None:
    failing = problem("CONSECUTIVE-FAILURES")
    assert problems_to_alert([failing], {"t-b": "disabled:CONSECUTIVE-FAILURES"}) == []
    moved = problem("APP-MOVED-SPACE")
    assert problems_to_alert([moved], {"t-b": "disabled:CONSECUTIVE-FAILURES"}) == [moved]
    # Known for another task: still new for this one.
    assert problems_to_alert([failing], {"t-x": "disabled:CONSECUTIVE-FAILURES"}) == [failing]


def test_a_task_disabled_by_hand_never_alerts_even_when_its_code_changes() -> None:
    manual = problem("MANUALLY")
    assert problems_to_alert([manual], {"t-b": "disabled:CONSECUTIVE-FAILURES"}) == []


# --- edges ---------------------------------------------------------------------------------------


def test_native_edges_go_from_the_upstream_app_to_the_tasks_app() -> None:
    named, by_task = after(name="t-b"), after("t-a", None, "failure", C, name="t-c")
    unknown = after("t-gone", None, name="t-u")  # upstream app unknown: left out
    edges = native_edges(tasks(schedule(), named, by_task, unknown))
    assert edges == [NativeEdge(A, B, "success", named), NativeEdge(A, C, "failure", by_task)]


def test_a_scheduled_task_is_no_edge() -> None:
    assert native_edges(tasks(schedule())) == []


def tag(source: str = A, target: str = B, on: str = "success") -> Edge:
    return Edge(source, target, on, f"tag next-{target}")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tag_on", "task_on", "twice"),
    [
        ("success", "success", True),
        ("failure", "failure", True),
        ("any", "success", True),
        ("success", "any", True),
        ("success", "failure", False),
        ("failure", "success", False),
    ],
)
def test_an_edge_is_declared_twice_when_source_target_and_conditions_overlap(
    tag_on: str, task_on: Firing, twice: bool
) -> None:
    native = tasks(schedule(), after(on=task_on))
    found = declared_twice({A: [tag(on=tag_on)]}, native)
    assert bool(found) is twice
    if twice:
        ((edge, native_edge),) = found
        assert (edge.target, native_edge.task.task_id) == (B, "t-b")


def test_edges_to_another_target_or_from_another_source_are_not_declared_twice() -> None:
    native = tasks(schedule(), after())
    assert declared_twice({A: [tag(target=C)], C: [tag(C, B)]}, native) == []


def test_a_disabled_native_task_declares_no_edge_twice() -> None:
    native = tasks(schedule(), after(enabled=False, code="CONSECUTIVE-FAILURES"))
    assert declared_twice({A: [tag()]}, native) == []

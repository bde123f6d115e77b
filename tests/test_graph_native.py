"""Native task chains in the graph (``jobs.graph_native``): their edges, their kind, what is
marked on them and on the tag or chain-file edges they double, and a stopped task in words."""

from __future__ import annotations

from jobs.edges import Edge, Join
from jobs.graph_native import (
    NativeView,
    as_edge,
    describe,
    edge_marks,
    is_native,
    origin_kind,
)
from qlik.tasks import NativeTask, Upstream

A, B, C, D = "app-a", "app-b", "app-c", "app-d"


def task(
    task_id: str,
    app: str,
    after: str | None = None,
    after_app: str | None = None,
    *,
    enabled: bool = True,
    code: str | None = None,
) -> NativeTask:
    upstreams = (Upstream(after, after_app, "success"),) if after or after_app else ()
    return NativeTask(task_id, f"Reload {app}", app, enabled, code, upstreams)


def view(*tasks: NativeTask) -> NativeView:
    return NativeView.listed(tasks)


MIXED = view(
    task("t-a", A),
    task("t-b", B, "t-a"),  # its upstream's app comes from the upstream task
    task("t-c", C, "t-b", B, enabled=False, code="CONSECUTIVE-FAILURES"),
    task("t-d", D, "t-gone", C),
)


def test_a_listing_is_a_view_and_a_refusal_a_refused_one() -> None:
    assert NativeView.listed(None).refused and not NativeView.listed(None).edges()
    assert not MIXED.refused
    assert [(e.source, e.target, e.task.task_id) for e in MIXED.edges()] == [
        (A, B, "t-b"),
        (B, C, "t-c"),
        (C, D, "t-d"),
    ]
    assert MIXED.apps() == {A, B, C, D}
    assert {key: p.kind for key, p in MIXED.problems().items()} == {
        "t-c": "disabled",
        "t-d": "upstream_missing",
    }


def test_a_native_edge_is_an_edge_of_its_own_kind() -> None:
    edge = as_edge(MIXED.edges()[0])
    assert edge == Edge(A, B, "success", "native task Reload app-b")
    assert is_native(edge) and origin_kind(edge) == "native-task"
    assert as_edge(view(task("t-x", B, "t-a", A)).edges()[0]).origin == "native task Reload app-b"
    unnamed = NativeTask("t-y", "", B, True, None, (Upstream(None, A, "any"),))
    assert as_edge(view(unnamed).edges()[0]).origin == "native task t-y"


def test_the_kind_of_every_other_edge() -> None:
    join = Join(C, (A, B), 60, "rc.toml:9")
    kinds = [
        origin_kind(Edge(A, B, "success", "tag next-b")),
        origin_kind(Edge(A, B, "success", "/etc/rc.toml:3")),
        origin_kind(Edge(A, C, "success", "rc.toml:9", join)),
        origin_kind(Edge(A, B, "success", "seen")),
    ]
    assert kinds == ["tag", "chain-file", "join", "seen"]
    assert not is_native(Edge(A, B, "success", "tag next-b"))


def test_a_doubled_hop_and_stopped_tasks_are_marked() -> None:
    tag = Edge(A, B, "success", "tag next-b")
    other_outcome = Edge(B, C, "failure", "rc.toml:4")  # the task fires on success only
    marks = edge_marks([tag, other_outcome], MIXED)
    native = [as_edge(edge) for edge in MIXED.edges()]
    assert [(m.kind, m.label, m.detail) for m in marks[tag]] == [
        ("also-native", "also native", "also native task Reload app-b")
    ]
    assert other_outcome not in marks and native[0] not in marks
    assert [(m.kind, m.label) for m in marks[native[1]]] == [
        ("disabled", "disabled: CONSECUTIVE-FAILURES")
    ]
    assert [(m.kind, m.label, m.detail) for m in marks[native[2]]] == [
        ("upstream-missing", "upstream gone", "upstream task t-gone not listed")
    ]


def test_a_stopped_task_in_one_sentence() -> None:
    problems = MIXED.problems()
    names = {A: "Sales extract", B: "Sales model", C: "Dashboard"}.get

    def name(app: str) -> str:
        return names(app) or app

    assert describe(problems["t-c"], MIXED, name) == (
        'native task "Reload app-c" (t-c) is disabled (CONSECUTIVE-FAILURES): it no longer '
        "reloads Dashboard after Sales model"
    )
    assert describe(problems["t-d"], MIXED, name) == (
        'native task "Reload app-d" (t-d) waits on task t-gone, which is not listed (deleted, '
        "or on an app this identity may not reload): it no longer reloads app-d after Dashboard"
    )
    scheduled = view(task("t-s", A, enabled=False, code="MANUALLY"))
    (problem,) = scheduled.problems().values()
    assert describe(problem, scheduled, name).endswith(
        "is disabled (MANUALLY): it no longer reloads Sales extract"
    )

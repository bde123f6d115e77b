"""Qlik Cloud's native task chains in the chain graph, beside reload-chain's own edges.

Every event-based task is drawn as an edge of its own kind (origin ``native task <name>``)
from its upstream's app to its app. One that will not fire is marked with why: disabled, with
its ``disabledCode``, or waiting on an upstream task the listing no longer holds. A tag or
chain-file edge that a native task declares too stays drawn, marked ``also native``: the
sweep leaves that hop to the task (``native_task``), so one of the two is redundant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from jobs.edges import Condition, Edge
from jobs.native import (
    NativeEdge,
    NativeTasks,
    TaskProblem,
    declared_twice,
    native_edges,
    task_problems,
)
from qlik.tasks import NativeTask

NATIVE_ORIGIN = "native task "
# Edge kinds by the start of ``Edge.origin``; a chain file's origin is "path:line".
# "seen": an edge the report drew from the sweeps' decisions (``jobs.report_graph``).
ORIGIN_KINDS = (("tag ", "tag"), ("seen", "seen"), (NATIVE_ORIGIN, "native-task"))
NOT_LISTED = (
    "native reload tasks not shown: this identity may not list them "
    "(GET /api/scheduling/tasks answered 403 or 404)"
)
MarkKind = Literal["also-native", "disabled", "upstream-missing"]


@dataclass(frozen=True)
class NativeView:
    """The native tasks a graph shows; ``refused``: the identity may not list them."""

    tasks: NativeTasks = field(default_factory=NativeTasks)
    refused: bool = False

    @classmethod
    def listed(cls, tasks: Iterable[NativeTask] | None) -> NativeView:
        """The view of one listing (None: the tenant refused it)."""
        return cls(refused=True) if tasks is None else cls(NativeTasks(tuple(tasks)))

    def edges(self) -> list[NativeEdge]:
        """Every event-based task whose upstream's app is known, as an edge."""
        return native_edges(self.tasks)

    def problems(self) -> dict[str, TaskProblem]:
        """Task id -> why that task will not fire."""
        return {problem.task.task_id: problem for problem in task_problems(self.tasks)}

    def apps(self) -> set[str]:
        """The apps the native edges join."""
        return {app for edge in self.edges() for app in (edge.source, edge.target)}


@dataclass(frozen=True)
class Mark:
    """Why a drawn edge stands out: its kind (a CSS class), a few words, the whole of it."""

    kind: MarkKind
    label: str
    detail: str


def task_label(task: NativeTask) -> str:
    """A task's name, or its id when it has none."""
    return task.name or task.task_id


def as_edge(native: NativeEdge) -> Edge:
    """A native edge in the graph's terms, so every format draws it like the others."""
    on = cast(Condition, native.on)
    return Edge(native.source, native.target, on, NATIVE_ORIGIN + task_label(native.task))


def is_native(edge: Edge) -> bool:
    """Whether a drawn edge is a native task's."""
    return edge.origin.startswith(NATIVE_ORIGIN)


def origin_kind(edge: Edge) -> str:
    """Where an edge comes from: ``tag``, ``chain-file``, ``join``, ``native-task``, ``seen``."""
    if edge.join is not None:
        return "join"
    return next(
        (kind for start, kind in ORIGIN_KINDS if edge.origin.startswith(start)), "chain-file"
    )


def twice(edges: Sequence[Edge], view: NativeView) -> list[tuple[Edge, NativeEdge]]:
    """Each of ``edges`` (tags, chain file) that a native task declares too, with the task's."""
    by_source: dict[str, list[Edge]] = {}
    for edge in edges:
        by_source.setdefault(edge.source, []).append(edge)
    return declared_twice(by_source, view.tasks)


def edge_marks(edges: Sequence[Edge], view: NativeView) -> dict[Edge, list[Mark]]:
    """What stands out on the drawn edges: each of ``edges`` a native task declares too, and
    each native edge whose task will not fire."""
    marks: dict[Edge, list[Mark]] = {}
    for edge, native in twice(edges, view):
        detail = f"also native task {task_label(native.task)}"
        marks.setdefault(edge, []).append(Mark("also-native", "also native", detail))
    problems = view.problems()
    for native in view.edges():
        problem = problems.get(native.task.task_id)
        if problem is not None:
            marks.setdefault(as_edge(native), []).append(problem_mark(problem))
    return marks


def problem_mark(problem: TaskProblem) -> Mark:
    """The mark of a native edge whose task has stopped."""
    if problem.kind == "disabled":
        words = f"disabled: {problem.detail}"
        return Mark("disabled", words, words)
    return Mark("upstream-missing", "upstream gone", f"upstream task {problem.detail} not listed")


def describe(problem: TaskProblem, view: NativeView, name: Callable[[str], str]) -> str:
    """A stopped task in one sentence: which, why, and which reload no longer happens."""
    task = problem.task
    sources = (view.tasks.upstream_app(upstream) for upstream in task.upstreams)
    after = next((app for app in sources if app is not None), None)
    stops = f"it no longer reloads {name(task.app_id)}" + (f" after {name(after)}" if after else "")
    if problem.kind == "disabled":
        why = f"is disabled ({problem.detail})"
    else:
        why = (
            f"waits on task {problem.detail}, which is not listed "
            "(deleted, or on an app this identity may not reload)"
        )
    return f'native task "{task_label(task)}" ({task.task_id}) {why}: {stops}'

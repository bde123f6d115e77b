"""Qlik Cloud's native task chains beside reload-chain's: which reloads Qlik starts itself.

Pure: the tenant's tasks (``qlik.tasks``) and a finished source reload -> whether a native
task will start a successor after it. Qlik fires an event-based task when a run of its upstream
*task* finishes, so only a reload the listing shows to be that task's run counts: not one
reload-chain started (``POST /api/v1/reloads``), nor one from the hub, nor one the listing
cannot place. Doubt means reload-chain starts the successor: at worst twice, never lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from jobs.edges import Edge, matches
from qlik.events import FinishedReload
from qlik.tasks import RUN_OUTCOMES, NativeTask, Upstream

# A task run ends as its reload does, give or take the scheduler's bookkeeping: a newest run
# that ended further than this from a reload's end was not that reload.
RUN_END_SLACK = timedelta(minutes=1)
# An administrator who disabled a task did it on purpose (``MANUALLY``; no code at all: a
# task never enabled): listed by doctor, not alerted.
DELIBERATE = frozenset({"MANUALLY", "DISABLED"})


@dataclass(frozen=True)
class NativeTasks:
    """The tenant's native reload tasks as one sweep (or command) knows them."""

    tasks: tuple[NativeTask, ...] = ()
    by_id: Mapping[str, NativeTask] = field(init=False, repr=False, compare=False)
    by_app: Mapping[str, tuple[NativeTask, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_app: dict[str, list[NativeTask]] = {}
        for task in self.tasks:
            by_app.setdefault(task.app_id, []).append(task)
        object.__setattr__(self, "by_id", {task.task_id: task for task in self.tasks})
        object.__setattr__(self, "by_app", {app: tuple(tasks) for app, tasks in by_app.items()})

    def reload_any(self, app_ids: Iterable[str]) -> bool:
        """Whether some task reloads one of these apps."""
        return any(app_id in self.by_app for app_id in app_ids)

    def upstream_app(self, upstream: Upstream) -> str | None:
        """The app whose reload fires ``upstream``: named, or the upstream task's."""
        task = self.by_id.get(upstream.task_id) if upstream.task_id else None
        return upstream.app_id or (task.app_id if task else None)

    def upstream_missing(self, upstream: Upstream) -> bool:
        """The upstream task is named but no longer listed (deleted): it never fires again."""
        return upstream.task_id is not None and upstream.task_id not in self.by_id


def firing_task(
    app_id: str, run: FinishedReload, native: NativeTasks, *, started_here: bool
) -> NativeTask | None:
    """The enabled native task that starts ``app_id`` after this source reload, if any.

    ``started_here``: reload-chain started ``run`` itself, so no task fires on it.
    """
    if started_here:
        return None
    for task in native.by_app.get(app_id, ()):
        if not (task.enabled and task.fires_alone):
            continue
        if any(_fires(upstream, run, native) for upstream in task.upstreams):
            return task
    return None


def _fires(upstream: Upstream, run: FinishedReload, native: NativeTasks) -> bool:
    if native.upstream_app(upstream) != run.app_id or not matches(upstream.on, run.outcome):
        return False
    upstream_task = native.by_id.get(upstream.task_id) if upstream.task_id else None
    return upstream_task is not None and ran_as(upstream_task, run)


def ran_as(task: NativeTask, run: FinishedReload) -> bool:
    """Whether ``run`` is ``task``'s newest run, as far as the listing tells; when it cannot
    tell (no run said, the task ran again since), no: then reload-chain starts the successor
    itself, at worst a second time, never a hop lost.

    By the run's reload id (``lastRun.workerId``) when given, else by its end within
    ``RUN_END_SLACK`` and its status.
    """
    if task.last_run_reload_id is not None:
        return task.last_run_reload_id == run.reload_id
    ended, status = task.last_run_ended_at, task.last_run_status
    if ended is None or status is None:
        return False
    return abs(ended - run.ended_at) <= RUN_END_SLACK and RUN_OUTCOMES.get(status) == run.outcome


@dataclass(frozen=True)
class TaskProblem:
    """A native task that has stopped: disabled (``detail``: its code), or its upstream gone."""

    task: NativeTask
    kind: str  # "disabled" | "upstream_missing"
    detail: str

    @property
    def key(self) -> str:
        """What the problem is, to tell a new one from one already known."""
        return f"{self.kind}:{self.detail}"

    @property
    def alerting(self) -> bool:
        """Whether it warrants an alert (a task disabled by hand, or never enabled, does not)."""
        return not (self.kind == "disabled" and self.detail in DELIBERATE)


def task_problems(native: NativeTasks) -> list[TaskProblem]:
    """Every task that will not fire: disabled ones, and event tasks whose upstream is gone."""
    problems = []
    for task in native.tasks:
        if not task.enabled:
            problems.append(TaskProblem(task, "disabled", task.disabled_code or "DISABLED"))
            continue
        for upstream in task.upstreams:
            if native.upstream_missing(upstream):
                problems.append(TaskProblem(task, "upstream_missing", upstream.task_id or ""))
                break
    return problems


@dataclass(frozen=True)
class NativeEdge:
    """A native task drawn as an edge: the upstream app's reload starts ``task``'s app."""

    source: str
    target: str
    on: str
    task: NativeTask


def native_edges(native: NativeTasks) -> list[NativeEdge]:
    """Every event task as an edge from its upstream app (tasks whose upstream app is unknown
    are left out)."""
    edges = []
    for task in native.tasks:
        for upstream in task.upstreams:
            source = native.upstream_app(upstream)
            if source is not None:
                edges.append(NativeEdge(source, task.app_id, upstream.on, task))
    return edges


def declared_twice(
    edges: Mapping[str, Sequence[Edge]], native: NativeTasks
) -> list[tuple[Edge, NativeEdge]]:
    """Edges of tags or the chain file that an enabled native task also declares (same source
    and target, conditions overlapping): reload-chain leaves those hops to Qlik."""
    found = []
    for native_edge in native_edges(native):
        if not native_edge.task.enabled:
            continue  # a disabled task reloads nothing: the edge is reload-chain's alone
        for edge in edges.get(native_edge.source, ()):
            if edge.target == native_edge.target and _overlap(edge.on, native_edge.on):
                found.append((edge, native_edge))
    return found


def _overlap(one: str, other: str) -> bool:
    return "any" in (one, other) or one == other


def problems_to_alert(
    problems: Iterable[TaskProblem], known: Mapping[str, str]
) -> list[TaskProblem]:
    """The alerting problems not already known (``known``: task id -> problem key last seen)."""
    return [p for p in problems if p.alerting and known.get(p.task.task_id) != p.key]

"""``doctor``'s look at Qlik Cloud's native task chains: what to tidy, what has stopped.

Each finding is a WARN, never a FAIL: reload-chain stays safe beside native tasks, the
findings are for the administrator to tidy up.

- a hop declared both ways (a tag or chain-file edge, and a native task that will fire on the
  same source, target and outcome): the sweep leaves it to the task, so one is redundant;
- a native task that will not fire: disabled (with its ``disabledCode``), or waiting on an
  upstream task the listing does not hold;
- an identity that may not list native tasks, said once.
"""

from __future__ import annotations

from collections.abc import Callable

from jobs.edges import Edge
from jobs.graph import ChainGraph
from jobs.graph_native import NativeView, describe, task_label, twice
from jobs.native import NativeEdge
from scheduler.doctor_settings import Check

NAME = "native tasks"
REFUSED = (
    "this identity may not list native reload tasks (GET /api/scheduling/tasks answered 403 or 404)"
)
REFUSED_FIX = (
    "successors a native task starts may be reloaded twice; grant the identity the "
    "TenantAdmin role (or reload permission on the apps with tasks), or ignore this if you "
    "use no native tasks"
)
STOPPED_FIX = {
    "disabled": "fix what disabled it and enable it in the app's schedule, or delete it",
    "upstream_missing": "point it at an existing task, or delete it",
}


def native_checks(graph: ChainGraph) -> list[Check]:
    """The findings about the native tasks of ``graph`` (built with them), or one ok line."""
    view = graph.native
    if view.refused:
        return [Check(NAME, True, REFUSED, REFUSED_FIX, warn=True)]
    name = _namer(graph)
    problems = view.problems()
    chained = {edge.target for edge in graph.edges} | {join.target for join in graph.joins}
    found = [
        _twice(edge, native, name, chained)
        for edge, native in twice(graph.edges, view)
        if native.task.enabled and native.task.task_id not in problems
    ]
    for problem in sorted(problems.values(), key=lambda p: p.task.task_id):
        detail = describe(problem, view, name)
        found.append(Check(NAME, True, detail, STOPPED_FIX[problem.kind], warn=True))
    return found or [Check(NAME, True, _summary(view))]


def _twice(edge: Edge, native: NativeEdge, name: Callable[[str], str], chained: set[str]) -> Check:
    """A hop declared both ways. When reload-chain itself reloads the source, the tag (or
    edge) is still needed: no native task fires on a reload it did not run."""
    task = native.task
    tag = edge.origin.startswith("tag ")
    where = edge.origin if tag else f"the chain file ({edge.origin})"
    ours = "the tag" if tag else "the chain-file edge"
    detail = (
        f"{name(edge.source)} -> {name(edge.target)} is declared twice, by {where} and by "
        f'native task "{task_label(task)}" ({task.task_id}); after a run of the task '
        "upstream, reload-chain leaves this hop to the native task"
    )
    if edge.source in chained:
        fix = (
            f"keep {ours}: reload-chain also reloads {name(edge.source)}, and no native task "
            f"fires after those reloads; or delete the task and let reload-chain run the hop"
        )
    else:
        fix = f"remove {ours} or the task"
    return Check(NAME, True, detail, fix, warn=True)


def _summary(view: NativeView) -> str:
    tasks = view.tasks.tasks
    if not tasks:
        return "none listed (this identity sees no native reload task)"
    chained = sum(task.event_based for task in tasks)
    return (
        f"{len(tasks)} listed, {chained} of them started by another task's run; "
        "none stopped, no hop declared twice"
    )


def _namer(graph: ChainGraph) -> Callable[[str], str]:
    def name(app_id: str) -> str:
        node = graph.nodes.get(app_id)
        return node.name if node is not None and node.name else app_id

    return name

"""The sweep's side of native task chains: list the tasks only when it might matter.

A sweep with no successor to decide never asks (an idle sweep stays one call). Otherwise it
reuses the listing an earlier sweep kept while it is younger than
``native_tasks_refresh_minutes`` and none of the successors it would start had a native task
in it; else it lists the tasks (once), so a start is only ever withheld as ``native_task`` on
a listing read in this sweep. A tenant that refused the listing (403, or no such API) is not
asked again for a day. ``decide`` then runs again with the tasks known: it is pure, so the
second pass differs only by ``native_task``, which comes before the reload history (Qlik's own
start is usually why a successor is already ``running`` or ``fresh``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from loguru import logger

from jobs.alerts import NATIVE_TASK_DISABLED, Cause
from jobs.decide import Decision, DecisionSettings, TenantFacts, decide
from jobs.native import NativeTasks, TaskProblem, problems_to_alert, task_problems
from qlik.client import QlikClient
from qlik.errors import ApiError, NotSentError, RetryableError
from qlik.events import FinishedReload
from state.native_tasks import NativeTaskStore, StoredNative
from state.rows import NativeSnapshot
from state.store import Store

# The decisions a native task can change: a start, or a skip it would explain (``decide``
# asks before the reload history and joins); never a missing app, an unsettled start, a cycle.
EXPLAINABLE = frozenset({"triggered", "deferred", "running", "tolerance", "fresh", "join_waiting"})
# A refusal is about the identity's roles, which change rarely: asked again once a day.
ASK_AGAIN_AFTER_REFUSAL = timedelta(days=1)


class NativeSettings(DecisionSettings, Protocol):
    """The settings this reads: ``decide``'s, and how long a kept listing serves."""

    @property
    def native_tasks_refresh_minutes(self) -> int: ...


@dataclass(frozen=True)
class NativeRead:
    """What a sweep learned of the native tasks: to decide with, to keep, to alert."""

    native: NativeTasks | None = None
    snapshot: NativeSnapshot | None = None
    alerts: list[Cause] = field(default_factory=list)

    @property
    def names(self) -> dict[str, str]:
        """The names of the apps the tasks reload, as the listing gave them."""
        tasks = self.native.tasks if self.native else ()
        return {task.app_id: task.app_name for task in tasks if task.app_name}


def decide_beside_native(
    client: QlikClient,
    store: Store,
    runs: Sequence[FinishedReload],
    facts: TenantFacts,
    settings: NativeSettings,
    *,
    now: datetime,
) -> tuple[list[Decision], NativeRead]:
    """The decisions, with every successor a native task starts skipped as ``native_task``.

    A listing that fails (network, 5xx, any refusal but 403/404) raises ``RetryableError`` only
    when a successor to start had a native task in the kept listing: the sweep leaves its events
    for the next one, since only the tenant can say whether Qlik starts it. Otherwise the sweep
    goes on without the tasks (one WARNING): at worst a successor is reloaded twice, never lost,
    and an optional API that fails for days does not stop every chain.
    """
    decisions = decide(runs, facts, settings, now)
    named = {decision.app_id for decision in decisions if decision.reason in EXPLAINABLE}
    if not named:
        return decisions, NativeRead()
    starting = {decision.app_id for decision in decisions if decision.action == "trigger"}
    try:
        read = read_native(client, store, starting, settings, now)
    except NotSentError:
        raise  # out of time, or stopped: no call is made any more
    except (RetryableError, ApiError) as error:
        kept = NativeTasks(NativeTaskStore.of(store).stored().tasks)
        if kept.reload_any(starting):
            raise RetryableError(f"native reload tasks could not be listed: {error}") from None
        logger.warning("native reload tasks not listed, decided without them: {}", error)
        return decisions, NativeRead()
    if read.native is None or not read.native.reload_any(named):
        return decisions, read
    return decide(runs, replace(facts, native=read.native), settings, now), read


def read_native(
    client: QlikClient, store: Store, starting: set[str], settings: NativeSettings, now: datetime
) -> NativeRead:
    """The tasks to decide with: kept if fresh and none of the successors to start
    (``starting``) has one in it, else listed now; None when the tenant refuses the listing.

    A kept listing only ever turns a skip into ``native_task`` (a clearer reason for the
    same skip), never a start into a skip: that needs a listing read in this sweep.
    """
    kept = NativeTaskStore.of(store).stored()
    if _within(kept.refused_at, ASK_AGAIN_AFTER_REFUSAL, now):
        return NativeRead()
    if _serves(kept, starting, settings, now):
        return NativeRead(NativeTasks(kept.tasks))
    listed = client.native_tasks()
    if listed is None:
        logger.warning(
            "this identity may not list native reload tasks (GET /api/scheduling/tasks): "
            "successors they start may be reloaded twice; asked again in a day (see doctor)"
        )
        return NativeRead(snapshot=NativeSnapshot(now, None))
    native = NativeTasks(tuple(listed))
    problems = task_problems(native)
    keys = {problem.task.task_id: problem.key for problem in problems}
    causes = [_cause(problem, native) for problem in problems_to_alert(problems, kept.problems)]
    return NativeRead(native, NativeSnapshot(now, native.tasks, keys), causes)


def _serves(
    kept: StoredNative, starting: set[str], settings: NativeSettings, now: datetime
) -> bool:
    """A kept listing decides these successors if fresh and none of them has a native task."""
    if not _within(kept.read_at, timedelta(minutes=settings.native_tasks_refresh_minutes), now):
        return False
    return not NativeTasks(kept.tasks).reload_any(starting)


def _within(moment: datetime | None, span: timedelta, now: datetime) -> bool:
    """``moment`` was less than ``span`` before ``now``; a moment after ``now`` (a clock that
    was ahead, a database from another machine) is not: stale, so asked again."""
    return moment is not None and timedelta(0) <= now - moment < span


def _cause(problem: TaskProblem, native: NativeTasks) -> Cause:
    task = problem.task
    upstream = next(iter(task.upstreams), None)
    after = native.upstream_app(upstream) if upstream else None
    names = {other.app_id: other.app_name for other in native.tasks if other.app_name}
    shown = f"{names[after]} ({after})" if after in names else after
    stops = f"; it no longer reloads this app after {shown}" if after else ""
    if problem.kind == "disabled":
        reason = f'native task "{task.name}" ({task.task_id}) is disabled: {problem.detail}'
    else:
        reason = (
            f'native task "{task.name}" ({task.task_id}) waits on task {problem.detail}, '
            "which no longer exists"
        )
    return Cause(NATIVE_TASK_DISABLED, task.app_id, reason + stops)

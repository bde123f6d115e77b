"""Native tasks at run time: which reloads start by themselves, and each task's runs.

A reload that is a run of task T fires, when it ends, every event-based task that waits for
T's run to end so: that task's app reloads ``FIRE_DELAY`` later, as a run of that task, so its
own successors fire in turn. Reloads started through ``POST /api/v1/reloads`` are no task's
runs and fire nothing. Nothing runs in the background: the tenant starts each ``Due`` reload
when a request finds its time has come, in time order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from simulator.reloads import SimReload
from simulator.scenario import AppSpec, Scenario
from simulator.task_spec import RUN_TYPES, TaskSpec

FIRE_DELAY = timedelta(seconds=1)
FINAL = ("SUCCEEDED", "FAILED")


@dataclass(frozen=True, order=True)
class Due:
    """A reload that starts by itself at ``created``: scheduled, or fired by a task.

    ``task``: the key of the task it is a run of ("" for none). Ordered by time, then app.
    """

    created: datetime
    app_id: str
    task: str = ""
    kind: str = field(default="chronos", compare=False)
    succeeds: bool = field(default=True, compare=False)


class TaskBook:
    """The tenant's native tasks and their runs. Not thread-safe: the tenant locks."""

    def __init__(self, scenario: Scenario) -> None:
        self.tasks = {task.key: task for task in scenario.tasks}
        self.by_id = {task.id: task for task in scenario.tasks}
        self.apps: dict[str, AppSpec] = {}
        for app in scenario.apps:
            self.apps.setdefault(app.key, app)
        self._apps_by_id = {app.id: app for app in scenario.apps}
        self._after: dict[str, list[TaskSpec]] = {}
        for task in scenario.tasks:
            if task.after is not None:
                self._after.setdefault(task.after, []).append(task)
        self._runs: dict[str, list[SimReload]] = {}

    def app_of(self, task: TaskSpec) -> AppSpec:
        """The app a task reloads."""
        return self.apps[task.app]

    def record(self, task_key: str, reload: SimReload) -> list[Due]:
        """Keep ``reload`` as a run of the task; return the reloads its end fires."""
        self._runs.setdefault(task_key, []).append(reload)
        return self.fired(task_key, reload.succeeds, reload.ended)

    def fired(self, task_key: str, succeeded: bool, ended: datetime) -> list[Due]:
        """The reloads a run of task ``task_key`` that ended so at ``ended`` starts."""
        return [
            Due(
                ended + FIRE_DELAY,
                self.app_of(task).id,
                task.key,
                RUN_TYPES["event"],
                self.app_of(task).outcome == "success",
            )
            for task in self._after.get(task_key, [])
            if task.fires_on(succeeded)
        ]

    def last_run(self, task_key: str, now: datetime) -> SimReload | None:
        """The task's newest run that has finished by ``now`` (by its end), if any."""
        finished = [r for r in self._runs.get(task_key, []) if r.status(now) in FINAL]
        return max(finished, key=lambda reload: (reload.ended, reload.id), default=None)

    def upstream(self, task: TaskSpec) -> TaskSpec | None:
        """The task a task runs after, as the scenario names it (deleted or not)."""
        return None if task.after is None else self.tasks[task.after]

    def ends(self, due: Iterable[Due], horizon: datetime) -> list[datetime]:
        """When each reload starting by ``horizon`` ends, and its audit events show: those
        already due and the ones their runs fire in turn."""
        ends: list[datetime] = []
        todo = [entry for entry in due if entry.created <= horizon]
        while todo:
            entry = todo.pop()
            app = self._apps_by_id[entry.app_id]
            ended = entry.created + timedelta(seconds=app.queue_seconds + app.duration_seconds)
            ends.append(ended + timedelta(seconds=app.late_seconds))
            if entry.task:
                fired = self.fired(entry.task, entry.succeeds, ended)
                todo += [then for then in fired if then.created <= horizon]
        return ends

"""Native reload tasks in a scenario (``[[tasks]]``): Qlik Cloud's own scheduling tasks.

A task without ``after`` runs on a time schedule: the scenario's reloads that name it
(``task = "<key>"``) are its runs. A task with ``after`` is event-based: it reloads its app
when a run of the upstream task ends ``on`` success, failure or either (``any``).
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

DisabledCode = Literal[
    "MANUALLY",
    "CONSECUTIVE-FAILURES",
    "APP-SCRIPT-UPDATED",
    "OWNER-DELETED",
    "OWNER-DISABLED",
    "APP-MOVED-SPACE",
    "OWNER-MOVED",
]
Firing = Literal["success", "failure", "any"]
# The reload type a run of each kind of task has in the reloads API.
RUN_TYPES = {"time": "chronos", "event": "choreographer"}


class TaskSpec(BaseModel):
    """One native reload task.

    ``disabled_code`` implies ``enabled = false``. ``upstream_deleted``: the task's correlation
    names the id its upstream task had before that was deleted, which no listed task has; the
    task then never fires.
    """

    model_config = ConfigDict(extra="forbid")

    key: str
    app: str
    name: str = ""
    id: str = ""
    after: str | None = None
    on: Firing = "success"
    enabled: bool = True
    disabled_code: DisabledCode | None = None
    upstream_deleted: bool = False
    owner: str = "admin"

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if self.disabled_code is not None:
            if self.enabled and "enabled" in self.model_fields_set:
                raise ValueError(
                    f"task {self.key!r} is enabled but has disabled_code {self.disabled_code}"
                )
            self.enabled = False
        if self.after is None and (self.on != "success" or self.upstream_deleted):
            raise ValueError(f"task {self.key!r}: on and upstream_deleted need after")
        if self.after == self.key:
            raise ValueError(f"task {self.key!r} runs after itself")
        self.id = self.id or task_id(self.key)
        return self

    @property
    def kind(self) -> Literal["time", "event"]:
        """``time`` (runs on a schedule) or ``event`` (runs when its upstream's run ends)."""
        return "time" if self.after is None else "event"

    @property
    def fires(self) -> bool:
        """Whether an upstream run can start it: event-based, enabled, upstream not deleted."""
        return self.after is not None and self.enabled and not self.upstream_deleted

    def fires_on(self, succeeded: bool) -> bool:
        """Whether a run of its upstream that ended so starts it."""
        wanted = "success" if succeeded else "failure"
        return self.fires and self.on in ("any", wanted)


def task_id(key: str) -> str:
    """A task's GUID, the same for the same key every time (never an app's id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reload-chain-sim/task/{key}"))


def deleted_id(upstream_id: str) -> str:
    """The id an upstream task had before it was deleted: no listed task has it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reload-chain-sim/deleted-task/{upstream_id}"))


def resolve_tasks(tasks: list[TaskSpec], app_names: dict[str, str]) -> dict[str, TaskSpec]:
    """Check each task's app and upstream and that no chain of tasks loops; fill in names.

    ``app_names``: each app's key and name. Returns the tasks by key.
    """
    by_key: dict[str, TaskSpec] = {}
    for task in tasks:
        if task.key in by_key:
            raise ValueError(f"two tasks have the key {task.key!r}")
        if task.app not in app_names:
            raise ValueError(f"task {task.key!r} reloads unknown app {task.app!r}")
        task.name = task.name or f"Reload {app_names[task.app]}"
        by_key[task.key] = task
    for task in tasks:
        if task.after is not None and task.after not in by_key:
            raise ValueError(f"task {task.key!r} runs after unknown task {task.after!r}")
    for task in tasks:
        _check_no_loop(task, by_key)
    return by_key


def _check_no_loop(task: TaskSpec, by_key: dict[str, TaskSpec]) -> None:
    seen = [task.key]
    upstream = task.after
    while upstream is not None:
        if upstream in seen:
            raise ValueError(f"tasks run after each other in a loop: {' -> '.join(seen)}")
        seen.append(upstream)
        upstream = by_key[upstream].after


def run_type(tasks: dict[str, TaskSpec], task_key: str, app_key: str, scheduled: bool) -> str:
    """The reload type of a run of task ``task_key`` on app ``app_key``; ValueError if the
    reload cannot be one (unknown task, another app, a disabled time task scheduled)."""
    task = tasks.get(task_key)
    if task is None:
        raise ValueError(f"reload of {app_key!r} is a run of unknown task {task_key!r}")
    if task.app != app_key:
        raise ValueError(f"task {task_key!r} reloads {task.app!r}, not {app_key!r}")
    if scheduled and task.kind == "time" and not task.enabled:
        raise ValueError(f"task {task_key!r} is disabled: it schedules no reload")
    return RUN_TYPES[task.kind]

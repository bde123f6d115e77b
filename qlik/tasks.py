"""Qlik Cloud's native reload tasks (``GET /api/scheduling/tasks``), read as chain edges.

An event-based task reloads its app (``resourceId``) when another task's run finishes: the
upstream is named by the correlations of its ``com.qlik.v1.task.run.finished`` event (``id``:
the upstream task, ``status``: ``SUCCEEDED`` or ``FAILED``, ``appId``: the upstream's app).
Only what reload-chain needs is kept; a task that cannot be read is left out, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qlik.models import Page
from qlik.times import parse_time

TASKS = "/api/scheduling/tasks"
TASK_RUN_FINISHED = "com.qlik.v1.task.run.finished"
Firing = Literal["success", "failure", "any"]
# A task run's status, and the outcome of a reload it means (and that fires a successor).
RUN_OUTCOMES: dict[str, Firing] = {"SUCCEEDED": "success", "FAILED": "failure"}


@dataclass(frozen=True)
class Upstream:
    """What fires an event-based task: a run of ``task_id`` (on ``app_id``) ending so."""

    task_id: str | None
    app_id: str | None
    on: Firing


@dataclass(frozen=True)
class NativeTask:
    """One native reload task: the app it reloads, and (event-based) what fires it."""

    task_id: str
    name: str
    app_id: str
    enabled: bool
    disabled_code: str | None = None
    upstreams: tuple[Upstream, ...] = ()
    # The task's newest run, as far as the tenant says (None: not said): when it ended, its
    # status (SUCCEEDED, FAILED, RUNNING) and its reload (``lastRun.workerId``).
    last_run_ended_at: datetime | None = None
    app_name: str = ""  # the reloaded app's name (``metadata.resourceName``)
    last_run_status: str | None = None
    last_run_reload_id: str | None = None
    # False when one upstream run alone does not start a full reload of the app: the task
    # waits for all of several events (``exclusive: false``), or reloads partially.
    fires_alone: bool = True

    @property
    def event_based(self) -> bool:
        """Whether another task's run fires this one (else it runs on a schedule)."""
        return bool(self.upstreams)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Correlation(_Model):
    name: str = Field(alias="contextAttributeName")
    value: str | None = Field(default=None, alias="contextAttributeValue")


class _Event(_Model):
    name: str = ""
    type: str | None = None
    correlation: list[_Correlation] = Field(default_factory=list)


class _FunctionRef(_Model):
    ref_name: str = Field(default="", alias="refName")
    arguments: dict[str, Any] = Field(default_factory=dict)


class _Action(_Model):
    function_ref: _FunctionRef | None = Field(default=None, alias="functionRef")


class _OnEvents(_Model):
    event_refs: list[str] = Field(default_factory=list, alias="eventRefs")
    actions: list[_Action] = Field(default_factory=list)


class _State(_Model):
    exclusive: bool = True
    on_events: list[_OnEvents] = Field(default_factory=list, alias="onEvents")


class _LastRun(_Model):
    status: str | None = None
    worker_id: str | None = Field(default=None, alias="workerId")
    ended_at: str | None = Field(default=None, alias="endedAt")


class _Orchestration(_Model):
    attrs: dict[str, Any] = Field(default_factory=dict)
    last_run: _LastRun | None = Field(default=None, alias="lastRun")


class _Metadata(_Model):
    disabled_code: str | None = Field(default=None, alias="disabledCode")
    resource_name: str = Field(default="", alias="resourceName")
    orchestration: _Orchestration | None = None


class TaskModel(_Model):
    """A ``Task`` of the scheduling-tasks API, as far as reload-chain reads it."""

    id: str
    name: str = ""
    enabled: bool = False
    resource_id: str = Field(alias="resourceId")
    events: list[_Event] = Field(default_factory=list)
    states: list[_State] = Field(default_factory=list)
    metadata: _Metadata = Field(default_factory=_Metadata)


def native_task(model: TaskModel) -> NativeTask:
    """The chain-relevant facts of one task."""
    referenced = {ref for state in model.states for on in state.on_events for ref in on.event_refs}
    upstreams = tuple(
        upstream
        for event in model.events
        if event.type == TASK_RUN_FINISHED
        and (not referenced or event.name in referenced)
        and (upstream := _upstream(event)) is not None
    )
    ended, status, reload_id = _last_run(model.metadata)
    return NativeTask(
        task_id=model.id,
        name=model.name,
        app_id=model.resource_id.lower(),
        enabled=model.enabled,
        disabled_code=None if model.enabled else model.metadata.disabled_code,
        upstreams=upstreams,
        last_run_ended_at=ended,
        app_name=model.metadata.resource_name,
        last_run_status=status,
        last_run_reload_id=reload_id,
        fires_alone=_fires_alone(model.states),
    )


def _fires_alone(states: list[_State]) -> bool:
    """No state waits for all of several events, and no ``app.reload`` action is partial."""
    waits_for_all = any(
        not state.exclusive and len({ref for on in state.on_events for ref in on.event_refs}) > 1
        for state in states
    )
    partial = any(
        action.function_ref.arguments.get("partial") is True
        for state in states
        for on in state.on_events
        for action in on.actions
        if action.function_ref is not None and action.function_ref.ref_name == "app.reload"
    )
    return not (waits_for_all or partial)


def _upstream(event: _Event) -> Upstream | None:
    """The upstream one event names; None when it names no upstream task, or a status
    reload-chain cannot read. Such an event is not taken to fire: without the task's id, a
    manual reload of the app cannot be told from the task's run, and taking it to fire would
    skip a hop nobody runs; at worst a reload is started twice, never one lost."""
    values = {item.name: item.value for item in event.correlation if item.value}
    status = values.get("status")
    on: Firing | None = RUN_OUTCOMES.get(status.upper()) if status else "any"
    if on is None or not values.get("id"):
        return None
    app_id = values.get("appId")
    return Upstream(values.get("id"), app_id.lower() if app_id else None, on)


def _last_run(metadata: _Metadata) -> tuple[datetime | None, str | None, str | None]:
    """The newest run's end, status and reload id: ``lastRun``, else the ``attrs``."""
    orchestration = metadata.orchestration
    if orchestration is None:
        return None, None, None
    run = orchestration.last_run
    attrs = orchestration.attrs
    ended = _time(run.ended_at if run and run.ended_at else attrs.get("last_run_endedAt"))
    status = run.status if run and run.status else attrs.get("last_run_status")
    reload_id = run.worker_id if run and run.worker_id else None
    return ended, status.upper() if isinstance(status, str) else None, reload_id


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) and value.strip() else None
    except ValueError:
        return None


def tasks_of_pages(pages: Iterable[Page]) -> list[NativeTask]:
    """The reload tasks on these listing pages; a row that cannot be read is logged, skipped."""
    found = []
    for page in pages:
        for row in page.data:
            try:
                found.append(native_task(TaskModel.model_validate(row)))
            except ValidationError as error:
                first = error.errors(include_url=False, include_input=False)[0]
                where = ".".join(str(part) for part in first["loc"]) or "top level"
                logger.warning(
                    "GET {}: a task unreadable at {} ignored: {}", TASKS, where, first["msg"]
                )
    return found

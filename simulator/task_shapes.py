"""Native tasks as the scheduling-tasks API serves them (``Task``, ``ErrorResponse``).

Only properties ``scheduling-tasks.json`` declares are emitted: its ``Task`` allows no others.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from qlik.times import format_time
from simulator.scenario import AppSpec
from simulator.shapes import CREATED
from simulator.task_spec import TaskSpec, deleted_id
from simulator.tenant import SimTenant

VERSION = "1.0.0"
SPEC_VERSION = "1.16.0"
RUN_FINISHED = "com.qlik.v1.task.run.finished"
STATE = "app-reload"
TIME_EVENT = "time-schedule"  # what a time task's state waits for: its schedule
SCHEDULE = {
    "recurrence": "RRULE:FREQ=DAILY;INTERVAL=1",
    "startDateTime": CREATED.replace(".000Z", "Z"),
    "timezone": "UTC",
}
STATUSES = {"success": "SUCCEEDED", "failure": "FAILED"}
OUTCOME_WORDS = {"success": "succeeded", "failure": "failed", "any": "finished"}
TRIGGER_TYPES = {"time": 0, "event": 1}  # TIME_SCHEDULE, SINGLE_EVENT
ORCHESTRATION_TYPE = 3  # MINIBUS: the reloads worker
SPACE_TYPES = ("shared", "managed")  # a data space has no spaceType in taskMetadata


def task(tenant: SimTenant, spec: TaskSpec, now: datetime) -> dict[str, Any]:
    """One ``Task``: an event task with its ``events``, a time task with its ``start``."""
    app = tenant.book.app_of(spec)
    upstream = tenant.book.upstream(spec)
    event = None if upstream is None else _event(tenant, spec, upstream)
    body: dict[str, Any] = {
        "id": spec.id,
        "name": spec.name,
        "description": _description(spec, app, upstream),
        "enabled": spec.enabled,
        "version": VERSION,
        "specVersion": SPEC_VERSION,
        "resourceId": app.id,
    }
    if event is None:
        body["start"] = {"schedule": dict(SCHEDULE), "stateName": STATE}
    else:
        body["events"] = [event]
    body["states"] = [_state(app, event["name"] if event else TIME_EVENT)]
    body["metadata"] = _metadata(tenant, spec, app, now)
    return body


def _description(spec: TaskSpec, app: AppSpec, upstream: TaskSpec | None) -> str:
    if upstream is None:
        return f"Reload {app.name} every day"
    return f"Reload {app.name} when task {upstream.name!r} {OUTCOME_WORDS[spec.on]}"


def _event(tenant: SimTenant, spec: TaskSpec, upstream: TaskSpec) -> dict[str, Any]:
    """The ``eventdef`` of an event task: a run of the upstream task finished so."""
    upstream_id = deleted_id(upstream.id) if spec.upstream_deleted else upstream.id
    upstream_app = tenant.book.app_of(upstream)
    correlation = [{"contextAttributeName": "id", "contextAttributeValue": upstream_id}]
    if spec.on in STATUSES:
        status = STATUSES[spec.on]
        correlation.append({"contextAttributeName": "status", "contextAttributeValue": status})
    correlation.append({"contextAttributeName": "appId", "contextAttributeValue": upstream_app.id})
    if upstream_app.space:
        space = {"contextAttributeName": "spaceId", "contextAttributeValue": upstream_app.space}
        correlation.append(space)
    return {
        "name": f"task-{upstream_id}-{OUTCOME_WORDS[spec.on]}",
        "type": RUN_FINISHED,
        "source": "system-events.task",
        "correlation": correlation,
    }


def _state(app: AppSpec, event_name: str) -> dict[str, Any]:
    """The one ``eventstate``: on the event, reload the app."""
    function = {"refName": "app.reload", "arguments": {"appId": app.id, "partial": False}}
    action = {"name": "app.reload", "functionRef": function}
    return {
        "name": STATE,
        "type": "EVENT",
        "onEvents": [{"eventRefs": [event_name], "actions": [action]}],
        "end": True,
    }


def _metadata(tenant: SimTenant, spec: TaskSpec, app: AppSpec, now: datetime) -> dict[str, Any]:
    meta: dict[str, Any] = {"usage": "ANALYTICS", "ownerId": spec.owner, "createdBy": spec.owner}
    meta |= _space(tenant, app)
    meta |= {
        "tenantId": tenant.scenario.tenant_id,
        "createdAt": CREATED,
        "updatedAt": CREATED,
        "resourceName": app.name,
        "resourceType": app.resource_type,
        "trigger": {"id": _stable(spec.id, "trigger"), "type": TRIGGER_TYPES[spec.kind]},
        "topology": {"isChild": spec.after is not None, "isParent": _is_parent(tenant, spec)},
    }
    if spec.disabled_code is not None:
        meta["disabledCode"] = spec.disabled_code
    meta["orchestration"] = _orchestration(tenant, spec, now)
    return meta


def _space(tenant: SimTenant, app: AppSpec) -> dict[str, str]:
    """``spaceId`` and ``spaceType`` (personal without a space; none for a data space)."""
    if app.space is None:
        return {"spaceType": "personal"}
    space = tenant.spaces[app.space]
    kind = {"spaceType": space.type} if space.type in SPACE_TYPES else {}
    return {"spaceId": app.space} | kind


def _is_parent(tenant: SimTenant, spec: TaskSpec) -> bool:
    return any(
        other.after == spec.key and not other.upstream_deleted
        for other in tenant.book.tasks.values()
    )


def _orchestration(tenant: SimTenant, spec: TaskSpec, now: datetime) -> dict[str, Any]:
    """``OrchMeta``, with the newest finished run's status and times in ``attrs`` and as
    ``lastRun`` (whose ``workerId`` is the run's reload id)."""
    body: dict[str, Any] = {"id": _stable(spec.id, "orchestration"), "type": ORCHESTRATION_TYPE}
    run = tenant.book.last_run(spec.key, now)
    if run is not None:
        body["attrs"] = {
            "last_run_status": run.status(now),
            "last_run_startedAt": format_time(run.started),
            "last_run_endedAt": format_time(run.ended),
            "last_run_worker_type": "reloads",
        }
        body["lastRun"] = {
            "id": _stable(run.id, "run"),
            "status": run.status(now),
            "workerId": run.id,  # a reload run carries the engine's reload id
            "workerType": "reloads",
            "triggeredBy": "schedule" if spec.after is None else "event",
            "startedAt": format_time(run.started),
            "endedAt": format_time(run.ended),
        }
    return body


def _stable(task_id: str, what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reload-chain-sim/{what}/{task_id}"))


def errors(status: int, body: Any, path: str) -> dict[str, Any]:
    """A Qlik ``errors`` body in the scheduling API's ``ErrorResponse`` shape (integer codes)."""
    found = body.get("errors", []) if isinstance(body, dict) else []
    first = found[0] if found and isinstance(found[0], dict) else {}
    title = str(first.get("title", "Error"))
    detail = first.get("detail")
    result: dict[str, Any] = {
        "code": status,
        "title": f"{title}: {detail}" if detail else title,
        "timestamp": format_time(datetime.now().astimezone()),
    }
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "scheduling", "tasks"] and len(parts) <= 4:
        result["context"] = "GetTasks" if len(parts) == 3 else "GetTask"
    return {"errors": [result], "traceId": secrets.token_hex(12)}

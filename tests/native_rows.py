"""Native reload tasks as ``GET /api/scheduling/tasks`` lists them (schema ``Task`` of
``shared/reference/qlik-openapi/scheduling-tasks.json``), for the tests of native chains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qlik.tasks import TASK_RUN_FINISHED
from qlik.times import format_time


def task_json(
    task_id: str,
    app: str,
    *,
    after: str | None = None,
    status: str | None = "SUCCEEDED",
    after_app: str | None = None,
    enabled: bool = True,
    disabled_code: str | None = None,
    last_run_ended: datetime | None = None,
) -> dict[str, Any]:
    """A reload task of ``app``: event-based on task ``after``'s run finishing with ``status``
    (None: no status correlation) on ``after_app``, or, with neither, a scheduled one."""
    metadata: dict[str, Any] = {"usage": "ANALYTICS", "resourceType": "app"}
    if disabled_code is not None:
        metadata["disabledCode"] = disabled_code
    if last_run_ended is not None:
        attrs = {"last_run_status": "SUCCEEDED", "last_run_endedAt": format_time(last_run_ended)}
        metadata["orchestration"] = {"id": f"orch-{task_id}", "type": 3, "attrs": attrs}
    task: dict[str, Any] = {
        "id": task_id,
        "name": f"Reload {task_id}",
        "enabled": enabled,
        "resourceId": app,
        "specVersion": "1.16.0",
        "version": "1.0.0",
        "metadata": metadata,
        "states": [{"name": "Reload", "type": "event", "end": True}],
    }
    if after is not None or after_app is not None:
        correlation = [
            {"contextAttributeName": name, "contextAttributeValue": value}
            for name, value in (("id", after), ("status", status), ("appId", after_app))
            if value is not None
        ]
        task["events"] = [
            {
                "name": f"{after or after_app}-finished",
                "type": TASK_RUN_FINISHED,
                "source": "system-events.task",
                "correlation": correlation,
            }
        ]
    return task

"""Handlers of the scheduling-tasks API: ``GET /api/scheduling/tasks`` and ``/tasks/{id}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from simulator import task_shapes
from simulator.calls import Answer, BadRequest, Call, decode_cursor, encode_cursor, refused
from simulator.task_filter import Row, parse_filter
from simulator.task_spec import TaskSpec
from simulator.tenant import SimTenant

DEFAULT_LIMIT = 20
SORTABLE = ("createdAt", "updatedAt", "name", "resourceId", "enabled", "ownerId", "spaceId")


def list_tasks(call: Call) -> Answer:
    """The tasks the user may list, filtered, sorted (``-updatedAt``, ties by id) and paged."""
    if not call.me.may_list_tasks:
        return refused(403, "HTTP-403", "Forbidden", "not permitted to list tasks")
    limit = call.limit(DEFAULT_LIMIT)
    keep = _selection(call.query)
    field, descending = _sort(call.query.get("sort", "-updatedAt"))
    offset = _offset(call.query.get("page"))
    tenant = call.tenant
    with tenant.lock:
        now = tenant.refresh()
        rows = [row for row in _rows(tenant) if keep(row[1])]
        rows.sort(key=lambda row: row[1]["id"])
        rows.sort(key=lambda row: _sort_value(row[1], field), reverse=descending)
        page = [task_shapes.task(tenant, spec, now) for spec, _ in rows[offset : offset + limit]]
    links = {"self": call.self_link()}
    if offset + limit < len(rows):
        links["next"] = _page_link(call, encode_cursor(str(offset + limit)))
    return Answer(200, {"data": page, "links": links})


def get_task(call: Call) -> Answer:
    """One task by id, or 404."""
    if not call.me.may_list_tasks:
        return refused(403, "HTTP-403", "Forbidden", "not permitted to read tasks")
    with call.tenant.lock:
        spec = call.tenant.book.by_id.get(call.params["taskId"])
        if spec is None:
            return refused(404, "HTTP-404", "Not found", "no task with this id")
        return Answer(200, task_shapes.task(call.tenant, spec, call.tenant.refresh()))


def _rows(tenant: SimTenant) -> list[tuple[TaskSpec, dict[str, str]]]:
    """Each task with the fields a filter or sort reads, as strings."""
    rows = []
    for spec in tenant.book.tasks.values():
        app = tenant.book.app_of(spec)
        fields = {
            "id": spec.id,
            "name": spec.name,
            "enabled": str(spec.enabled).lower(),
            "resourceId": app.id,
            "ownerId": spec.owner,
            "spaceId": app.space or "",
        }
        rows.append((spec, fields))
    return rows


def _selection(query: dict[str, str]) -> Callable[[Row], bool]:
    """The ``resourceId`` and ``filter`` parameters as one test."""
    wanted = query.get("resourceId")
    test = parse_filter(query["filter"]) if query.get("filter", "").strip() else None

    def keep(row: Row) -> bool:
        if wanted is not None and row["resourceId"].lower() != wanted.lower():
            return False
        return test is None or test(row)

    return keep


def _sort(value: str) -> tuple[str, bool]:
    field = value.removeprefix("+").removeprefix("-")
    if field not in SORTABLE:
        raise BadRequest(f"the simulator sorts tasks by {', '.join(SORTABLE)}, not {value!r}")
    return field, value.startswith("-")


def _sort_value(fields: dict[str, str], field: str) -> Any:
    """Sort key: timestamps are all the same in the simulator (ties go by id)."""
    if field in ("createdAt", "updatedAt"):
        return ""
    return fields[field].casefold()


def _offset(page: str | None) -> int:
    if page is None:
        return 0
    parts = decode_cursor(page)
    if len(parts) != 1 or not parts[0].isdigit():
        raise BadRequest("invalid page cursor")
    return int(parts[0])


def _page_link(call: Call, cursor: str) -> dict[str, str]:
    query = {key: value for key, value in call.query.items() if key != "page"}
    return {"href": f"{call.base_url}{call.path}?{urlencode(query | {'page': cursor})}"}

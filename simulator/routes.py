"""Endpoint handlers of the simulated tenant, one function per operation of the specs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from qlik.times import parse_time
from simulator import shapes
from simulator.calls import Answer, BadRequest, Call, encode_cursor, listing, refused
from simulator.reloads import SimReload

Handler = Callable[[Call], Answer]
RELOAD_FINISHED = "com.qlik.v1.app.reload.finished"
ITEM_BATCH = 100


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    tier: str
    handler: Handler
    needs_auth: bool = True


def audits(call: Call) -> Answer:
    """``GET /api/v1/audits``: reload-finished events in an eventTime range, cursor-paged."""
    limit = call.limit()
    start, end = _time_range(call.query.get("eventTime"))
    if call.query.get("sort", "-eventTime") not in ("+eventTime", "-eventTime", "eventTime"):
        raise BadRequest("sort supports +eventTime and -eventTime")
    if call.query.get("eventType", RELOAD_FINISHED) != RELOAD_FINISHED:
        return listing(call, [], None)
    if call.query.get("sort", "-eventTime") == "-eventTime":
        return _audits_newest_first(call, start, end, limit)
    events = call.tenant.events(start, end, call.after_key(), limit + 1)
    rows = [event.as_json(call.base_url) for event in events[:limit]]
    more = len(events) > limit
    cursor = (
        encode_cursor(events[limit - 1].sort_key[0].isoformat(), events[limit - 1].id)
        if more
        else None
    )
    return listing(call, rows, cursor)


def _audits_newest_first(call: Call, start: datetime, end: datetime, limit: int) -> Answer:
    events = call.tenant.events(start, end, None, 1_000_000)[::-1]
    offset = call.offset()
    page = events[offset : offset + limit]
    more = offset + limit < len(events)
    return listing(
        call,
        [e.as_json(call.base_url) for e in page],
        encode_cursor(str(offset + limit)) if more else None,
    )


def _time_range(value: str | None) -> tuple[datetime, datetime]:
    if not value:
        return datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    try:
        first, second = value.split("/")
        return parse_time(first), parse_time(second)
    except ValueError:
        raise BadRequest(f"eventTime must be <start>/<end> in ISO 8601, not {value!r}") from None


def items(call: Call) -> Answer:
    """``GET /api/v1/items``: apps and scripts by resourceType, resourceId(s), collection, space."""
    limit = call.limit()
    found = list(call.tenant.apps.values())
    if "resourceType" in call.query:
        kinds = set(call.query["resourceType"].split(","))
        found = [app for app in found if app.resource_type in kinds]
    wanted = call.query.get("resourceIds") or call.query.get("resourceId")
    if wanted is not None:
        ids = wanted.split(",")
        if len(ids) > ITEM_BATCH:
            raise BadRequest(f"resourceIds supports at most {ITEM_BATCH} ids")
        found = [app for app in found if app.id in set(ids)]
    if "collectionId" in call.query:
        found = [
            a for a in found if call.query["collectionId"] in {shapes.tag_id(t) for t in a.tags}
        ]
    if "spaceId" in call.query:
        space = None if call.query["spaceId"] == "personal" else call.query["spaceId"]
        found = [app for app in found if app.space == space]
    offset = call.offset()
    rows = [
        shapes.item(a, call.tenant.scenario.tenant_id, call.base_url)
        for a in found[offset : offset + limit]
    ]
    return listing(
        call, rows, encode_cursor(str(offset + limit)) if offset + limit < len(found) else None
    )


def collections(call: Call) -> Answer:
    """``GET /api/v1/collections``: tags are collections of type ``public``."""
    limit = call.limit()
    counts: dict[str, int] = {}
    for app in call.tenant.apps.values():
        for tag in app.tags:
            counts[tag] = counts.get(tag, 0) + 1
    if call.query.get("type", "public") != "public":
        counts = {}
    if "name" in call.query:
        counts = {
            name: n for name, n in counts.items() if name.lower() == call.query["name"].lower()
        }
    names = sorted(counts)
    offset = call.offset()
    tenant_id = call.tenant.scenario.tenant_id
    rows = [
        shapes.collection(n, counts[n], tenant_id, call.base_url)
        for n in names[offset : offset + limit]
    ]
    return listing(
        call, rows, encode_cursor(str(offset + limit)) if offset + limit < len(names) else None
    )


def app(call: Call) -> Answer:
    """``GET /api/v1/apps/{appId}``."""
    found = call.tenant.apps.get(call.params["appId"])
    if found is None or found.resource_type != "app":
        return refused(404, "HTTP-404", "App not found")
    return Answer(200, shapes.app(found, call.base_url))


def users_me(call: Call) -> Answer:
    """``GET /api/v1/users/me``: a redirect to the current user, as the real API answers."""
    return Answer(
        301, "Moved Permanently", {"Location": f"{call.base_url}/api/v1/users/{call.me.id}"}
    )


def user(call: Call) -> Answer:
    """``GET /api/v1/users/{userId}``."""
    found = call.tenant.users.get(call.params["userId"])
    if found is None:
        return refused(404, "USERS-404", "User not found")
    return Answer(200, shapes.user(found, call.tenant.scenario.tenant_id, call.base_url))


def reload_page(call: Call, reloads: list[SimReload], now: datetime) -> Answer:
    """One page of a reload listing from the reloads after its paging key, in its order."""
    limit = call.limit()
    page = reloads[:limit]
    with_log = call.query.get("log") == "true"
    rows = [reload.as_json(now, call.base_url, with_log) for reload in page]
    more = len(reloads) > limit
    cursor = encode_cursor(page[-1].created.isoformat(), page[-1].id) if more else None
    return listing(call, rows, cursor)

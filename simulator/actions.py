"""Handlers for reloads, spaces and their members, and OAuth tokens."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from qlik.times import format_time
from simulator import shapes
from simulator.calls import Answer, BadRequest, Call, refused
from simulator.reloads import ReloadListing
from simulator.routes import reload_page

ACTIVE = ("QUEUED", "RELOADING", "CANCELING")
STATUS_TERM = re.compile(r'status\s+eq\s+"([A-Z_]+)"')


def list_reloads(call: Call) -> Answer:
    """``GET /api/v1/reloads``: one app's reloads, or the tenant's for a tenant admin."""
    app_id = call.query.get("appId")
    if app_id is None and not call.me.tenant_admin:
        return refused(403, "RELOADS-003", "appId is required unless you are a tenant admin")
    if call.query.get("sort", "-creationTime") not in (
        "-creationTime",
        "creationTime",
        "+creationTime",
    ):
        raise BadRequest("the simulator sorts reloads by creationTime only")
    now = call.tenant.refresh()
    listing = ReloadListing(
        app_id,
        ascending=call.query.get("sort", "-creationTime") in ("creationTime", "+creationTime"),
        after=call.after_key(),
        statuses=frozenset(STATUS_TERM.findall(call.query.get("filter", ""))),
        count=call.limit() + 1,  # one more than a page tells whether there is a next one
    )
    return reload_page(call, call.tenant.reload_listing(listing), now)


def get_reload(call: Call) -> Answer:
    """``GET /api/v1/reloads/{reloadId}``."""
    reload = call.tenant.reloads.get(call.params["reloadId"])
    if reload is None:
        return refused(404, "RELOADS-005", "Reload not found")
    with_log = call.query.get("log") == "true"
    return Answer(200, reload.as_json(call.tenant.refresh(), call.base_url, with_log))


def start_reload(call: Call) -> Answer:
    """``POST /api/v1/reloads``: 201, 403 without access, 429 when one is already pending."""
    body = call.json()
    if not isinstance(body, dict) or not isinstance(body.get("appId"), str):
        raise BadRequest("appId is required")
    app = call.tenant.apps.get(body["appId"])
    if app is None or not call.tenant.can_reload(call.me, app):
        return refused(403, "RELOADS-003", "Not permitted to reload this app")
    reload = call.tenant.start_reload(app, call.me)
    if reload is None:
        return refused(429, "RELOADS-010", "A reload is already pending for this app")
    return Answer(201, reload.as_json(call.tenant.refresh(), call.base_url))


def get_space(call: Call) -> Answer:
    """``GET /api/v1/spaces/{spaceId}``."""
    space = call.tenant.spaces.get(call.params["spaceId"])
    if space is None:
        return refused(404, "SPACES-404", "Space not found")
    roles = call.tenant.members.get(space.id, {}).get(call.me.id, [])
    return Answer(200, shapes.space(space, roles, call.tenant.scenario.tenant_id, call.base_url))


def list_assignments(call: Call) -> Answer:
    """``GET /api/v1/spaces/{spaceId}/assignments``."""
    space_id = call.params["spaceId"]
    if space_id not in call.tenant.spaces:
        return refused(404, "SPACES-404", "Space not found")
    tenant_id = call.tenant.scenario.tenant_id
    members = call.tenant.members[space_id]
    rows = [shapes.assignment(space_id, u, r, tenant_id, call.base_url) for u, r in members.items()]
    links = {"self": call.self_link()}
    return Answer(200, {"data": rows, "meta": {"count": len(rows)}, "links": links})


def add_assignment(call: Call) -> Answer:
    """``POST /api/v1/spaces/{spaceId}/assignments``: 201, or 409 if already a member."""
    space = call.tenant.spaces.get(call.params["spaceId"])
    if space is None:
        return refused(404, "SPACES-404", "Space not found")
    if not (call.me.tenant_admin or space.owner == call.me.id):
        return refused(403, "SPACES-403", "Not permitted to manage members of this space")
    body = call.json()
    if not isinstance(body, dict):
        raise BadRequest("the body must be an assignment object")
    roles, assignee = body.get("roles"), body.get("assigneeId")
    if not isinstance(roles, list) or not roles or not isinstance(assignee, str):
        raise BadRequest("type, assigneeId and a non-empty roles list are required")
    invalid = set(roles) - set(shapes.ASSIGNABLE_ROLES[space.type])
    if invalid:
        raise BadRequest(f"roles not assignable in a {space.type} space: {sorted(invalid)}")
    with call.tenant.lock:
        members = call.tenant.members[space.id]
        if assignee in members:
            return refused(409, "SPACES-409", "Already assigned")
        members[assignee] = list(roles)
    tenant_id = call.tenant.scenario.tenant_id
    return Answer(201, shapes.assignment(space.id, assignee, roles, tenant_id, call.base_url))


def oauth_token(call: Call) -> Answer:
    """``POST /oauth/token`` with client credentials (JSON or form encoded)."""
    body = (
        call.json() if call.body.lstrip().startswith(b"{") else dict(parse_qsl(call.body.decode()))
    )
    if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
        raise BadRequest("grant_type must be client_credentials")
    issued = call.tenant.issue_token(
        str(body.get("client_id", "")), str(body.get("client_secret", ""))
    )
    if issued is None:
        return refused(401, "OAUTH-1", "invalid client credentials")
    token, expires = issued
    ttl = int(call.tenant.scenario.token_ttl_seconds)
    body = {
        "access_token": token,
        "token_type": "bearer",
        "expires_at": format_time(expires),
        "expires_in": ttl,
    }
    return Answer(200, body)

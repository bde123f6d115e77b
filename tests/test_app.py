"""The request pipeline (simulator/app.py, routes.py, actions.py) through SimulatorApp.handle."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from simulator.app import Reply, SimulatorApp
from simulator.scenario import FaultRule, Scenario
from simulator.shapes import ASSIGNABLE_ROLES, tag_id
from simulator.tenant import SimTenant
from tests.sim_users import admin_and_bob

BASE = "http://sim.test:8080"
START = datetime(2026, 11, 22, 10, 0, 0, 654321, tzinfo=UTC)
SPECS = Path("/work/shared/reference/qlik-openapi")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def scenario(**extra: Any) -> Scenario:
    apps: list[dict[str, Any]] = [
        {
            "key": "extract",
            "resource_type": "script",
            "space": "sh",
            "next": ["ledger"],
            "queue_seconds": 1,
            "duration_seconds": 2,
        },
        {
            "key": "ledger",
            "space": "mg",
            "tags": ["finance"],
            "next_onfail": ["alerts"],
            "outcome": "failure",
            "queue_seconds": 1,
            "duration_seconds": 2,
        },
        {"key": "alerts", "space": "dt", "tags": ["finance"]},
        {"key": "private", "owner": "bob"},
    ]
    data: dict[str, Any] = {
        "token_ttl_seconds": 300,
        "users": admin_and_bob(),
        "spaces": [
            {"id": "sh", "name": "Shared", "type": "shared", "members": {"admin": ["producer"]}},
            {"id": "mg", "name": "Managed", "type": "managed"},
            {"id": "dt", "name": "Data", "type": "data"},
        ],
        "apps": apps,
    }
    data.update(extra)
    return Scenario.model_validate(data)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, **extra: Any) -> SimulatorApp:
    app = SimulatorApp(SimTenant(scenario(**extra), clock=clock))
    app.base_url = BASE
    return app


@pytest.fixture
def sim(clock: Clock) -> SimulatorApp:
    return make(clock)


def send(
    app: SimulatorApp,
    method: str,
    target: str,
    token: str | None = "key-admin",
    *,
    body: Any = None,
    raw: bytes | None = None,
) -> Reply:
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    return app.handle(method, target, f"Bearer {token}" if token else "", payload)


def get(app: SimulatorApp, path: str, token: str | None = "key-admin", **query: Any) -> Reply:
    target = f"{path}?{urlencode(query)}" if query else path
    return send(app, "GET", target, token)


def body(reply: Reply) -> Any:
    return json.loads(reply.body)


def header(reply: Reply, name: str) -> str | None:
    return next((v for k, v in reply.headers if k.lower() == name.lower()), None)


def error_code(reply: Reply) -> str:
    errors = body(reply)["errors"]
    assert isinstance(errors, list) and errors
    assert "traceId" in body(reply)
    return str(errors[0]["code"])


def app_id(sim: SimulatorApp, key: str) -> str:
    return sim.tenant.scenario.app(key).id


# --- auth and routing -----------------------------------------------------------------------


def test_no_bearer_is_401(sim: SimulatorApp) -> None:
    reply = get(sim, "/api/v1/items", token=None)
    assert reply.status == 401
    assert error_code(reply) == "HTTP-401"
    assert header(reply, "Content-Type") == "application/json"


@pytest.mark.parametrize("authorization", ["Bearer wrong", "Basic a2V5LWFkbWlu", "key-admin"])
def test_wrong_authorization_is_401(sim: SimulatorApp, authorization: str) -> None:
    assert sim.handle("GET", "/api/v1/items", authorization, b"").status == 401


def test_non_ascii_bearer_is_401(sim: SimulatorApp) -> None:
    # http.server decodes headers as latin-1, so such a token does reach the app.
    assert sim.handle("GET", "/api/v1/items", "Bearer cl\u00e9", b"").status == 401


def test_unknown_endpoint_is_404(sim: SimulatorApp) -> None:
    reply = get(sim, "/api/v1/nothing")
    assert reply.status == 404
    assert error_code(reply) == "HTTP-404"
    assert send(sim, "DELETE", "/api/v1/reloads").status == 404


# --- audits ---------------------------------------------------------------------------------


def finish_reloads(sim: SimulatorApp, clock: Clock, count: int) -> set[str]:
    """Start ``count`` reloads that all end at the same moment; return their reload ids."""
    apps = [{"key": f"app{n:02}", "queue_seconds": 0, "duration_seconds": 3} for n in range(count)]
    started = set()
    fresh = make(clock, apps=apps)
    sim.tenant = fresh.tenant
    for app in fresh.tenant.scenario.apps:
        reload = fresh.tenant.start_reload(app, fresh.tenant.users["admin"])
        assert reload is not None
        started.add(reload.id)
    clock.advance(10)
    return started


@pytest.mark.parametrize("sort", ["+eventTime", "-eventTime"])
def test_audits_paging_follows_absolute_next_links(
    sim: SimulatorApp, clock: Clock, sort: str
) -> None:
    started = finish_reloads(sim, clock, 23)
    query = {
        "eventType": "com.qlik.v1.app.reload.finished",
        "eventTime": "2026-11-22T09:00:00Z/2026-11-22T11:00:00.000Z",
        "sort": sort,
        "limit": 5,
    }
    target = f"/api/v1/audits?{urlencode(query)}"
    seen: list[str] = []
    pages = 0
    while True:
        reply = send(sim, "GET", target)
        assert reply.status == 200, reply.body
        page = body(reply)
        assert len(page["data"]) <= 5
        seen += [event["data"]["reloadId"] for event in page["data"]]
        pages += 1
        following = page["links"].get("next")
        if following is None:
            break
        href = following["href"]
        assert href.startswith(f"{BASE}/api/v1/audits?")
        target = href.removeprefix(BASE)
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == started


def test_audits_other_event_type_is_empty(sim: SimulatorApp, clock: Clock) -> None:
    finish_reloads(sim, clock, 2)
    reply = get(sim, "/api/v1/audits", eventType="com.qlik.v1.app.created")
    assert reply.status == 200 and body(reply)["data"] == []


def test_audits_default_sort_is_newest_first(clock: Clock) -> None:
    apps = [{"key": f"a{n}", "queue_seconds": 0, "duration_seconds": n + 1} for n in range(3)]
    sim = make(clock, apps=apps)
    for app in sim.tenant.scenario.apps:
        assert sim.tenant.start_reload(app, sim.tenant.users["admin"]) is not None
    clock.advance(10)
    times = [e["eventTime"] for e in body(get(sim, "/api/v1/audits"))["data"]]
    assert len(times) == 3 and times == sorted(times, reverse=True)


@pytest.mark.parametrize("limit", ["101", "0", "-1", "ten"])
def test_audits_bad_limit_is_400(sim: SimulatorApp, limit: str) -> None:
    reply = get(sim, "/api/v1/audits", limit=limit)
    assert reply.status == 400
    assert error_code(reply) == "HTTP-400"


@pytest.mark.parametrize(
    "query",
    [{"eventTime": "yesterday"}, {"sort": "eventType"}, {"sort": " eventTime"}],
)
def test_audits_bad_query_is_400(sim: SimulatorApp, query: dict[str, str]) -> None:
    assert get(sim, "/api/v1/audits", **query).status == 400


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/audits", {"sort": "+eventTime"}),
        ("/api/v1/audits", {"sort": "-eventTime"}),
        ("/api/v1/items", {}),
        ("/api/v1/reloads", {}),
    ],
)
def test_malformed_next_cursor_is_400(sim: SimulatorApp, path: str, query: dict[str, str]) -> None:
    # "eA==" is valid base64 of "x": not a cursor the simulator made; the API answers 400.
    assert get(sim, path, next="eA==", **query).status == 400


# --- items and collections ------------------------------------------------------------------


def test_items_resource_ids_over_100_is_400(sim: SimulatorApp) -> None:
    ids = [app_id(sim, "ledger")] + [f"id{n}" for n in range(100)]
    reply = get(sim, "/api/v1/items", resourceType="app", resourceIds=",".join(ids))
    assert reply.status == 400
    reply = get(sim, "/api/v1/items", resourceType="app", resourceIds=",".join(ids[:100]))
    assert reply.status == 200
    assert [item["resourceId"] for item in body(reply)["data"]] == [app_id(sim, "ledger")]


def test_items_by_resource_type(sim: SimulatorApp) -> None:
    def kinds(value: str) -> list[str]:
        reply = get(sim, "/api/v1/items", resourceType=value, limit=100)
        return sorted(item["resourceType"] for item in body(reply)["data"])

    assert kinds("app") == ["app", "app", "app"]
    assert kinds("script") == ["script"]
    assert kinds("app,script") == ["app", "app", "app", "script"]


def test_items_carry_tags_space_and_resource_id(sim: SimulatorApp) -> None:
    ledger = app_id(sim, "ledger")
    reply = get(sim, "/api/v1/items", resourceType="app", resourceIds=ledger)
    (item,) = body(reply)["data"]
    assert item["resourceId"] == ledger and item["id"] != ledger
    assert item["spaceId"] == "mg"
    names = [tag["name"] for tag in item["meta"]["tags"]]
    assert names == ["finance", f"next-onfail-{app_id(sim, 'alerts')}"]
    single = get(sim, "/api/v1/items", resourceId=ledger)
    assert [i["resourceId"] for i in body(single)["data"]] == [ledger]


def test_items_by_collection(sim: SimulatorApp) -> None:
    reply = get(sim, "/api/v1/items", collectionId=tag_id("finance"))
    found = sorted(item["resourceId"] for item in body(reply)["data"])
    assert found == sorted([app_id(sim, "ledger"), app_id(sim, "alerts")])
    assert body(get(sim, "/api/v1/items", collectionId="nope"))["data"] == []


def test_items_paging(sim: SimulatorApp) -> None:
    seen: list[str] = []
    target = "/api/v1/items?limit=1"
    while target:
        page = body(send(sim, "GET", target))
        seen += [item["resourceId"] for item in page["data"]]
        following = page["links"].get("next")
        target = following["href"].removeprefix(BASE) if following else ""
    assert sorted(seen) == sorted(app.id for app in sim.tenant.scenario.apps)


def test_collections_are_public_tags(sim: SimulatorApp) -> None:
    reply = get(sim, "/api/v1/collections", type="public", limit=100)
    rows = body(reply)["data"]
    names = {row["name"]: row for row in rows}
    assert names["finance"]["itemCount"] == 2
    assert names["finance"]["id"] == tag_id("finance")
    assert {row["type"] for row in rows} == {"public"}
    assert body(get(sim, "/api/v1/collections", type="private"))["data"] == []
    named = body(get(sim, "/api/v1/collections", name="FINANCE"))["data"]
    assert [row["name"] for row in named] == ["finance"]


def test_app_and_its_404(sim: SimulatorApp) -> None:
    reply = get(sim, f"/api/v1/apps/{app_id(sim, 'ledger')}")
    assert reply.status == 200
    assert body(reply)["attributes"]["spaceId"] == "mg"
    assert get(sim, "/api/v1/apps/unknown").status == 404
    assert get(sim, f"/api/v1/apps/{app_id(sim, 'extract')}").status == 404  # a script


# --- reloads --------------------------------------------------------------------------------


def test_reloads_without_app_id_admin_only(sim: SimulatorApp) -> None:
    assert sim.tenant.start_reload(sim.tenant.scenario.app("ledger"), sim.tenant.users["admin"])
    reply = get(sim, "/api/v1/reloads")
    assert reply.status == 200 and len(body(reply)["data"]) == 1
    reply = get(sim, "/api/v1/reloads", token="key-bob")
    assert reply.status == 403
    assert error_code(reply) == "RELOADS-003"
    assert get(sim, "/api/v1/reloads", token="key-bob", appId=app_id(sim, "private")).status == 200


def test_reloads_filter_by_active_status(sim: SimulatorApp, clock: Clock) -> None:
    admin = sim.tenant.users["admin"]
    ledger, extract = sim.tenant.scenario.app("ledger"), sim.tenant.scenario.app("extract")
    finished = sim.tenant.start_reload(ledger, admin)
    clock.advance(5)
    running = sim.tenant.start_reload(ledger, admin)
    clock.advance(1.5)
    queued = sim.tenant.start_reload(extract, admin)
    assert finished and running and queued
    flt = '(status eq "QUEUED" or status eq "RELOADING")'
    rows = body(get(sim, "/api/v1/reloads", filter=flt, limit=100))["data"]
    assert {row["id"]: row["status"] for row in rows} == {
        running.id: "RELOADING",
        queued.id: "QUEUED",
    }
    rows = body(get(sim, "/api/v1/reloads", filter='status eq "FAILED"'))["data"]
    assert [row["id"] for row in rows] == [finished.id]
    rows = body(get(sim, "/api/v1/reloads", appId=ledger.id, filter=flt))["data"]
    assert [row["id"] for row in rows] == [running.id]


def test_reloads_paging_newest_first(sim: SimulatorApp, clock: Clock) -> None:
    admin, app = sim.tenant.users["admin"], sim.tenant.scenario.app("alerts")
    made = []
    for _ in range(7):
        reload = sim.tenant.start_reload(app, admin)
        assert reload is not None
        made.append(reload.id)
        clock.advance(1)
    seen: list[str] = []
    target = f"/api/v1/reloads?{urlencode({'appId': app.id, 'limit': 3})}"
    while target:
        page = body(send(sim, "GET", target))
        seen += [row["id"] for row in page["data"]]
        following = page["links"].get("next")
        target = following["href"].removeprefix(BASE) if following else ""
    assert seen == made[::-1]


def test_get_reload(sim: SimulatorApp) -> None:
    created = send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "ledger")})
    reload_id = body(created)["id"]
    reply = get(sim, f"/api/v1/reloads/{reload_id}")
    assert reply.status == 200 and body(reply)["id"] == reload_id
    assert get(sim, "/api/v1/reloads/nope").status == 404


def test_post_reload_201(sim: SimulatorApp) -> None:
    reply = send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "extract")})
    assert reply.status == 201
    created = body(reply)
    assert created["status"] == "QUEUED" and created["appId"] == app_id(sim, "extract")
    assert sim.tenant.reload_log() == {app_id(sim, "extract"): 1}


def test_post_reload_without_space_access_is_403(sim: SimulatorApp) -> None:
    for user, key in (("key-bob", "ledger"), ("key-admin", "private")):
        reply = send(sim, "POST", "/api/v1/reloads", user, body={"appId": app_id(sim, key)})
        assert reply.status == 403
        assert error_code(reply) == "RELOADS-003"
    reply = send(sim, "POST", "/api/v1/reloads", body={"appId": "no-such-app"})
    assert reply.status == 403
    assert sim.tenant.reload_log() == {}


def test_post_reload_pending_is_429_without_retry_after(sim: SimulatorApp) -> None:
    target = {"appId": app_id(sim, "ledger")}
    assert send(sim, "POST", "/api/v1/reloads", body=target).status == 201
    reply = send(sim, "POST", "/api/v1/reloads", body=target)
    assert reply.status == 429
    assert header(reply, "Retry-After") is None
    assert body(reply)["errors"][0]["code"]
    assert sim.tenant.reload_log() == {app_id(sim, "ledger"): 1}


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"appId": 5}', b"{}"])
def test_post_reload_bad_body_is_400(sim: SimulatorApp, raw: bytes) -> None:
    assert send(sim, "POST", "/api/v1/reloads", raw=raw).status == 400


# --- rate limits and faults -----------------------------------------------------------------


def test_rate_limit_blocks_the_whole_tier(clock: Clock) -> None:
    sim = make(clock, faults={"tier1_limit": 3, "tier2_limit": 5, "reload_start_limit": 5})
    for path in ("/api/v1/items", "/api/v1/collections", "/api/v1/spaces/sh"):
        assert get(sim, path).status == 200
    reply = get(sim, "/api/v1/reloads")
    assert reply.status == 429
    retry = header(reply, "Retry-After")
    assert retry is not None and re.fullmatch(r"[1-9]\d*", retry)
    assert int(retry) <= 60
    assert error_code(reply) == "HTTP-429"
    for path in ("/api/v1/items", f"/api/v1/apps/{app_id(sim, 'ledger')}", "/api/v1/users/me"):
        assert get(sim, path).status == 429, path
    # Other tiers (audits have their own "special" tier) and other users are not blocked.
    assert get(sim, "/api/v1/audits").status == 200
    assert get(sim, "/api/v1/items", token="key-bob").status == 200
    assignment = {"type": "user", "assigneeId": "bob", "roles": ["consumer"]}
    assert send(sim, "POST", "/api/v1/spaces/sh/assignments", body=assignment).status == 201
    reload = {"appId": app_id(sim, "alerts")}
    assert send(sim, "POST", "/api/v1/reloads", body=reload).status == 201


def test_reload_start_limit(clock: Clock) -> None:
    sim = make(clock, faults={"reload_start_limit": 2})
    assert send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "ledger")}).status == 201
    assert send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "alerts")}).status == 201
    reply = send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "extract")})
    assert reply.status == 429
    assert header(reply, "Retry-After") is not None
    assert sim.tenant.reload_log() == {app_id(sim, "ledger"): 1, app_id(sim, "alerts"): 1}
    assert get(sim, "/api/v1/reloads").status == 200


def test_fault_rule_drop(sim: SimulatorApp) -> None:
    sim.faults.add_rule(FaultRule(path="/api/v1/audits", drop=True))
    assert get(sim, "/api/v1/audits") == Reply(drop=True)
    assert get(sim, "/api/v1/audits").status == 200
    assert sim.faults.injected["drop"] == 1


def test_fault_rule_status_with_retry_after(sim: SimulatorApp) -> None:
    sim.faults.add_rule(FaultRule(path="/api/v1/items", status=503, retry_after=4, count=2))
    for _ in range(2):
        reply = get(sim, "/api/v1/items")
        assert reply.status == 503
        assert header(reply, "Retry-After") == "4"
        assert error_code(reply) == "HTTP-503"
    assert get(sim, "/api/v1/items").status == 200


def test_scenario_fault_rules_apply(clock: Clock) -> None:
    rule = {"path": "/api/v1/reloads", "method": "POST", "status": 500}
    sim = make(clock, faults={"rules": [rule]})
    assert get(sim, "/api/v1/reloads").status == 200
    reply = send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "ledger")})
    assert reply.status == 500
    assert sim.tenant.reload_log() == {}


def test_fault_after_acting_starts_the_reload_and_loses_the_answer(sim: SimulatorApp) -> None:
    sim.faults.add_rule(FaultRule(path="/api/v1/reloads", method="POST", status=502, after=True))
    reply = send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "ledger")})
    assert reply.status == 502
    assert error_code(reply) == "HTTP-502"
    assert sim.tenant.reload_log() == {app_id(sim, "ledger"): 1}  # the tenant did act
    assert sim.faults.injected["after"] == 1


def test_dropped_connection_after_acting(sim: SimulatorApp) -> None:
    sim.faults.add_rule(FaultRule(path="/api/v1/reloads", method="POST", drop=True, after=True))
    reply = send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "ledger")})
    assert reply == Reply(drop=True)
    assert sim.tenant.reload_log() == {app_id(sim, "ledger"): 1}


def test_fault_after_a_refusal_still_refuses_nothing_more(sim: SimulatorApp) -> None:
    # The tenant refused (403): the lost answer hides a refusal, and nothing was started.
    sim.faults.add_rule(FaultRule(path="/api/v1/reloads", method="POST", after=True))
    reply = send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "private")})
    assert reply.status == 503
    assert sim.tenant.reload_log() == {}


def test_scenario_after_rules_apply(clock: Clock) -> None:
    rule = {"path": "/api/v1/reloads", "method": "POST", "status": 500, "after": True}
    sim = make(clock, faults={"rules": [rule]})
    reply = send(sim, "POST", "/api/v1/reloads", body={"appId": app_id(sim, "ledger")})
    assert reply.status == 500
    assert sim.tenant.reload_log() == {app_id(sim, "ledger"): 1}


# --- spaces and assignments -----------------------------------------------------------------


def test_get_space(sim: SimulatorApp) -> None:
    reply = get(sim, "/api/v1/spaces/sh")
    assert reply.status == 200
    space = body(reply)
    assert space["type"] == "shared" and space["meta"]["roles"] == ["producer"]
    assert [get(sim, f"/api/v1/spaces/{s}").status for s in ("mg", "dt", "zz")] == [200, 200, 404]


def test_assignment_201_then_409(sim: SimulatorApp) -> None:
    new = {"type": "user", "assigneeId": "bob", "roles": ["producer"]}
    reply = send(sim, "POST", "/api/v1/spaces/sh/assignments", body=new)
    assert reply.status == 201
    assert body(reply)["assigneeId"] == "bob" and body(reply)["roles"] == ["producer"]
    again = send(sim, "POST", "/api/v1/spaces/sh/assignments", body=new)
    assert again.status == 409
    assert error_code(again) == "SPACES-409"
    members = body(get(sim, "/api/v1/spaces/sh/assignments"))["data"]
    assert {m["assigneeId"]: m["roles"] for m in members} == {
        "admin": ["producer"],
        "bob": ["producer"],
    }
    # The new role lets bob reload the script in that space.
    target = {"appId": app_id(sim, "extract")}
    assert send(sim, "POST", "/api/v1/reloads", "key-bob", body=target).status == 201


@pytest.mark.parametrize(
    ("space", "role"), [("sh", "publisher"), ("mg", "operator"), ("dt", "codeveloper")]
)
def test_assignment_invalid_role_for_space_type_is_400(
    sim: SimulatorApp, space: str, role: str
) -> None:
    new = {"type": "user", "assigneeId": "bob", "roles": [role]}
    assert send(sim, "POST", f"/api/v1/spaces/{space}/assignments", body=new).status == 400
    assert "bob" not in sim.tenant.members[space]


@pytest.mark.parametrize("raw", [b"[]", b'{"assigneeId": "bob", "roles": []}', b"nope"])
def test_assignment_bad_body_is_400(sim: SimulatorApp, raw: bytes) -> None:
    assert send(sim, "POST", "/api/v1/spaces/sh/assignments", raw=raw).status == 400


def test_assignment_errors(sim: SimulatorApp) -> None:
    new = {"type": "user", "assigneeId": "bob", "roles": ["consumer"]}
    assert send(sim, "POST", "/api/v1/spaces/zz/assignments", body=new).status == 404
    denied = send(sim, "POST", "/api/v1/spaces/sh/assignments", "key-bob", body=new)
    assert denied.status == 403
    assert get(sim, "/api/v1/spaces/zz/assignments").status == 404


def test_assignable_roles_match_spaces_spec() -> None:
    spec = json.loads((SPECS / "spaces.json").read_text())
    text = spec["components"]["schemas"]["RoleType"]["description"]
    for kind in ("shared", "managed", "data"):
        line = re.search(rf"- {kind.capitalize()}: (.*)", text)
        assert line is not None
        assert sorted(line.group(1).split(", ")) == ASSIGNABLE_ROLES[kind]


# --- users and oauth ------------------------------------------------------------------------


def test_users_me_redirects(sim: SimulatorApp) -> None:
    reply = get(sim, "/api/v1/users/me", token="key-bob")
    assert reply.status == 301
    location = header(reply, "Location")
    assert location == f"{BASE}/api/v1/users/bob"
    user = get(sim, location.removeprefix(BASE), token="key-bob")
    assert user.status == 200
    assert body(user)["id"] == "bob" and body(user)["assignedRoles"] == []
    admin = body(get(sim, "/api/v1/users/admin"))
    assert admin["assignedRoles"][0]["name"] == "TenantAdmin"
    assert get(sim, "/api/v1/users/nobody").status == 404


def oauth(sim: SimulatorApp, raw: bytes) -> Reply:
    return sim.handle("POST", "/oauth/token", "", raw)


def test_oauth_json_body_and_token_authenticates(sim: SimulatorApp, clock: Clock) -> None:
    request = {"client_id": "cid", "client_secret": "csecret", "grant_type": "client_credentials"}
    reply = oauth(sim, json.dumps(request).encode())
    assert reply.status == 200
    token = body(reply)
    assert token["token_type"].lower() == "bearer" and token["expires_in"] == 300
    assert token["expires_at"] == "2026-11-22T10:05:00.654Z"
    assert get(sim, "/api/v1/items", token=token["access_token"]).status == 200
    clock.advance(300)
    assert get(sim, "/api/v1/items", token=token["access_token"]).status == 401


def test_oauth_form_body(sim: SimulatorApp) -> None:
    raw = urlencode(
        {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "csecret"}
    ).encode()
    reply = oauth(sim, raw)
    assert reply.status == 200
    access = body(reply)["access_token"]
    me = get(sim, "/api/v1/users/me", token=access)
    assert header(me, "Location") == f"{BASE}/api/v1/users/admin"


@pytest.mark.parametrize("secret", ["wrong", ""])
def test_oauth_bad_credentials_is_401(sim: SimulatorApp, secret: str) -> None:
    request = {"client_id": "cid", "client_secret": secret, "grant_type": "client_credentials"}
    reply = oauth(sim, json.dumps(request).encode())
    assert reply.status == 401
    assert body(reply)["errors"]


def test_oauth_bad_grant_is_400(sim: SimulatorApp) -> None:
    request = {"client_id": "cid", "client_secret": "csecret", "grant_type": "password"}
    assert oauth(sim, json.dumps(request).encode()).status == 400
    assert oauth(sim, b"{broken").status == 400

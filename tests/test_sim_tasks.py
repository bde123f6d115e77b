"""Native reload tasks in the simulated tenant: which reloads fire, when, and how they show."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from simulator.app import SimulatorApp
from simulator.reloads import SimReload
from simulator.scenario import Scenario
from simulator.tasks import FIRE_DELAY
from simulator.tenant import SimTenant

START = datetime(2026, 11, 22, 10, 0, 0, 250000, tzinfo=UTC)
AUTH = "Bearer key-admin"


class Clock:
    """A wall clock the test advances."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def app(key: str, duration: float = 1, outcome: str = "success") -> dict[str, Any]:
    return {"key": key, "queue_seconds": 0, "duration_seconds": duration, "outcome": outcome}


def scenario(*reloads: dict[str, Any]) -> Scenario:
    """Two time tasks (src succeeds, bad fails) and event tasks of every sort after them."""
    tasks: list[dict[str, Any]] = [
        {"key": "t-src", "app": "src"},
        {"key": "t-bad", "app": "bad"},
        {"key": "t-ok1", "app": "ok1", "after": "t-src"},
        {"key": "t-fail1", "app": "fail1", "after": "t-src", "on": "failure"},
        {"key": "t-ok2", "app": "ok2", "after": "t-ok1"},
        {"key": "t-off", "app": "off", "after": "t-src", "disabled_code": "MANUALLY"},
        {"key": "t-orphan", "app": "orphan", "after": "t-src", "upstream_deleted": True},
        {"key": "t-alarm", "app": "alarm", "after": "t-bad", "on": "failure"},
        {"key": "t-any", "app": "any", "after": "t-bad", "on": "any"},
    ]
    apps = [app("src", 2), app("bad", 2, "failure")]
    apps += [app(key) for key in ("ok1", "fail1", "ok2", "off", "orphan", "alarm", "any")]
    users = [{"id": "admin", "name": "Admin", "api_key": "key-admin"}]
    data = {"users": users, "apps": apps, "tasks": tasks, "reloads": list(reloads)}
    return Scenario.model_validate(data)


def make(*reloads: dict[str, Any]) -> tuple[SimTenant, Clock]:
    clock = Clock()
    return SimTenant(scenario(*reloads), clock=clock), clock


def by_app(tenant: SimTenant) -> dict[str, list[SimReload]]:
    """Every reload so far, oldest first, under its app's key."""
    found: dict[str, list[SimReload]] = {}
    for reload in reversed(tenant.reloads_newest_first(None)):
        found.setdefault(tenant.apps[reload.app_id].key, []).append(reload)
    return found


def get(tenant: SimTenant, path: str, **query: Any) -> Any:
    sim = SimulatorApp(tenant)
    sim.base_url = "http://sim"
    reply = sim.handle("GET", f"{path}?{urlencode(query)}" if query else path, AUTH, b"")
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


SRC_RUN = {"app": "src", "task": "t-src", "start_in_seconds": 1}
BAD_RUN = {"app": "bad", "task": "t-bad", "start_in_seconds": 1}


def test_a_succeeded_run_fires_the_on_success_task_and_its_successor_in_turn() -> None:
    tenant, clock = make(SRC_RUN)
    clock.advance(60)
    reloads = by_app(tenant)
    assert sorted(reloads) == ["ok1", "ok2", "src"]
    (src,), (ok1,), (ok2,) = reloads["src"], reloads["ok1"], reloads["ok2"]
    assert src.type == "chronos" and src.status(clock()) == "SUCCEEDED"
    assert ok1.created == src.ended + FIRE_DELAY == START + timedelta(seconds=4)
    assert ok2.created == ok1.ended + FIRE_DELAY
    assert ok1.type == ok2.type == "choreographer"
    assert ok1.user_id == "admin"


def test_fired_reloads_appear_only_from_their_creation() -> None:
    tenant, clock = make(SRC_RUN)
    clock.advance(3.999)  # src ended at 3 s; ok1 starts at 4 s
    assert sorted(by_app(tenant)) == ["src"]
    clock.advance(0.001)
    assert sorted(by_app(tenant)) == ["ok1", "src"]
    assert by_app(tenant)["ok1"][0].status(clock()) == "RELOADING"  # no queue time


def test_a_failed_run_fires_the_on_failure_and_any_tasks_only() -> None:
    tenant, clock = make(BAD_RUN, SRC_RUN | {"outcome": "failure"})
    clock.advance(60)
    assert sorted(by_app(tenant)) == ["alarm", "any", "bad", "fail1", "src"]
    (fail1,) = by_app(tenant)["fail1"]
    assert fail1.created == by_app(tenant)["src"][0].ended + FIRE_DELAY


def test_a_reload_started_through_the_api_fires_nothing() -> None:
    tenant, clock = make()
    started = tenant.start_reload(tenant.scenario.app("src"), tenant.users["admin"])
    assert started is not None
    clock.advance(3600)
    assert by_app(tenant) == {"src": [started]}
    assert get(tenant, "/api/v1/audits")["data"][0]["data"]["reloadId"] == started.id


def test_disabled_and_orphaned_tasks_never_fire_but_are_listed() -> None:
    tenant, clock = make(SRC_RUN, SRC_RUN | {"start_in_seconds": 100})
    clock.advance(3600)
    assert {"off", "orphan"}.isdisjoint(by_app(tenant))
    assert len(by_app(tenant)["ok1"]) == 2
    listed = {t["name"]: t for t in get(tenant, "/api/scheduling/tasks", limit=100)["data"]}
    assert listed["Reload off"]["enabled"] is False
    assert listed["Reload off"]["metadata"]["disabledCode"] == "MANUALLY"
    orphan_upstream = listed["Reload orphan"]["events"][0]["correlation"][0]
    assert orphan_upstream["contextAttributeValue"] not in {t["id"] for t in listed.values()}
    src_app = tenant.scenario.app("src").id
    assert listed["Reload orphan"]["events"][0]["correlation"][2]["contextAttributeValue"] == (
        src_app
    )


def test_fired_reloads_leave_reload_finished_audit_events() -> None:
    tenant, clock = make(SRC_RUN)
    clock.advance(60)
    events = get(tenant, "/api/v1/audits", sort="+eventTime", limit=100)["data"]
    ids = {tenant.scenario.app(key).id: key for key in ("src", "ok1", "ok2")}
    assert [ids[e["extensions"]["topLevelResourceId"]] for e in events] == ["src", "ok1", "ok2"]
    assert {e["data"]["status"] for e in events} == {"ok"}


def test_past_runs_fired_their_chain_in_the_past() -> None:
    tenant, clock = make({"app": "src", "task": "t-src", "ended_minutes_ago": 10})
    reloads = by_app(tenant)
    assert sorted(reloads) == ["ok1", "ok2", "src"]
    assert reloads["ok1"][0].created == reloads["src"][0].ended + FIRE_DELAY
    assert all(r.status(clock()) == "SUCCEEDED" for rs in reloads.values() for r in rs)


@pytest.mark.parametrize("first", ["/api/v1/audits", "/api/v1/reloads", "/api/scheduling/tasks"])
def test_the_chain_is_the_same_whichever_endpoint_is_asked_first(first: str) -> None:
    tenant, clock = make(SRC_RUN, BAD_RUN)
    twin, twin_clock = make(SRC_RUN, BAD_RUN)
    clock.advance(1)
    twin_clock.advance(1)
    get(twin, "/api/v1/reloads")  # asked once early: only the scheduled runs have started
    clock.advance(3600)
    twin_clock.advance(3600)
    get(tenant, first)
    seen = [(r.id, r.app_id, r.created, r.type) for r in tenant.reloads_newest_first(None)]
    twins = [(r.id, r.app_id, r.created, r.type) for r in twin.reloads_newest_first(None)]
    assert seen == twins and len(seen) == 6


def test_a_task_shows_its_newest_finished_run() -> None:
    tenant, clock = make(SRC_RUN)
    ok1 = tenant.book.tasks["t-ok1"]
    path = f"/api/scheduling/tasks/{ok1.id}"
    assert "attrs" not in get(tenant, path)["metadata"]["orchestration"]
    clock.advance(4.5)  # ok1 runs
    assert "attrs" not in get(tenant, path)["metadata"]["orchestration"]
    clock.advance(1)
    attrs = get(tenant, path)["metadata"]["orchestration"]["attrs"]
    assert attrs["last_run_status"] == "SUCCEEDED"
    assert attrs["last_run_startedAt"] == "2026-11-22T10:00:04.250Z"
    assert attrs["last_run_endedAt"] == "2026-11-22T10:00:05.250Z"


def test_quiet_at_waits_for_the_whole_fired_chain() -> None:
    tenant, clock = make(SRC_RUN)
    # src 1 s -> 3 s, ok1 4 s -> 5 s, ok2 6 s -> 7 s
    assert tenant.quiet_at(timedelta(seconds=60)) == START + timedelta(seconds=7)
    assert tenant.quiet_at(timedelta(seconds=4)) == START + timedelta(seconds=5)
    clock.advance(7)
    assert tenant.quiet_at(timedelta(seconds=60)) == clock()


def test_filters_select_tasks_by_app_and_enabled() -> None:
    tenant, _ = make()
    ids = {key: tenant.scenario.app(key).id for key in ("ok1", "ok2", "off")}
    either = f'resourceId eq "{ids["ok1"].upper()}" OR resourceId eq "{ids["ok2"]}"'
    names = [t["name"] for t in get(tenant, "/api/scheduling/tasks", filter=either)["data"]]
    assert sorted(names) == ["Reload ok1", "Reload ok2"]
    off = get(tenant, "/api/scheduling/tasks", filter="enabled eq false")["data"]
    assert [t["resourceId"] for t in off] == [ids["off"]]
    both = f'(resourceId eq "{ids["ok1"]}" or resourceId eq "{ids["off"]}") and enabled eq true'
    assert len(get(tenant, "/api/scheduling/tasks", filter=both)["data"]) == 1
    only = get(tenant, "/api/scheduling/tasks", resourceId=ids["ok2"])["data"]
    assert [t["name"] for t in only] == ["Reload ok2"]


def test_pages_cover_every_task_once_in_id_order() -> None:
    tenant, _ = make()
    sim = SimulatorApp(tenant)
    sim.base_url = "http://sim"
    seen: list[str] = []
    target = "/api/scheduling/tasks?limit=4"
    while target:
        body = json.loads(sim.handle("GET", target, AUTH, b"").body)
        seen += [task["id"] for task in body["data"]]
        target = body["links"].get("next", {}).get("href", "").removeprefix("http://sim")
    assert seen == sorted(task.id for task in tenant.scenario.tasks)


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 101},
        {"filter": 'lastStatus eq "FAILED"'},
        {"filter": 'resourceId co "abc"'},
        {"filter": "enabled eq maybe"},
        {"filter": '(resourceId eq "a"'},
        {"filter": 'resourceId eq "a" or'},
        {"page": "%%%"},
        {"sort": "-lastStatus"},
    ],
)
def test_unsupported_queries_are_refused_with_an_error_response(query: dict[str, Any]) -> None:
    tenant, _ = make()
    reply = SimulatorApp(tenant).handle(
        "GET", f"/api/scheduling/tasks?{urlencode(query)}", AUTH, b""
    )
    assert reply.status == 400
    error = json.loads(reply.body)["errors"][0]
    assert error["code"] == 400 and error["context"] == "GetTasks" and error["title"]


def test_a_user_may_be_denied_the_tasks() -> None:
    data = scenario().model_dump()
    data["users"].append(
        {"id": "eve", "name": "Eve", "api_key": "key-eve", "may_list_tasks": False}
    )
    tenant = SimTenant(Scenario.model_validate(data), clock=Clock())
    task_id = tenant.scenario.tasks[0].id
    for path in ("/api/scheduling/tasks", f"/api/scheduling/tasks/{task_id}"):
        reply = SimulatorApp(tenant).handle("GET", path, "Bearer key-eve", b"")
        assert reply.status == 403
        assert json.loads(reply.body)["errors"][0]["code"] == 403
    missing = SimulatorApp(tenant).handle("GET", "/api/scheduling/tasks/nope", AUTH, b"")
    assert missing.status == 404

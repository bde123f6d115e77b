"""The simulated tenant's state (simulator/tenant.py) and reloads (simulator/reloads.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator.reloads import SimEvent
from simulator.scenario import Scenario
from simulator.shapes import ASSIGNABLE_ROLES
from simulator.tenant import RELOAD_ROLES, SimTenant

START = datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC)


class Clock:
    """A wall clock the test advances."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def scenario(**extra: Any) -> Scenario:
    data: dict[str, Any] = {
        "token_ttl_seconds": 600,
        "users": [
            {
                "id": "admin",
                "name": "Admin",
                "api_key": "key-admin",
                "client_id": "cid",
                "client_secret": "secret",
            },
            {"id": "bob", "name": "Bob", "api_key": "key-bob", "tenant_admin": False},
            {"id": "carol", "name": "Carol", "api_key": "key-carol", "tenant_admin": False},
        ],
        "spaces": [
            {"id": "sh", "name": "Shared", "type": "shared", "members": {"bob": ["consumer"]}},
            {"id": "mg", "name": "Managed", "type": "managed", "owner": "carol"},
            {"id": "dt", "name": "Data", "type": "data"},
        ],
        "apps": [
            {"key": "good", "space": "sh", "queue_seconds": 1, "duration_seconds": 4},
            {
                "key": "bad",
                "space": "mg",
                "queue_seconds": 2,
                "duration_seconds": 3,
                "outcome": "failure",
            },
            {"key": "script", "resource_type": "script", "space": "dt"},
            {"key": "mine", "owner": "bob"},
            {"key": "late", "late_seconds": 30, "queue_seconds": 0, "duration_seconds": 1},
            {"key": "dup", "duplicate_events": 3, "queue_seconds": 0, "duration_seconds": 1},
        ],
    }
    data.update(extra)
    return Scenario.model_validate(data)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(clock: Clock, **extra: Any) -> SimTenant:
    return SimTenant(scenario(**extra), clock=clock)


def key(tenant: SimTenant, app_key: str) -> Any:
    return tenant.scenario.app(app_key)


def everything(tenant: SimTenant) -> tuple[datetime, datetime]:
    return START - timedelta(days=1), START + timedelta(days=1)


# --- lifecycle ------------------------------------------------------------------------------


def test_reload_lifecycle_succeeds(clock: Clock) -> None:
    tenant = make(clock)
    reload = tenant.start_reload(key(tenant, "good"), tenant.users["admin"])
    assert reload is not None
    assert reload.status(clock()) == "QUEUED"
    body = reload.as_json(clock(), "http://sim")
    assert body["status"] == "QUEUED" and "startTime" not in body and "endTime" not in body
    assert body["type"] == "external" and body["userId"] == "admin"
    assert body["links"]["self"]["href"] == f"http://sim/api/v1/reloads/{reload.id}"
    clock.advance(0.999)
    assert reload.status(clock()) == "QUEUED"
    clock.advance(0.001)
    assert reload.status(clock()) == "RELOADING"
    body = reload.as_json(clock(), "http://sim")
    assert "startTime" in body and "endTime" not in body
    clock.advance(4)
    assert reload.status(clock()) == "SUCCEEDED"
    body = reload.as_json(clock(), "http://sim")
    assert body["endTime"] == "2026-11-22T10:00:05.123Z"
    assert body["duration"] == "4000ms"
    assert "errorCode" not in body


def test_reload_lifecycle_fails(clock: Clock) -> None:
    tenant = make(clock)
    reload = tenant.start_reload(key(tenant, "bad"), tenant.users["admin"])
    assert reload is not None
    clock.advance(2)
    assert reload.status(clock()) == "RELOADING"
    clock.advance(3)
    assert reload.status(clock()) == "FAILED"
    body = reload.as_json(clock(), "http://sim")
    assert body["status"] == "FAILED" and body["errorCode"] and body["errorMessage"]


def test_listing_follows_the_clock(clock: Clock) -> None:
    tenant = make(clock)
    first = tenant.start_reload(key(tenant, "good"), tenant.users["admin"])
    clock.advance(1)
    second = tenant.start_reload(key(tenant, "bad"), tenant.users["admin"])
    assert first is not None and second is not None
    assert [r.id for r in tenant.reloads_newest_first(None)] == [second.id, first.id]
    assert [r.id for r in tenant.reloads_newest_first(first.app_id)] == [first.id]
    assert tenant.reloads[first.id] is first


def test_pending_reload_blocks_a_new_one_until_it_runs(clock: Clock) -> None:
    tenant = make(clock)
    app, admin = key(tenant, "good"), tenant.users["admin"]
    first = tenant.start_reload(app, admin)
    assert first is not None
    assert tenant.start_reload(app, admin) is None
    clock.advance(0.5)
    assert tenant.start_reload(app, admin) is None
    clock.advance(0.5)  # the first is RELOADING now: no longer pending
    second = tenant.start_reload(app, admin)
    assert second is not None and second.id != first.id
    assert tenant.start_reload(app, admin) is None
    # Another app is not affected.
    assert tenant.start_reload(key(tenant, "bad"), admin) is not None


def test_due_scheduled_reload_counts_as_pending(clock: Clock) -> None:
    tenant = make(clock, reloads=[{"app": "good", "start_in_seconds": 5}])
    app = key(tenant, "good")
    clock.advance(5)
    assert tenant.start_reload(app, tenant.users["admin"]) is None


# --- permissions ----------------------------------------------------------------------------


def test_personal_space_only_the_owner(clock: Clock) -> None:
    tenant = make(clock)
    mine = key(tenant, "mine")
    assert tenant.can_reload(tenant.users["bob"], mine)
    assert not tenant.can_reload(tenant.users["admin"], mine)
    assert not tenant.can_reload(tenant.users["carol"], mine)


def test_space_owner_may_reload(clock: Clock) -> None:
    tenant = make(clock)
    assert tenant.can_reload(tenant.users["carol"], key(tenant, "bad"))  # owns "mg"
    assert tenant.can_reload(tenant.users["admin"], key(tenant, "good"))  # owns "sh"
    assert not tenant.can_reload(tenant.users["bob"], key(tenant, "bad"))  # no role in "mg"


@pytest.mark.parametrize(
    ("space_type", "role"),
    [(kind, role) for kind, roles in ASSIGNABLE_ROLES.items() for role in roles],
)
def test_space_roles(clock: Clock, space_type: str, role: str) -> None:
    tenant = make(clock)
    app = {"shared": "good", "managed": "bad", "data": "script"}[space_type]
    app_spec = key(tenant, app)
    assert tenant.spaces[app_spec.space].type == space_type
    tenant.members[app_spec.space]["bob"] = [role]
    assert tenant.can_reload(tenant.users["bob"], app_spec) == (role in RELOAD_ROLES[space_type])


def test_reload_roles_are_assignable_in_their_space_type() -> None:
    for kind, roles in RELOAD_ROLES.items():
        assert roles <= set(ASSIGNABLE_ROLES[kind]), kind
    assert set(RELOAD_ROLES) == {"shared", "managed", "data"}


def test_consumer_in_shared_space_may_not_reload(clock: Clock) -> None:
    tenant = make(clock)
    assert not tenant.can_reload(tenant.users["bob"], key(tenant, "good"))


# --- scheduled and historical reloads -------------------------------------------------------


def test_scheduled_reload_appears_when_due(clock: Clock) -> None:
    tenant = make(clock, reloads=[{"app": "good", "start_in_seconds": 10}])
    assert tenant.reloads_newest_first(None) == []
    clock.advance(9.9)
    assert tenant.reloads_newest_first(None) == []
    clock.advance(0.1)
    (reload,) = tenant.reloads_newest_first(None)
    assert reload.type == "chronos"
    assert reload.created == START + timedelta(seconds=10)
    assert reload.status(clock()) == "QUEUED"
    assert reload.user_id == key(tenant, "good").owner
    clock.advance(100)
    assert len(tenant.reloads_newest_first(None)) == 1  # started once only


def test_scheduled_reloads_in_order(clock: Clock) -> None:
    reloads = [{"app": "bad", "start_in_seconds": 20}, {"app": "good", "start_in_seconds": 5}]
    tenant = make(clock, reloads=reloads)
    clock.advance(30)
    newest_first = tenant.reloads_newest_first(None)
    assert [r.app_id for r in newest_first] == [key(tenant, "bad").id, key(tenant, "good").id]


def test_historical_reload(clock: Clock) -> None:
    reloads = [
        {"app": "good", "ended_minutes_ago": 10},
        {"app": "good", "ended_minutes_ago": 5, "outcome": "failure"},
    ]
    tenant = make(clock, reloads=reloads)
    older, newer = reversed(tenant.reloads_newest_first(None))
    assert older.status(clock()) == "SUCCEEDED"
    assert newer.status(clock()) == "FAILED"
    assert older.ended == START - timedelta(minutes=10)
    assert newer.ended == START - timedelta(minutes=5)
    events = tenant.events(*everything(tenant), None, 100)
    assert [e.reload.id for e in events] == [older.id, newer.id]
    statuses = [e.as_json("http://sim")["data"]["status"] for e in events]
    assert statuses == ["ok", "error"]


def test_scheduled_reload_keeps_its_own_outcome_and_type(clock: Clock) -> None:
    scheduled = {"app": "good", "start_in_seconds": 1, "outcome": "failure", "type": "manual"}
    tenant = make(clock, reloads=[scheduled])
    clock.advance(10)
    (reload,) = tenant.reloads_newest_first(None)
    assert reload.status(clock()) == "FAILED" and reload.type == "manual"


def test_task_runs_are_started_by_the_task_owner_and_fire_their_successor(clock: Clock) -> None:
    tasks = [
        {"key": "nightly", "app": "good", "owner": "carol"},
        {"key": "then", "app": "bad", "after": "nightly", "owner": "bob"},
    ]
    tenant = make(clock, tasks=tasks, reloads=[{"app": "good", "task": "nightly"}])
    clock.advance(5)  # good: queued 0 -> 1 s, runs to 5 s
    (run,) = tenant.reloads_newest_first(None)
    assert run.user_id == "carol" and run.type == "chronos"
    clock.advance(1)
    fired, _ = tenant.reloads_newest_first(None)
    assert fired.app_id == key(tenant, "bad").id and fired.user_id == "bob"
    assert fired.status(clock()) == "QUEUED"
    assert tenant.start_reload(key(tenant, "bad"), tenant.users["admin"]) is None  # pending


def test_reload_log_counts_api_starts_only(clock: Clock) -> None:
    reloads = [{"app": "good", "ended_minutes_ago": 3}, {"app": "bad", "start_in_seconds": 1}]
    tenant = make(clock, reloads=reloads)
    clock.advance(2)
    assert tenant.reload_log() == {}
    good, bad = key(tenant, "good"), key(tenant, "bad")
    assert tenant.start_reload(good, tenant.users["admin"]) is not None
    assert tenant.start_reload(good, tenant.users["admin"]) is None  # refused: not counted
    clock.advance(5)
    assert tenant.start_reload(good, tenant.users["admin"]) is not None
    assert tenant.start_reload(bad, tenant.users["admin"]) is not None
    assert tenant.reload_log() == {good.id: 2, bad.id: 1}
    assert len(tenant.reloads_newest_first(None)) == 5


# --- audit events ---------------------------------------------------------------------------


def test_event_shape(clock: Clock) -> None:
    tenant = make(clock)
    reload = tenant.start_reload(key(tenant, "bad"), tenant.users["admin"])
    assert reload is not None
    clock.advance(10)
    (event,) = tenant.events(*everything(tenant), None, 10)
    body = event.as_json("http://sim")
    assert body["eventType"] == "com.qlik.v1.app.reload.finished"
    assert body["extensions"]["topLevelResourceId"] == key(tenant, "bad").id
    assert body["extensions"]["spaceId"] == "mg"
    assert body["data"] == {
        "reloadId": reload.id,
        "status": "error",
        "endTime": "2026-11-22T10:00:05.123Z",
        "duration": 3000,
        "isPartialReload": False,
    }
    assert body["eventTime"] == body["data"]["endTime"]
    assert "appId" not in body["data"]


def test_event_visible_only_after_the_end(clock: Clock) -> None:
    tenant = make(clock)
    assert tenant.start_reload(key(tenant, "good"), tenant.users["admin"]) is not None
    clock.advance(4.999)
    assert tenant.events(*everything(tenant), None, 10) == []
    clock.advance(0.001)
    assert len(tenant.events(*everything(tenant), None, 10)) == 1


def test_late_event_visible_after_late_seconds(clock: Clock) -> None:
    tenant = make(clock)
    reload = tenant.start_reload(key(tenant, "late"), tenant.users["admin"])
    assert reload is not None
    clock.advance(1)
    assert reload.status(clock()) == "SUCCEEDED"
    assert tenant.events(*everything(tenant), None, 10) == []
    clock.advance(29.9)
    assert tenant.events(*everything(tenant), None, 10) == []
    clock.advance(0.1)
    (event,) = tenant.events(*everything(tenant), None, 10)
    assert event.reload.ended == START + timedelta(seconds=1)  # eventTime is still the end


def test_event_minutes_late_shows_when_due_with_its_old_event_time(clock: Clock) -> None:
    reloads = [{"app": "good", "ended_minutes_ago": 20, "visible_in_seconds": 30}]
    tenant = make(clock, reloads=reloads)
    assert tenant.events(*everything(tenant), None, 10) == []
    clock.advance(29.9)
    assert tenant.events(*everything(tenant), None, 10) == []
    clock.advance(0.1)
    (event,) = tenant.events(*everything(tenant), None, 10)
    assert event.as_json("http://sim")["eventTime"] == "2026-11-22T09:40:00.123Z"
    assert event.visible_at - event.reload.ended == timedelta(minutes=20, seconds=30)


def test_reveal_shows_held_events_of_finished_reloads_only(clock: Clock) -> None:
    reloads = [{"app": "good", "ended_minutes_ago": 7, "visible_in_seconds": 3600}]
    tenant = make(clock, reloads=reloads)
    running = tenant.start_reload(key(tenant, "late"), tenant.users["admin"])
    assert running is not None
    assert tenant.reveal() == 1
    (event,) = tenant.events(*everything(tenant), None, 10)
    assert event.reload.app_id == key(tenant, "good").id
    clock.advance(1)  # "late" has ended: its event (30 s late) is revealed too
    assert tenant.reveal() == 1
    assert len(tenant.events(*everything(tenant), None, 10)) == 2
    assert tenant.reveal() == 0


def test_future_stamped_event_is_listed_where_its_reload_ended(clock: Clock) -> None:
    reloads = [
        {"app": "good", "ended_minutes_ago": 5, "event_time": "2099-01-01T00:00:00Z"},
        {"app": "bad", "ended_minutes_ago": 2},
    ]
    tenant = make(clock, reloads=reloads)
    window = (START - timedelta(minutes=10), START)
    stamped, plain = tenant.events(*window, None, 10)
    assert stamped.as_json("http://sim")["eventTime"] == "2099-01-01T00:00:00.000Z"
    assert stamped.as_json("http://sim")["data"]["endTime"] == "2026-11-22T09:55:00.123Z"
    assert plain.event_time == START - timedelta(minutes=2)


def test_quiet_at_waits_for_running_reloads_late_events_and_due_schedules(clock: Clock) -> None:
    reloads = [
        {"app": "bad", "start_in_seconds": 1},
        {"app": "good", "ended_minutes_ago": 1, "visible_in_seconds": 3600},
    ]
    tenant = make(clock, reloads=reloads)
    # "bad" is due in 1 s, queues 2 s and runs 3 s; the held event is not waited for.
    assert tenant.quiet_at(timedelta(seconds=60)) == START + timedelta(seconds=6)
    assert tenant.start_reload(key(tenant, "late"), tenant.users["admin"]) is not None
    assert tenant.quiet_at(timedelta(seconds=60)) == START + timedelta(seconds=31)
    clock.advance(40)
    assert tenant.quiet_at(timedelta(seconds=60)) == clock()


def test_events_in_event_time_order(clock: Clock) -> None:
    apps = [
        {"key": f"app{n}", "queue_seconds": 0, "duration_seconds": duration}
        for n, duration in enumerate([9, 2, 7, 1, 5])
    ]
    tenant = make(clock, apps=apps)
    for app in tenant.scenario.apps:
        assert tenant.start_reload(app, tenant.users["admin"]) is not None
    clock.advance(60)
    events = tenant.events(*everything(tenant), None, 100)
    ends = [e.reload.ended for e in events]
    assert ends == sorted(ends) and len(ends) == 5
    assert [e.reload.duration_seconds for e in events] == [1, 2, 5, 7, 9]


def test_events_respect_the_time_range(clock: Clock) -> None:
    apps = [{"key": f"app{n}", "queue_seconds": 0, "duration_seconds": n + 1} for n in range(5)]
    tenant = make(clock, apps=apps)
    for app in tenant.scenario.apps:
        assert tenant.start_reload(app, tenant.users["admin"]) is not None
    clock.advance(60)
    start, end = START + timedelta(seconds=2), START + timedelta(seconds=4)
    events = tenant.events(start, end, None, 100)
    assert [e.reload.duration_seconds for e in events] == [2, 3, 4]


def page_all(tenant: SimTenant, limit: int) -> list[SimEvent]:
    found: list[SimEvent] = []
    after = None
    for _ in range(1000):
        page = tenant.events(*everything(tenant), after, limit)
        found += page
        if len(page) < limit:
            return found
        after = page[-1].sort_key
    raise AssertionError("paging never ended")


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_paging_never_skips_or_repeats_with_equal_end_times(clock: Clock, limit: int) -> None:
    apps = [
        {"key": f"app{n:02}", "queue_seconds": 0, "duration_seconds": 2, "duplicate_events": 2}
        for n in range(20)
    ]
    apps.append({"key": "other", "queue_seconds": 0, "duration_seconds": 1})
    tenant = make(clock, apps=apps)
    for app in tenant.scenario.apps:
        assert tenant.start_reload(app, tenant.users["admin"]) is not None
    clock.advance(10)
    found = page_all(tenant, limit)
    ids = [e.id for e in found]
    assert len(ids) == len(set(ids)) == 41
    assert [e.sort_key for e in found] == sorted(e.sort_key for e in found)


def test_paging_with_events_arriving_between_pages(clock: Clock) -> None:
    apps = [{"key": f"app{n}", "queue_seconds": 0, "duration_seconds": 1} for n in range(6)]
    tenant = make(clock, apps=apps)
    for app in tenant.scenario.apps[:3]:
        assert tenant.start_reload(app, tenant.users["admin"]) is not None
    clock.advance(5)
    first = tenant.events(*everything(tenant), None, 2)
    for app in tenant.scenario.apps[3:]:
        assert tenant.start_reload(app, tenant.users["admin"]) is not None
    clock.advance(5)
    rest = tenant.events(*everything(tenant), first[-1].sort_key, 100)
    ids = [e.id for e in first + rest]
    assert len(ids) == len(set(ids)) == 6


def test_duplicate_events_for_one_reload(clock: Clock) -> None:
    tenant = make(clock)
    reload = tenant.start_reload(key(tenant, "dup"), tenant.users["admin"])
    assert reload is not None
    clock.advance(2)
    events = tenant.events(*everything(tenant), None, 10)
    assert len(events) == 3
    assert len({e.id for e in events}) == 3
    bodies = [e.as_json("http://sim") for e in events]
    assert {b["data"]["reloadId"] for b in bodies} == {reload.id}
    assert {b["eventTime"] for b in bodies} == {bodies[0]["eventTime"]}


# --- identity -------------------------------------------------------------------------------


def test_api_keys_identify_users(clock: Clock) -> None:
    tenant = make(clock)
    user = tenant.user_for_token("key-bob")
    assert user is not None and user.id == "bob"
    assert tenant.user_for_token("key-nobody") is None
    assert tenant.user_for_token("") is None


def test_oauth_token_until_expiry(clock: Clock) -> None:
    tenant = make(clock)
    issued = tenant.issue_token("cid", "secret")
    assert issued is not None
    token, expires = issued
    assert expires == START + timedelta(seconds=600)
    user = tenant.user_for_token(token)
    assert user is not None and user.id == "admin"
    clock.advance(599)
    assert tenant.user_for_token(token) is not None
    clock.advance(1)
    assert tenant.user_for_token(token) is None


def test_bad_client_credentials(clock: Clock) -> None:
    tenant = make(clock)
    assert tenant.issue_token("cid", "wrong") is None
    assert tenant.issue_token("other", "secret") is None
    assert tenant.issue_token("", "") is None  # users without client credentials


def test_tokens_are_unique(clock: Clock) -> None:
    tenant = make(clock)
    first, second = tenant.issue_token("cid", "secret"), tenant.issue_token("cid", "secret")
    assert first is not None and second is not None and first[0] != second[0]

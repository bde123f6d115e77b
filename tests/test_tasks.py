"""qlik.tasks: a scheduling-tasks ``Task`` read as a NativeTask, and ``QlikClient.native_tasks``
against respx at the transport (paging, refusals, retries, unreadable rows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from qlik.client import QlikClient
from qlik.errors import ApiError, TransientError
from qlik.models import Page
from qlik.tasks import TASK_RUN_FINISHED, NativeTask, TaskModel, Upstream, native_task
from qlik.tasks import tasks_of_pages as read_pages
from tests.fake_tenant import TENANT
from tests.native_rows import task_json

ENDED = datetime(2026, 11, 22, 9, 55, 6, tzinfo=UTC)
# Tenants write GUIDs in either case; reload-chain keys apps by the lower-case form.
APP = "3F0A8C1E-AAAA-4BBB-8CCC-0123456789AB"
UPSTREAM_APP = "8B1C0D2E-AAAA-4BBB-8CCC-0123456789AB"
TASKS = "/api/scheduling/tasks"


def read(row: dict[str, Any]) -> NativeTask:
    return native_task(TaskModel.model_validate(row))


def event_task(*correlation: tuple[str, str], type_: str = TASK_RUN_FINISHED) -> dict[str, Any]:
    row = task_json("t-b", APP)
    row["events"] = [
        {
            "name": "e1",
            "type": type_,
            "correlation": [
                {"contextAttributeName": name, "contextAttributeValue": value}
                for name, value in correlation
            ],
        }
    ]
    return row


def page(rows: list[Any], next_href: str | None = None) -> httpx.Response:
    links = {"next": {"href": next_href}} if next_href else {}
    return httpx.Response(200, json={"data": rows, "links": links})


# --- parsing -----------------------------------------------------------------------------------


def test_an_event_task_reads_its_app_upstream_task_status_and_upstream_app() -> None:
    task = read(task_json("t-b", APP, after="t-a", after_app=UPSTREAM_APP, last_run_ended=ENDED))
    assert task == NativeTask(
        task_id="t-b",
        name="Reload t-b",
        app_id=APP.lower(),
        enabled=True,
        disabled_code=None,
        upstreams=(Upstream("t-a", UPSTREAM_APP.lower(), "success"),),
        last_run_ended_at=ENDED,
        last_run_status="SUCCEEDED",
    )
    assert task.event_based


def test_the_newest_run_is_read_from_last_run_with_its_reload_id_before_the_attrs() -> None:
    row = task_json("t-a", APP, last_run_ended=ENDED)
    row["metadata"]["orchestration"]["lastRun"] = {
        "id": "run-1",
        "status": "FAILED",
        "workerId": "reload-7",
        "workerType": "reloads",
        "triggeredBy": "schedule",
        "endedAt": "2026-11-22T09:58:00Z",
    }
    task = read(row)
    assert (task.last_run_status, task.last_run_reload_id) == ("FAILED", "reload-7")
    assert task.last_run_ended_at == datetime(2026, 11, 22, 9, 58, tzinfo=UTC)


def reload_state(refs: list[str], *, exclusive: bool = True, partial: bool = False) -> Any:
    action = {
        "name": "app.reload",
        "functionRef": {"refName": "app.reload", "arguments": {"appId": APP, "partial": partial}},
    }
    on = [{"eventRefs": refs, "actions": [action]}]
    return {"name": "Reload", "type": "EVENT", "exclusive": exclusive, "onEvents": on, "end": True}


def two_upstreams(**state: bool) -> dict[str, Any]:
    row = task_json("t-b", APP, after="t-a")
    second = dict(row["events"][0], name="t-c-finished")
    second["correlation"] = [{"contextAttributeName": "id", "contextAttributeValue": "t-c"}]
    row["events"].append(second)
    row["states"] = [reload_state(["t-a-finished", "t-c-finished"], **state)]
    return row


def test_a_task_waiting_for_all_of_its_events_does_not_fire_alone() -> None:
    assert read(two_upstreams()).fires_alone  # exclusive (the default): any one of them
    waits = read(two_upstreams(exclusive=False))
    assert not waits.fires_alone and len(waits.upstreams) == 2


def test_a_partial_reload_does_not_count_as_the_successors_reload() -> None:
    assert not read(two_upstreams(partial=True)).fires_alone


def test_only_the_events_a_state_refers_to_are_upstreams() -> None:
    row = two_upstreams()
    row["states"] = [reload_state(["t-c-finished"])]
    assert [up.task_id for up in read(row).upstreams] == ["t-c"]


@pytest.mark.parametrize(
    ("status", "on"),
    [("SUCCEEDED", "success"), ("FAILED", "failure"), ("succeeded", "success"), (None, "any")],
)
def test_the_status_correlation_says_which_outcome_fires_it(status: str | None, on: str) -> None:
    task = read(task_json("t-b", APP, after="t-a", status=status))
    assert task.upstreams == (Upstream("t-a", None, on),)  # type: ignore[arg-type]


def test_an_event_with_a_status_reload_chain_cannot_read_is_ignored() -> None:
    row = task_json("t-b", APP, after="t-a", status="CANCELED")
    row["events"].append(
        {
            "name": "e2",
            "type": TASK_RUN_FINISHED,
            "correlation": [
                {"contextAttributeName": "id", "contextAttributeValue": "t-c"},
                {"contextAttributeName": "status", "contextAttributeValue": "FAILED"},
            ],
        }
    )
    assert read(row).upstreams == (Upstream("t-c", None, "failure"),)


def test_an_event_of_another_type_fires_nothing() -> None:
    row = event_task(("appId", UPSTREAM_APP), type_="com.qlik/active-analytics-orch")
    task = read(row)
    assert (task.upstreams, task.event_based) == ((), False)


def test_an_upstream_without_its_task_id_is_not_taken_to_fire() -> None:
    # Without the task's id, a manual reload of the app looks like the task's run: taking it
    # to fire would skip a hop nobody runs.
    by_app = read(event_task(("appId", UPSTREAM_APP), ("status", "FAILED")))
    assert by_app.upstreams == ()
    nameless = read(event_task(("status", "SUCCEEDED"), ("spaceId", "space-1")))
    assert nameless.upstreams == ()


def test_a_scheduled_task_has_no_upstream() -> None:
    task = read(task_json("t-a", APP, last_run_ended=ENDED))
    assert (task.upstreams, task.event_based, task.app_id) == ((), False, APP.lower())


def test_the_disabled_code_is_kept_only_while_the_task_is_disabled() -> None:
    disabled = read(task_json("t", APP, enabled=False, disabled_code="CONSECUTIVE-FAILURES"))
    assert (disabled.enabled, disabled.disabled_code) == (False, "CONSECUTIVE-FAILURES")
    # Re-enabled: the tenant may still carry the old code, which no longer means anything.
    enabled = read(task_json("t", APP, enabled=True, disabled_code="CONSECUTIVE-FAILURES"))
    assert (enabled.enabled, enabled.disabled_code) == (True, None)


def test_a_task_without_enabled_is_disabled_as_the_spec_defaults() -> None:
    row = task_json("t", APP)
    del row["enabled"]
    assert read(row).enabled is False


@pytest.mark.parametrize(
    ("attrs", "ended"),
    [
        ({"last_run_endedAt": "2026-11-22T09:55:06Z"}, ENDED),
        ({"last_run_endedAt": "2026-11-22T09:55:06.000123456Z"}, ENDED.replace(microsecond=123)),
        ({}, None),
        ({"last_run_endedAt": "  "}, None),
        ({"last_run_endedAt": "yesterday"}, None),
        ({"last_run_endedAt": 1700000000}, None),
    ],
)
def test_the_newest_runs_end_is_read_from_orchestration_when_readable(
    attrs: dict[str, Any], ended: datetime | None
) -> None:
    row = task_json("t", APP)
    row["metadata"]["orchestration"] = {"id": "o", "type": 3, "attrs": attrs}
    assert read(row).last_run_ended_at == ended


def test_a_task_without_orchestration_has_no_run_end() -> None:
    assert read(task_json("t", APP)).last_run_ended_at is None


def test_an_unreadable_row_is_logged_and_skipped_the_others_kept(logged: list[str]) -> None:
    no_app = task_json("t-x", APP)
    del no_app["resourceId"]
    bad_correlation = task_json("t-y", APP, after="t-a")
    del bad_correlation["events"][0]["correlation"][0]["contextAttributeName"]
    rows = [task_json("t-1", APP), no_app, "not a task", bad_correlation, task_json("t-2", APP)]

    tasks = read_pages([Page(data=rows[:3]), Page(data=rows[3:])])

    assert [task.task_id for task in tasks] == ["t-1", "t-2"]
    warnings = [line for line in logged if line.startswith("WARNING")]
    assert len(warnings) == 3
    assert "unreadable at resourceId" in warnings[0]
    assert "unreadable at top level" in warnings[1]
    assert "unreadable at events.0.correlation.0.contextAttributeName" in warnings[2]
    assert all(TASKS in line for line in warnings)


# --- the client --------------------------------------------------------------------------------


def test_native_tasks_follow_next_links_over_two_pages_100_at_a_time(
    router: respx.MockRouter, client: QlikClient
) -> None:
    second_href = f"{TENANT}{TASKS}?page=cursor-2&limit=100"
    second = router.get(TASKS, params={"page": "cursor-2"}).mock(
        return_value=page([task_json("t-2", APP, after="t-1", status="FAILED")])
    )
    first = router.get(TASKS, params={"limit": "100"}).mock(
        return_value=page([task_json("t-1", UPSTREAM_APP)], second_href)
    )

    tasks = client.native_tasks()

    assert tasks is not None
    assert [(task.task_id, task.app_id) for task in tasks] == [
        ("t-1", UPSTREAM_APP.lower()),
        ("t-2", APP.lower()),
    ]
    assert tasks[1].upstreams == (Upstream("t-1", None, "failure"),)
    assert (first.call_count, second.call_count) == (1, 1)
    assert "page" not in first.calls.last.request.url.params
    # Oldest first: a task updated while the pages are read does not move to a page read.
    assert first.calls.last.request.url.params["sort"] == "+createdAt"
    assert client.calls == {f"GET {TASKS}": 2}


@pytest.mark.parametrize("status", [403, 404])
def test_a_refused_or_missing_listing_is_none(
    router: respx.MockRouter, client: QlikClient, status: int
) -> None:
    errors = {"errors": [{"code": f"HTTP-{status}", "title": "no"}]}
    route = router.get(TASKS).respond(status, json=errors)
    assert client.native_tasks() is None
    assert route.call_count == 1  # a refusal is not retried


def test_a_refusal_on_a_later_page_is_none_too(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.get(TASKS, params={"page": "p2"}).respond(403, json={"errors": []})
    router.get(TASKS, params={"limit": "100"}).mock(
        return_value=page([task_json("t-1", APP)], f"{TASKS}?page=p2")
    )
    assert client.native_tasks() is None


def test_a_503_is_retried_then_the_listing_read(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.get(TASKS).mock(side_effect=[httpx.Response(503), page([task_json("t", APP)])])
    tasks = client.native_tasks()
    assert [task.task_id for task in tasks or []] == ["t"]
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_a_503_that_lasts_is_raised_as_transient_after_the_retries(
    router: respx.MockRouter, client: QlikClient
) -> None:
    route = router.get(TASKS).respond(503)
    with pytest.raises(TransientError, match="503"):
        client.native_tasks()
    assert route.call_count == 4  # one call and three retries, as for every read


def test_another_refusal_is_raised(router: respx.MockRouter, client: QlikClient) -> None:
    router.get(TASKS).respond(400, json={"errors": [{"code": "HTTP-400", "title": "bad"}]})
    with pytest.raises(ApiError) as raised:
        client.native_tasks()
    assert raised.value.status == 400


def test_an_unreadable_row_in_the_listing_is_skipped_with_a_warning(
    router: respx.MockRouter, client: QlikClient, logged: list[str]
) -> None:
    router.get(TASKS).mock(return_value=page([{"id": "t-x"}, task_json("t-1", APP)]))
    tasks = client.native_tasks()
    assert [task.task_id for task in tasks or []] == ["t-1"]
    (warning,) = [line for line in logged if line.startswith("WARNING")]
    assert f"GET {TASKS}: a task unreadable at resourceId ignored" in warning

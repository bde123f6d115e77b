"""QlikClient endpoints against respx at the transport: paging, batching, reloads, spaces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from qlik.client import QlikClient
from qlik.errors import ApiError, BadResponseError, RateLimitedError, TransientError
from qlik.reloads import ACTIVE_FILTER
from tests.fake_tenant import TENANT, app_id

AUDIT = "com.qlik.v1.app.reload.finished"
START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
END = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SINCE = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
A, B, C, D = (app_id(n) for n in (1, 2, 3, 4))


def page(rows: list[dict[str, Any]], next_href: str | None = None) -> httpx.Response:
    links = {"next": {"href": next_href}} if next_href else {}
    return httpx.Response(200, json={"data": rows, "links": links})


def reload_row(
    reload_id: str, app: str, created: datetime, status: str = "SUCCEEDED"
) -> dict[str, Any]:
    return {
        "id": reload_id,
        "appId": app,
        "status": status,
        "creationTime": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "tenantId": "t",
        "userId": "u",
        "type": "hub",
    }


def ids(result: dict[str, Any]) -> dict[str, str | None]:
    return {key: (value.id if value else None) for key, value in result.items()}


# --- audits -----------------------------------------------------------------------------------


def test_audit_pages_follow_absolute_next_links(
    router: respx.MockRouter, client: QlikClient
) -> None:
    page2, page3 = f"{TENANT}/api/v1/audits?cursor=p2", f"{TENANT}/api/v1/audits?cursor=p3"
    second = router.get("/api/v1/audits", params={"cursor": "p2"}).mock(
        return_value=page([{"id": "e2"}], page3)
    )
    third = router.get("/api/v1/audits", params={"cursor": "p3"}).mock(
        return_value=page([{"id": "e3"}])
    )
    first = router.get("/api/v1/audits", params={"eventType": AUDIT}).mock(
        return_value=page([{"id": "e1"}], page2)
    )
    pages = list(client.audit_event_pages(AUDIT, START, END))
    assert pages == [[{"id": "e1"}], [{"id": "e2"}], [{"id": "e3"}]]
    assert (first.call_count, second.call_count, third.call_count) == (1, 1, 1)
    assert str(second.calls.last.request.url) == page2
    assert str(third.calls.last.request.url) == page3
    assert client.calls == {"GET /api/v1/audits": 3}


def test_audit_pages_follow_capitalised_links(router: respx.MockRouter, client: QlikClient) -> None:
    page2 = f"{TENANT}/api/v1/audits?cursor=p2"
    capitalised = {"data": [{"id": "e1"}], "Links": {"Next": {"Href": page2}}}
    second = router.get("/api/v1/audits", params={"cursor": "p2"}).mock(
        return_value=page([{"id": "e2"}])
    )
    router.get("/api/v1/audits", params={"eventType": AUDIT}).respond(200, json=capitalised)
    assert list(client.audit_event_pages(AUDIT, START, END)) == [[{"id": "e1"}], [{"id": "e2"}]]
    assert second.call_count == 1


def test_audit_query_encodes_plus_in_sort_and_sends_limit_and_type(
    router: respx.MockRouter, client: QlikClient
) -> None:
    route = router.get("/api/v1/audits").mock(return_value=page([]))
    list(client.audit_event_pages(AUDIT, START, END))
    url = route.calls.last.request.url
    query = url.query.split(b"&")
    assert b"sort=%2BeventTime" in query
    assert b"limit=100" in query
    assert b"eventType=com.qlik.v1.app.reload.finished" in query
    assert b" " not in url.query
    assert url.params["sort"] == "+eventTime"
    assert url.params["eventTime"] == "2026-11-22T09:00:00.000Z/2026-11-22T10:00:00.000Z"


def test_audit_paging_stops_on_an_empty_page_even_with_a_next_link(
    router: respx.MockRouter, client: QlikClient
) -> None:
    route = router.get("/api/v1/audits").mock(
        return_value=page([], f"{TENANT}/api/v1/audits?cursor=p2")
    )
    assert list(client.audit_event_pages(AUDIT, START, END)) == [[]]
    assert route.call_count == 1


def test_audit_paging_follows_relative_next_links(
    router: respx.MockRouter, client: QlikClient
) -> None:
    second = router.get("/api/v1/audits", params={"cursor": "p2"}).mock(
        return_value=page([{"id": "e2"}])
    )
    router.get("/api/v1/audits", params={"eventType": AUDIT}).mock(
        return_value=page([{"id": "e1"}], "/api/v1/audits?cursor=p2")
    )
    assert len(list(client.audit_event_pages(AUDIT, START, END))) == 2
    assert second.call_count == 1


# --- items ------------------------------------------------------------------------------------


def item_answer(request: httpx.Request) -> httpx.Response:
    """Items for the requested ids, with their GUIDs upper-cased as some tenants write them."""
    wanted = request.url.params["resourceIds"].split(",")
    rows = [
        {
            "id": f"item-{guid}",
            "name": guid,
            "resourceId": guid.upper(),
            "resourceType": "app",
            "meta": {"tags": [{"name": "t"}]},
        }
        for guid in wanted
    ]
    return page(rows)


def test_items_are_fetched_in_batches_of_at_most_100(
    router: respx.MockRouter, client: QlikClient
) -> None:
    wanted = [app_id(n) for n in range(250)]
    route = router.get("/api/v1/items").mock(side_effect=item_answer)
    found = client.items(wanted + wanted[:10])
    assert route.call_count == 3
    batches = [call.request.url.params["resourceIds"].split(",") for call in route.calls]
    assert [len(batch) for batch in batches] == [100, 100, 50]
    assert sorted(guid for batch in batches for guid in batch) == sorted(wanted)
    assert {call.request.url.params["resourceType"] for call in route.calls} == {"app,script"}
    assert set(found) == set(wanted)
    assert found[A].resource_id == A.upper()
    assert client.calls == {"GET /api/v1/items": 3}


def test_items_keys_are_lowercase_resource_ids(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.get("/api/v1/items").mock(side_effect=item_answer)
    assert list(client.items([A])) == [A.lower()]


def test_items_with_no_ids_makes_no_call(client: QlikClient) -> None:
    assert client.items([]) == {}
    assert client.calls == {}


# --- latest reloads ---------------------------------------------------------------------------


def test_latest_reloads_uses_one_tenant_listing_and_stops_at_created_since(
    router: respx.MockRouter, client: QlikClient
) -> None:
    rows1 = [
        reload_row("ra-new", A.upper(), SINCE + timedelta(minutes=50), "RELOADING"),
        reload_row("rb", B, SINCE + timedelta(minutes=40)),
        reload_row("ra-old", A, SINCE + timedelta(minutes=30)),
    ]
    rows2 = [
        reload_row("rx", app_id(99), SINCE + timedelta(minutes=5)),
        reload_row("rz", app_id(98), SINCE - timedelta(minutes=1)),
    ]
    active = router.get("/api/v1/reloads", params={"filter": ACTIVE_FILTER}).mock(
        return_value=page([])
    )
    second = router.get("/api/v1/reloads", params={"cursor": "p2"}).mock(
        return_value=page(rows2, f"{TENANT}/api/v1/reloads?cursor=p3")
    )
    first = router.get("/api/v1/reloads").mock(
        return_value=page(rows1, f"{TENANT}/api/v1/reloads?cursor=p2")
    )
    result = client.latest_reloads([A, B, D], SINCE)
    assert ids(result) == {A: "ra-new", B: "rb", D: None}
    params = first.calls.last.request.url.params
    assert "appId" not in params
    assert (params["limit"], params["sort"]) == ("100", "-creationTime")
    assert second.call_count == 1
    assert active.call_count == 1  # D has no recent reload: is an old one still running?
    assert client.calls == {"GET /api/v1/reloads": 3}


def test_latest_reloads_stops_paging_once_every_app_has_a_reload(
    router: respx.MockRouter, client: QlikClient
) -> None:
    rows = [
        reload_row("ra", A, SINCE + timedelta(minutes=50)),
        reload_row("rb", B, SINCE + timedelta(minutes=40)),
    ]
    # The next page is not mocked: asking for it would fail the test.
    first = router.get("/api/v1/reloads").mock(
        return_value=page(rows, f"{TENANT}/api/v1/reloads?cursor=p2")
    )
    assert ids(client.latest_reloads([A, B], SINCE)) == {A: "ra", B: "rb"}
    assert first.call_count == 1
    assert client.calls == {"GET /api/v1/reloads": 1}


def test_latest_reloads_finds_a_long_running_reload_created_before_since(
    router: respx.MockRouter, client: QlikClient
) -> None:
    recent = [
        reload_row("ra", A, SINCE + timedelta(minutes=50)),
        reload_row("rz", app_id(98), SINCE - timedelta(minutes=1)),
    ]
    long_ago = SINCE - timedelta(hours=3)
    running = [
        reload_row("rq", app_id(97), long_ago, "QUEUED"),
        reload_row("rb-running", B.upper(), long_ago, "RELOADING"),
    ]
    active_p2 = router.get("/api/v1/reloads", params={"cursor": "a2"}).mock(
        return_value=page([reload_row("rc", C, long_ago, "CANCELING")])
    )
    active = router.get("/api/v1/reloads", params={"filter": ACTIVE_FILTER}).mock(
        return_value=page(running, f"{TENANT}/api/v1/reloads?cursor=a2")
    )
    listing = router.get("/api/v1/reloads").mock(return_value=page(recent))

    result = client.latest_reloads([A, B, C, D], SINCE)

    assert ids(result) == {A: "ra", B: "rb-running", C: "rc", D: None}
    assert listing.call_count == 1
    params = active.calls.last.request.url.params
    assert (
        params["filter"] == '(status eq "QUEUED" or status eq "RELOADING" or status eq "CANCELING")'
    )
    assert params["limit"] == "100"
    assert active_p2.call_count == 1
    assert client.calls == {"GET /api/v1/reloads": 3}


def test_latest_reloads_keeps_an_old_but_active_reload(
    router: respx.MockRouter, client: QlikClient
) -> None:
    old = SINCE - timedelta(hours=2)
    router.get("/api/v1/reloads").mock(return_value=page([reload_row("rq", A, old, "QUEUED")]))
    assert ids(client.latest_reloads([A], SINCE)) == {A: "rq"}


def test_latest_reloads_tenant_listing_answers_none_for_an_app_with_only_old_reloads(
    router: respx.MockRouter, client: QlikClient
) -> None:
    # Documented: "Each app's newest reload created since created_since (None if there is none)";
    # the per-app path answers None here, so the tenant-wide path must too.
    old = SINCE - timedelta(hours=2)
    active = router.get("/api/v1/reloads", params={"filter": ACTIVE_FILTER}).mock(
        return_value=page([])
    )
    router.get("/api/v1/reloads").mock(return_value=page([reload_row("r-old", A, old)]))
    assert ids(client.latest_reloads([A], SINCE)) == {A: None}
    assert active.call_count == 1


def test_latest_reloads_falls_back_to_per_app_calls_after_403_and_remembers(
    router: respx.MockRouter, client: QlikClient
) -> None:
    recent, old = SINCE + timedelta(minutes=10), SINCE - timedelta(hours=1)
    per_a = router.get("/api/v1/reloads", params={"appId": A}).mock(
        return_value=page([reload_row("ra", A, recent)])
    )
    per_b = router.get("/api/v1/reloads", params={"appId": B}).mock(
        return_value=page([reload_row("rb", B, old)])
    )
    per_c = router.get("/api/v1/reloads", params={"appId": C}).mock(return_value=page([]))
    errors = {"errors": [{"code": "RELOADS-003", "title": "Not permitted"}]}
    tenant_wide = router.get("/api/v1/reloads").respond(403, json=errors)

    assert ids(client.latest_reloads([A, B, C], SINCE)) == {A: "ra", B: None, C: None}
    assert ids(client.latest_reloads([A, B, C], SINCE)) == {A: "ra", B: None, C: None}

    assert tenant_wide.call_count == 1
    assert (per_a.call_count, per_b.call_count, per_c.call_count) == (2, 2, 2)
    params = per_a.calls.last.request.url.params
    assert (params["limit"], params["sort"]) == ("1", "-creationTime")
    assert client.calls == {"GET /api/v1/reloads": 7}


def test_latest_reloads_remembers_that_tenant_listing_works(
    router: respx.MockRouter, client: QlikClient
) -> None:
    route = router.get("/api/v1/reloads").mock(return_value=page([reload_row("ra", A, SINCE)]))
    client.latest_reloads([A], SINCE)
    client.latest_reloads([A], SINCE)
    assert route.call_count == 2
    assert all("appId" not in call.request.url.params for call in route.calls)


def test_latest_reloads_other_errors_propagate(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.get("/api/v1/reloads").respond(404)
    with pytest.raises(ApiError) as caught:
        client.latest_reloads([A], SINCE)
    assert caught.value.status == 404


def test_latest_reloads_of_no_apps_makes_no_call(client: QlikClient) -> None:
    assert client.latest_reloads([], SINCE) == {}
    assert client.calls == {}


# --- spaces -----------------------------------------------------------------------------------


def test_space_is_read(router: respx.MockRouter, client: QlikClient) -> None:
    router.get("/api/v1/spaces/s1").respond(200, json={"id": "s1", "type": "shared"})
    space = client.space("s1")
    assert space is not None
    assert (space.id, space.type) == ("s1", "shared")


@pytest.mark.parametrize("status", [404, 403])
def test_missing_or_hidden_space_is_none(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float], status: int
) -> None:
    route = router.get("/api/v1/spaces/gone").respond(status)
    assert client.space("gone") is None
    assert route.call_count == 1
    assert sleeps == []
    assert client.calls == {"GET /api/v1/spaces/{spaceId}": 1}


# --- start_reload -----------------------------------------------------------------------------


def test_start_reload_201_is_started_with_the_reload(
    router: respx.MockRouter, client: QlikClient
) -> None:
    route = router.post("/api/v1/reloads").respond(
        201, json=reload_row("new-reload", A, SINCE, "QUEUED")
    )
    result = client.start_reload(A)
    assert result.kind == "started"
    assert result.reload is not None
    assert (result.reload.id, result.reload.status) == ("new-reload", "QUEUED")
    assert json.loads(route.calls.last.request.content) == {"appId": A}
    assert route.calls.last.request.headers["Authorization"] == "Bearer key"
    assert client.calls == {"POST /api/v1/reloads": 1}


def test_start_reload_429_is_pending_and_not_retried(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    body = {"errors": [{"code": "RELOADS-429", "title": "A reload is already pending"}]}
    route = router.post("/api/v1/reloads").respond(429, json=body)
    result = client.start_reload(A)
    assert (result.kind, result.reload) == ("pending", None)
    assert route.call_count == 1
    assert sleeps == []


def test_start_reload_429_with_retry_after_is_the_rate_limit_not_pending(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.post("/api/v1/reloads").respond(429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimitedError) as raised:
        client.start_reload(A)
    assert raised.value.retry_after == 7.0
    assert route.call_count == 1  # a start is never repeated blindly; the next sweep retries it
    assert sleeps == []


def test_every_429_answer_is_counted_retried_read_pending_and_limited_start_alike(
    router: respx.MockRouter, client: QlikClient
) -> None:
    space = {"id": "s1", "name": "Finance", "type": "managed"}
    limited = httpx.Response(429, headers={"Retry-After": "2"})
    router.get("/api/v1/spaces/s1").mock(side_effect=[limited, httpx.Response(200, json=space)])
    pending = httpx.Response(429, json={"errors": [{"code": "RELOADS-429", "title": "Pending"}]})
    router.post("/api/v1/reloads").mock(side_effect=[pending, limited])
    assert client.rate_limited == 0

    assert client.space("s1") is not None
    assert client.rate_limited == 1  # the retry's 200 is not one
    assert client.start_reload(A).kind == "pending"
    with pytest.raises(RateLimitedError):
        client.start_reload(A)

    assert client.rate_limited == 3
    assert client.calls == {"GET /api/v1/spaces/{spaceId}": 2, "POST /api/v1/reloads": 2}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (403, "RELOADS-003", "forbidden"),
        (403, "RELOADS-013", "quota"),
        (404, "RELOADS-404", "not_found"),
    ],
)
def test_start_reload_refusals(
    router: respx.MockRouter, client: QlikClient, status: int, code: str, kind: str
) -> None:
    body = {"errors": [{"code": code, "title": "Refused"}]}
    route = router.post("/api/v1/reloads").respond(status, json=body)
    result = client.start_reload(A)
    assert (result.kind, result.reload, result.detail) == (kind, None, f"{code}: Refused")
    assert route.call_count == 1


def test_start_reload_other_4xx_raises_api_error(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.post("/api/v1/reloads").respond(400, json={"errors": [{"code": "X", "title": "Bad"}]})
    with pytest.raises(ApiError, match="POST /api/v1/reloads answered 400 X: Bad"):
        client.start_reload(A)


def test_start_reload_500_is_transient_and_never_retried(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.post("/api/v1/reloads").respond(500)
    with pytest.raises(TransientError):
        client.start_reload(A)
    assert route.call_count == 1
    assert sleeps == []
    assert client.calls == {"POST /api/v1/reloads": 1}


def test_start_reload_read_timeout_is_transient_and_never_retried(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.post("/api/v1/reloads").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(TransientError):
        client.start_reload(A)
    assert route.call_count == 1
    assert sleeps == []


def test_start_reload_connect_error_is_retried(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.post("/api/v1/reloads").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(201, json=reload_row("r", A, END)),
        ]
    )
    assert client.start_reload(A).kind == "started"
    assert route.call_count == 2
    assert len(sleeps) == 1
    assert client.calls == {"POST /api/v1/reloads": 2}


def test_a_next_link_that_repeats_stops_paging_instead_of_looping(
    router: respx.MockRouter, client: QlikClient
) -> None:
    looping = {"data": [{"id": "e1"}], "links": {"next": {"href": f"{TENANT}/api/v1/audits?p=2"}}}
    router.get("/api/v1/audits").respond(200, json=looping)
    with pytest.raises(BadResponseError, match="repeats"):
        list(client.audit_event_pages(AUDIT, START, END))
    assert client.calls == {"GET /api/v1/audits": 2}

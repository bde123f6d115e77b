"""A ``next`` chain that does not advance is stopped: respx at the transport counts the calls."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

import qlik.paging
from qlik.client import QlikClient
from qlik.errors import BadResponseError
from qlik.paging import MAX_STALLED_PAGES
from tests.fake_tenant import TENANT

AUDIT = "com.qlik.v1.app.reload.finished"
START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
END = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def event(number: int, at: datetime) -> dict[str, Any]:
    return {"id": f"e{number}", "eventTime": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def endless(path: str, rows_of: Any) -> Any:
    """A listing whose every page links to a page never seen before."""
    numbers = itertools.count(1)

    def answer(_request: httpx.Request) -> httpx.Response:
        number = next(numbers)
        if number > 1000:
            raise AssertionError("the next links were followed for ever")
        link = {"next": {"href": f"{TENANT}{path}?cursor=p{number + 1}"}}
        return httpx.Response(200, json={"data": rows_of(number), "links": link})

    return answer


def test_audit_links_that_change_while_time_stands_still_stop_after_the_cap(
    router: respx.MockRouter, client: QlikClient
) -> None:
    same_second = [event(n, START) for n in range(100)]
    route = router.get("/api/v1/audits").mock(
        side_effect=endless("/api/v1/audits", lambda _n: same_second)
    )
    pages = client.audit_event_pages(AUDIT, START, END)
    with pytest.raises(BadResponseError, match="do not advance"):
        for _ in pages:
            pass
    # The first page, then MAX_STALLED_PAGES that are no later: the next link is not followed.
    assert route.call_count == 1 + MAX_STALLED_PAGES
    assert client.calls == {"GET /api/v1/audits": 1 + MAX_STALLED_PAGES}


def numbered(request: httpx.Request) -> int:
    return int(request.url.params.get("cursor", "p1")[1:])


def link_after(number: int, last: int) -> dict[str, Any]:
    return {} if number == last else {"next": {"href": f"/api/v1/audits?cursor=p{number + 1}"}}


def test_audit_pages_that_advance_in_time_are_all_read(
    router: respx.MockRouter, client: QlikClient
) -> None:
    total = 3 * MAX_STALLED_PAGES

    def answer(request: httpx.Request) -> httpx.Response:
        number = numbered(request)
        rows = [event(number, START + timedelta(milliseconds=number))]
        return httpx.Response(200, json={"data": rows, "links": link_after(number, total)})

    route = router.get("/api/v1/audits").mock(side_effect=answer)
    assert len(list(client.audit_event_pages(AUDIT, START, END))) == total
    assert route.call_count == total


def test_a_run_of_pages_within_one_second_is_legal(
    router: respx.MockRouter, client: QlikClient
) -> None:
    stalled = MAX_STALLED_PAGES - 1  # pages no later than the first: just under the cap
    total = 1 + stalled + 3

    def answer(request: httpx.Request) -> httpx.Response:
        number = numbered(request)
        at = START if number <= 1 + stalled else START + timedelta(seconds=number)
        rows = [event(number, at)]
        return httpx.Response(200, json={"data": rows, "links": link_after(number, total)})

    route = router.get("/api/v1/audits").mock(side_effect=answer)
    assert len(list(client.audit_event_pages(AUDIT, START, END))) == total
    assert route.call_count == total


def test_any_listing_stops_at_the_page_cap(
    router: respx.MockRouter, client: QlikClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qlik.paging, "MAX_PAGES", 5)
    tag = [{"id": "t1", "name": "next-x"}]
    route = router.get("/api/v1/collections").mock(
        side_effect=endless("/api/v1/collections", lambda _n: tag)
    )
    with pytest.raises(BadResponseError, match="more than 5 pages"):
        client.tags()
    assert route.call_count == 5

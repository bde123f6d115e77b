"""QlikClient fans independent reads out: merged results, exact call counts, errors kept.

respx answers at the transport, from the client's worker threads as well as the caller's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from qlik.client import QlikClient, connect
from qlik.errors import ApiError, TransientError
from qlik.limits import IN_FLIGHT_POLL_S, RateLimiter, RateLimits
from qlik.tiers import START_TIER
from tests.clocks import FakeClock
from tests.fake_tenant import TENANT, app_id

SPACE_ROUTE = r"/api/v1/spaces/[^/]+$"
SINCE = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
BARRIER_TIMEOUT_S = 5.0


def page(rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, json={"data": rows, "links": {}})


def item_rows(request: httpx.Request) -> list[dict[str, Any]]:
    return [
        {"id": f"item-{guid}", "name": guid, "resourceId": guid, "resourceType": "app"}
        for guid in request.url.params["resourceIds"].split(",")
    ]


def reload_row(reload_id: str, app: str, created: datetime) -> dict[str, Any]:
    return {
        "id": reload_id,
        "appId": app,
        "status": "SUCCEEDED",
        "creationTime": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


class Threads:
    """Which threads answered, and how many requests were in flight at most."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def wrap(
        self, answer: Callable[[httpx.Request], httpx.Response]
    ) -> Callable[[httpx.Request], httpx.Response]:
        def tracked(request: httpx.Request) -> httpx.Response:
            with self._lock:
                self.seen.add(threading.get_ident())
                self.now += 1
                self.most = max(self.most, self.now)
            try:
                return answer(request)
            finally:
                with self._lock:
                    self.now -= 1

        return tracked


@contextmanager
def made_client(sleeps: list[float], max_concurrency: int, **options: Any) -> Iterator[QlikClient]:
    """A real client on respx; back-off sleeps are recorded, not slept."""
    client = connect(
        TENANT,
        SecretStr("key"),
        sender_options={"sleep": sleeps.append, **options},
        max_concurrency=max_concurrency,
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def client4(router: respx.MockRouter, sleeps: list[float]) -> Iterator[QlikClient]:
    with made_client(sleeps, 4) as client:
        yield client


@pytest.fixture
def client8(router: respx.MockRouter, sleeps: list[float]) -> Iterator[QlikClient]:
    with made_client(sleeps, 8) as client:
        yield client


# --- items ------------------------------------------------------------------------------------


def test_250_items_are_three_batches_in_flight_together_and_merged(
    router: respx.MockRouter, client4: QlikClient
) -> None:
    wanted = [app_id(n) for n in range(250)]
    together = threading.Barrier(3, timeout=BARRIER_TIMEOUT_S)  # all three batches at once
    threads = Threads()

    def answer(request: httpx.Request) -> httpx.Response:
        together.wait()
        return page(item_rows(request))

    route = router.get("/api/v1/items").mock(side_effect=threads.wrap(answer))
    found = client4.items(reversed(wanted))
    assert route.call_count == 3
    batches = [call.request.url.params["resourceIds"].split(",") for call in route.calls]
    assert sorted(len(batch) for batch in batches) == [50, 100, 100]
    assert sorted(guid for batch in batches for guid in batch) == wanted
    assert sorted(found) == wanted
    assert all(found[guid].resource_id == guid for guid in wanted)
    assert client4.calls == {"GET /api/v1/items": 3}
    assert threads.most == 3
    assert threading.get_ident() not in threads.seen


def test_a_400_on_one_items_batch_is_an_api_error(
    router: respx.MockRouter, client4: QlikClient
) -> None:
    wanted = [app_id(n) for n in range(250)]
    bad = wanted[-1]  # in the last batch: the first two are waited for, and succeed

    def answer(request: httpx.Request) -> httpx.Response:
        if bad in request.url.params["resourceIds"].split(","):
            return httpx.Response(
                400, json={"errors": [{"code": "HTTP-400", "title": "Bad request"}]}
            )
        return page(item_rows(request))

    router.get("/api/v1/items").mock(side_effect=answer)
    with pytest.raises(ApiError) as raised:
        client4.items(wanted)
    assert raised.value.status == 400
    assert client4.calls == {"GET /api/v1/items": 3}  # a 400 is not retried


def test_a_503_that_persists_on_one_batch_is_transient_after_the_retries(
    router: respx.MockRouter, client4: QlikClient, sleeps: list[float]
) -> None:
    wanted = [app_id(n) for n in range(250)]
    bad = wanted[-1]

    def answer(request: httpx.Request) -> httpx.Response:
        if bad in request.url.params["resourceIds"].split(","):
            return httpx.Response(503)
        return page(item_rows(request))

    router.get("/api/v1/items").mock(side_effect=answer)
    with pytest.raises(TransientError, match="503"):
        client4.items(wanted)
    # Two good batches, and the bad one sent 1 + 3 retries with a back-off before each retry.
    assert client4.calls == {"GET /api/v1/items": 6}
    assert len(sleeps) == 3


# --- spaces -----------------------------------------------------------------------------------


def space_answer(request: httpx.Request) -> httpx.Response:
    space_id = request.url.path.rsplit("/", 1)[-1]
    number = int(space_id.removeprefix("s"))
    if number % 10 == 3:
        return httpx.Response(404, json={"errors": [{"code": "SPACE-404", "title": "Not found"}]})
    if number % 10 == 7:
        return httpx.Response(403, json={"errors": [{"code": "SPACE-403", "title": "Forbidden"}]})
    kind = "managed" if number % 2 else "shared"
    return httpx.Response(200, json={"id": space_id, "name": f"Space {number}", "type": kind})


def test_40_spaces_with_8_at_once_are_counted_exactly_and_missing_ones_dropped(
    router: respx.MockRouter, client8: QlikClient
) -> None:
    threads = Threads()
    route = router.get(path__regex=SPACE_ROUTE).mock(side_effect=threads.wrap(space_answer))
    ids = [f"s{n}" for n in range(40)]
    found = client8.spaces(ids + ids[:5])
    assert route.call_count == 40
    assert client8.calls == {"GET /api/v1/spaces/{spaceId}": 40}
    expected = {f"s{n}" for n in range(40) if n % 10 not in (3, 7)}
    assert set(found) == expected
    for space_id, space in found.items():
        assert space.id == space_id
        assert space.type == ("managed" if int(space_id[1:]) % 2 else "shared")
    assert 1 < len(threads.seen) <= 8
    assert threads.most <= 8


def test_many_threads_count_every_call(router: respx.MockRouter, sleeps: list[float]) -> None:
    """The per-endpoint tally is exact under contention (16 threads, 400 calls)."""
    router.get(path__regex=SPACE_ROUTE).mock(side_effect=space_answer)
    with made_client(sleeps, 16) as client:
        found = client.spaces(f"s{n}" for n in range(400))
        assert len(found) == 320
        assert client.calls == {"GET /api/v1/spaces/{spaceId}": 400}


def test_a_server_error_on_one_space_is_not_a_missing_space(
    router: respx.MockRouter, client8: QlikClient, sleeps: list[float]
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/s5"):
            return httpx.Response(500)
        return space_answer(request)

    router.get(path__regex=SPACE_ROUTE).mock(side_effect=answer)
    with pytest.raises(TransientError):
        client8.spaces(f"s{n}" for n in range(10))
    assert len(sleeps) == 3


def test_no_spaces_no_calls(client4: QlikClient) -> None:
    assert client4.spaces([]) == {}
    assert client4.calls == {}


# --- latest reloads ---------------------------------------------------------------------------


def latest_answer(request: httpx.Request) -> httpx.Response:
    assert request.url.params["limit"] == "1"
    assert request.url.params["sort"] == "-creationTime"
    app = request.url.params["appId"]
    number = int(app[-12:])
    if number % 3 == 0:
        return page([])  # never reloaded
    created = SINCE - timedelta(days=number)  # however old
    return page([reload_row(f"r{number}", app, created)])


def test_latest_reload_each_asks_each_app_once_at_once(
    router: respx.MockRouter, client4: QlikClient
) -> None:
    threads = Threads()
    route = router.get("/api/v1/reloads").mock(side_effect=threads.wrap(latest_answer))
    apps = [app_id(n) for n in range(1, 21)]
    latest = client4.latest_reload_each([*apps, apps[0]])
    assert route.call_count == 20
    assert client4.calls == {"GET /api/v1/reloads": 20}
    assert sorted(call.request.url.params["appId"] for call in route.calls) == apps
    assert set(latest) == set(apps)
    for n, app in enumerate(apps, start=1):
        reload = latest[app]
        if n % 3 == 0:
            assert reload is None
        else:
            assert reload is not None
            assert (reload.id, reload.app_id) == (f"r{n}", app)
    assert threads.most <= 4


def test_latest_reload_each_of_no_apps_makes_no_call(client4: QlikClient) -> None:
    assert client4.latest_reload_each([]) == {}
    assert client4.calls == {}


def test_latest_reloads_falls_back_to_one_call_per_app_fanned_out(
    router: respx.MockRouter, client4: QlikClient
) -> None:
    apps = [app_id(n) for n in range(1, 13)]
    threads = Threads()

    def answer(request: httpx.Request) -> httpx.Response:
        if "appId" not in request.url.params:  # the tenant-wide listing: not for this user
            return httpx.Response(
                403, json={"errors": [{"code": "RELOADS-403", "title": "Forbidden"}]}
            )
        return latest_answer(request)

    router.get("/api/v1/reloads").mock(side_effect=threads.wrap(answer))
    latest = client4.latest_reloads(apps, SINCE - timedelta(days=6, hours=12))
    assert client4.tenant_wide_listing is False
    assert client4.calls == {"GET /api/v1/reloads": 1 + 12}
    # Older than created_since counts as no recent reload.
    expected = {app: (f"r{n}" if n % 3 and n <= 6 else None) for n, app in enumerate(apps, start=1)}
    assert {app: (r.id if r else None) for app, r in latest.items()} == expected
    assert threads.most <= 4
    # The next call goes straight to the per-app calls.
    client4.latest_reloads(apps, SINCE)
    assert client4.calls == {"GET /api/v1/reloads": 1 + 12 + 12}


# --- the limiter in the transport -------------------------------------------------------------


def test_the_limiter_paces_every_request_of_its_tier(router: respx.MockRouter) -> None:
    clock = FakeClock(max_sleeps=20)
    limits = RateLimits(calls={"tier1": 2, "audits": 100}, period_s=10.0)
    limiter = RateLimiter(limits, clock=clock, sleep=clock.sleep)
    router.get("/api/v1/items").mock(side_effect=lambda request: page(item_rows(request)))
    with made_client([], 1, limiter=limiter) as client:
        found = client.items(app_id(n) for n in range(250))
        assert len(found) == 250
        assert clock.sleeps == [10.0]  # the third batch waits out the first's period
        assert client.calls == {"GET /api/v1/items": 3}


def test_a_request_that_fails_still_frees_its_slot(router: respx.MockRouter) -> None:
    clock = FakeClock(max_sleeps=20)
    limiter = RateLimiter(RateLimits(calls={"tier1": 1}, period_s=10.0), clock, clock.sleep)
    route = router.get("/api/v1/items")
    route.side_effect = [httpx.ConnectError("refused"), page([])]
    with made_client([], 1, limiter=limiter, retries=0) as client:
        with pytest.raises(TransientError):
            client.items([app_id(1)])
        # Released when it failed: the next call waits one period, not IN_FLIGHT_POLL_S forever.
        assert client.items([app_id(2)]) == {}
        assert clock.sleeps == [10.0]
        assert IN_FLIGHT_POLL_S not in clock.sleeps


def test_concurrent_starts_take_the_free_start_slots_and_the_rest_give_up_at_once(
    router: respx.MockRouter,
) -> None:
    clock = FakeClock(max_sleeps=0)
    limiter = RateLimiter(RateLimits(calls={START_TIER: 5}), clock, clock.sleep)
    in_flight_together = threading.Barrier(3, timeout=BARRIER_TIMEOUT_S)

    def answer(request: httpx.Request) -> httpx.Response:
        in_flight_together.wait()
        reload = {
            "id": "r",
            "appId": "a",
            "status": "QUEUED",
            "creationTime": "2026-11-22T09:00:00Z",
        }
        return httpx.Response(201, json=reload)

    route = router.post("/api/v1/reloads").mock(side_effect=answer)
    with made_client([], 1, limiter=limiter) as client:
        client.seed_starts([100.0, 200.0])  # two of five spent by an earlier process
        outcomes = run_together(8, lambda n: client.start_reload(app_id(n)).kind)
    assert sorted(outcomes) == ["SlotUnavailableError"] * 5 + ["started"] * 3
    assert route.call_count == 3
    assert clock.sleeps == []


def run_together(count: int, call: Callable[[int], str]) -> list[str]:
    """``call(n)`` from ``count`` threads at once; each result, or the name of what it raised."""
    ready = threading.Barrier(count, timeout=BARRIER_TIMEOUT_S)
    results: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        ready.wait()
        try:
            result = call(n)
        except Exception as error:
            result = type(error).__name__
        with lock:
            results.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BARRIER_TIMEOUT_S * 2)
    return results

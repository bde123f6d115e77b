"""Sender through a real httpx client, respx at the transport: retries, errors, counts, auth."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import httpx
import pytest
import respx
from pydantic import SecretStr

from qlik.auth import ApiKeyAuth
from qlik.budget import Budget
from qlik.client import QlikClient, connect
from qlik.errors import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    NotSentError,
    OutOfTimeError,
    RateLimitedError,
    SlotUnavailableError,
    TransientError,
)
from qlik.limits import RateLimiter, RateLimits
from qlik.models import Space
from qlik.tiers import TierGate
from qlik.transport import Sender
from tests.clocks import FakeClock
from tests.fake_tenant import TENANT

SPACE_PATH = "/api/v1/spaces/s1"
SPACE_ENDPOINT = "GET /api/v1/spaces/{spaceId}"
SPACE = {"id": "s1", "name": "Finance", "type": "managed"}
START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
END = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
AUDIT = "com.qlik.v1.app.reload.finished"


def ok_space() -> httpx.Response:
    return httpx.Response(200, json=SPACE)


def test_get_retries_500_with_growing_backoff_then_succeeds(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.get(SPACE_PATH).mock(
        side_effect=[httpx.Response(500), httpx.Response(503), ok_space()]
    )
    assert client.space("s1") == Space(id="s1", name="Finance", type="managed")
    assert route.call_count == 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] < 0.75  # 0.5 * 2**0, jittered by 0.5..1.5
    assert 0.5 <= sleeps[1] < 1.5  # 0.5 * 2**1, jittered
    assert client.calls == {SPACE_ENDPOINT: 3}


def test_get_retries_read_timeout_then_succeeds(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.get(SPACE_PATH).mock(side_effect=[httpx.ReadTimeout("slow"), ok_space()])
    assert client.space("s1") is not None
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_get_retries_connect_error_then_succeeds(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.get(SPACE_PATH).mock(side_effect=[httpx.ConnectError("refused"), ok_space()])
    assert client.space("s1") is not None
    assert route.call_count == 2
    assert len(sleeps) == 1


def test_get_429_sleeps_retry_after_then_retries(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "7"})
    route = router.get(SPACE_PATH).mock(side_effect=[limited, ok_space()])
    assert client.space("s1") is not None
    assert route.call_count == 2
    assert sleeps == [pytest.approx(7.0, abs=0.05)]


def test_get_429_without_retry_after_backs_off_like_a_5xx(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.get(SPACE_PATH).mock(side_effect=[httpx.Response(429), ok_space()])
    assert client.space("s1") is not None
    assert route.call_count == 2
    # Not an immediate retry: the usual backoff, 0.5 s jittered by 0.5..1.5.
    assert len(sleeps) == 1
    assert 0.25 <= sleeps[0] < 0.75


def test_retry_after_of_sixty_seconds_is_waited(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "60"})
    router.get(SPACE_PATH).mock(side_effect=[limited, ok_space()])
    assert client.space("s1") is not None
    assert sleeps == [pytest.approx(60.0, abs=0.05)]


def test_retry_after_beyond_sixty_seconds_gives_up_at_once(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.get(SPACE_PATH).respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(RateLimitedError) as caught:
        client.space("s1")
    assert caught.value.retry_after == 3600.0
    assert route.call_count == 1
    assert sleeps == []


def test_get_500_until_retries_are_spent_raises_transient(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.get(SPACE_PATH).respond(500)
    with pytest.raises(TransientError, match="500"):
        client.space("s1")
    assert route.call_count == 4
    assert len(sleeps) == 3
    assert client.calls == {SPACE_ENDPOINT: 4}


def test_get_429_until_retries_are_spent_raises_rate_limited(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    route = router.get(SPACE_PATH).respond(429, headers={"Retry-After": "2"})
    with pytest.raises(RateLimitedError) as caught:
        client.space("s1")
    assert caught.value.retry_after == 2.0
    assert route.call_count == 4
    assert sleeps == [pytest.approx(2.0, abs=0.05)] * 3


def test_retries_follow_sender_options(router: respx.MockRouter, sleeps: list[float]) -> None:
    route = router.get(SPACE_PATH).respond(502)
    options = {"sleep": sleeps.append, "retries": 1, "backoff_s": 10.0}
    client = connect(TENANT, SecretStr("key"), sender_options=options)
    with pytest.raises(TransientError):
        client.space("s1")
    client.close()
    assert route.call_count == 2
    assert len(sleeps) == 1
    assert 5.0 <= sleeps[0] < 15.0


def test_401_is_authentication_error_and_not_retried(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    body = {"errors": [{"code": "HTTP-401", "title": "Not authorized"}]}
    route = router.get(SPACE_PATH).respond(401, json=body)
    with pytest.raises(AuthenticationError, match="Not authorized") as caught:
        client.space("s1")
    assert caught.value.exit_code == 2
    assert route.call_count == 1
    assert sleeps == []


def test_400_is_api_error_with_code_and_title_from_errors_body(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    body = {"errors": [{"code": "SPACES-400", "title": "Bad space id", "detail": "x"}]}
    route = router.get(SPACE_PATH).respond(400, json=body)
    with pytest.raises(ApiError) as caught:
        client.space("s1")
    error = caught.value
    assert (error.status, error.code, error.title) == (400, "SPACES-400", "Bad space id")
    assert str(error) == f"{SPACE_ENDPOINT} answered 400 SPACES-400: Bad space id"
    assert error.exit_code == 2
    assert route.call_count == 1
    assert sleeps == []


def test_4xx_with_non_json_body_is_api_error_with_blank_code(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.get(SPACE_PATH).respond(409, text="<html>conflict</html>")
    with pytest.raises(ApiError) as caught:
        client.space("s1")
    assert (caught.value.status, caught.value.code, caught.value.title) == (409, "", "")


def test_non_json_200_is_bad_response(router: respx.MockRouter, client: QlikClient) -> None:
    route = router.get(SPACE_PATH).respond(
        200, text="<html>login</html>", headers={"content-type": "text/html"}
    )
    with pytest.raises(BadResponseError, match=r"not JSON \(text/html\)"):
        client.space("s1")
    assert route.call_count == 1


def test_200_missing_required_field_is_bad_response_naming_it(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.get(SPACE_PATH).respond(200, json={"id": "s1", "name": "Finance"})
    with pytest.raises(BadResponseError, match=r"GET /api/v1/spaces/\{spaceId\}.* at type:"):
        client.space("s1")


def test_page_missing_data_is_bad_response_naming_data(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.get("/api/v1/audits").respond(200, json={"links": {}})
    with pytest.raises(BadResponseError, match="GET /api/v1/audits: unexpected answer at data:"):
        list(client.audit_event_pages(AUDIT, START, END))


def test_calls_are_counted_per_templated_endpoint(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.get(SPACE_PATH).respond(200, json=SPACE)
    router.get("/api/v1/spaces/s2").respond(404)
    client.space("s1")
    client.space("s2")
    assert client.calls == {SPACE_ENDPOINT: 2}


def test_bearer_api_key_is_sent(router: respx.MockRouter, client: QlikClient) -> None:
    route = router.get(SPACE_PATH).respond(200, json=SPACE)
    client.space("s1")
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer key"
    assert request.headers["Accept"] == "application/json"


def test_api_key_auth_repr_hides_the_key() -> None:
    auth = ApiKeyAuth(SecretStr("s3cret-api-key"))
    assert "s3cret" not in repr(auth)
    assert "s3cret" not in str(auth)


@pytest.mark.parametrize(
    "href",
    [
        "https://evil.example.com/api/v1/audits?cursor=p2",
        "//evil.example.com/api/v1/audits?cursor=p2",
        # Same host but plain http: following it would send the bearer token in clear text.
        "http://tenant.example.qlikcloud.com/api/v1/audits?cursor=p2",
        "https://TENANT.example.qlikcloud.com:443/api/v1/audits?cursor=p2",
    ],
)
def test_next_link_is_followed_on_the_tenant_only(
    router: respx.MockRouter, client: QlikClient, href: str
) -> None:
    """Only the link's path and query are used: the token never leaves the tenant."""
    second = router.get("/api/v1/audits", params={"cursor": "p2"}).respond(
        200, json={"data": [{"id": "e2"}], "links": {}}
    )
    first_page = {"data": [{"id": "e1"}], "links": {"next": {"href": href}}}
    router.get("/api/v1/audits", params={"eventType": AUDIT}).respond(200, json=first_page)

    assert list(client.audit_event_pages(AUDIT, START, END)) == [[{"id": "e1"}], [{"id": "e2"}]]

    assert second.call_count == 1
    assert str(second.calls.last.request.url) == f"{TENANT}/api/v1/audits?cursor=p2"
    assert {call.request.url.host for call in router.calls} == {"tenant.example.qlikcloud.com"}
    assert {call.request.url.scheme for call in router.calls} == {"https"}
    assert client.calls == {"GET /api/v1/audits": 2}


def test_unusable_next_link_is_a_bad_response(router: respx.MockRouter, client: QlikClient) -> None:
    page = {"data": [{"id": "e1"}], "links": {"next": {"href": "https://tenant:notaport/x"}}}
    router.get("/api/v1/audits").respond(200, json=page)
    with pytest.raises(BadResponseError, match="unusable link"):
        list(client.audit_event_pages(AUDIT, START, END))
    assert len(router.calls) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_undecodable_answer_is_a_bad_response_not_an_httpx_error(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float], method: str
) -> None:
    route = router.route(method=method, path="/api/v1/reloads").mock(
        side_effect=httpx.DecodingError("broken gzip")
    )
    with pytest.raises(BadResponseError, match="DecodingError: broken gzip"):
        if method == "GET":
            client.latest_reloads(["a"], START)
        else:
            client.start_reload("a")
    assert route.call_count == 1
    assert sleeps == []


def test_a_block_set_while_a_call_waits_for_its_slot_is_waited_out() -> None:
    clock = FakeClock()
    sent_at: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.now)
        return httpx.Response(200, json={"data": []})

    http = httpx.Client(base_url=TENANT, transport=httpx.MockTransport(answer))
    gate = TierGate(clock=clock, sleep=clock.sleep)
    limiter = RateLimiter(RateLimits({"tier1": 1}, 60.0), clock=clock, sleep=clock.sleep)
    sender = Sender(http, sleep=clock.sleep, gate=gate, limiter=limiter)
    sender.send("/api/v1/items", "GET", "/api/v1/items")  # at 1000: the slot is busy until 1060

    def another_thread_is_answered_429(sleeps: int) -> None:
        if sleeps == 1:  # at 1010, while this call waits for the slot: blocked until 1065
            clock.now += 10
            gate.block("tier1", 55)
            clock.now -= 10

    clock.during_sleep = another_thread_is_answered_429
    sender.send("/api/v1/items", "GET", "/api/v1/items")
    assert sent_at[1] >= 1065


# --- the bounded wait for a start slot --------------------------------------------------------

RELOAD = {"id": "r1", "appId": "app-1", "status": "QUEUED", "creationTime": "2026-11-22T09:00:00Z"}


def on_limiter(clock: FakeClock) -> QlikClient:
    """A client under Qlik's own budgets on ``clock``; every wait is recorded, not slept."""
    limiter = RateLimiter(RateLimits(), clock=clock, sleep=clock.sleep)
    return connect(
        TENANT, SecretStr("key"), sender_options={"sleep": clock.sleep, "limiter": limiter}
    )


def test_a_start_without_a_slot_within_a_minute_is_never_sent_and_reads_go_on() -> None:
    clock = FakeClock()
    client = on_limiter(clock)
    client.seed_starts([10.0] * 240)  # an earlier sweep's starts: the next slot is 290 s away
    with respx.mock(base_url=TENANT, assert_all_called=False) as router:
        start = router.post("/api/v1/reloads").respond(201, json=RELOAD)
        read = router.get(SPACE_PATH).mock(return_value=ok_space())
        with pytest.raises(
            SlotUnavailableError, match="no reload-start slot within 60 s"
        ) as caught:
            client.start_reload("app-1")
        assert client.space("s1") is not None
    assert isinstance(caught.value, NotSentError)
    assert not start.called
    assert read.call_count == 1
    assert clock.sleeps == []
    assert client.calls == {SPACE_ENDPOINT: 1}


def test_a_start_whose_slot_frees_within_a_minute_waits_for_it() -> None:
    clock = FakeClock()
    client = on_limiter(clock)
    client.seed_starts([250.0] * 240)  # they leave the window 50 s from now
    with respx.mock(base_url=TENANT, assert_all_called=True) as router:
        router.post("/api/v1/reloads").respond(201, json=RELOAD)
        assert client.start_reload("app-1").kind == "started"
    assert clock.sleeps == [50.0]


# --- the sweep's budget -----------------------------------------------------------------------


def on_budget(clock: FakeClock, sleeps: list[float] | None = None) -> tuple[QlikClient, Budget]:
    budget = Budget(clock)
    sleep = clock.sleep if sleeps is None else sleeps.append
    client = connect(TENANT, SecretStr("key"), budget=budget, sender_options={"sleep": sleep})
    return client, budget


def test_a_client_without_a_budget_has_one_without_deadline(client: QlikClient) -> None:
    assert client.budget.remaining() is None
    assert not client.budget.stopped


def test_past_the_sweep_deadline_no_new_call_is_made(router: respx.MockRouter) -> None:
    clock = FakeClock()
    client, budget = on_budget(clock, sleeps=[])
    route = router.get(SPACE_PATH).mock(return_value=ok_space())
    budget.start(60)
    assert client.space("s1") is not None
    clock.now += 60
    with pytest.raises(OutOfTimeError, match="ran past max_sweep_minutes"):
        client.space("s1")
    assert route.call_count == 1
    assert client.calls == {SPACE_ENDPOINT: 1}


def test_a_retry_is_not_made_once_its_backoff_runs_past_the_deadline(
    router: respx.MockRouter,
) -> None:
    clock = FakeClock()
    client, budget = on_budget(clock)
    route = router.get(SPACE_PATH).mock(side_effect=[httpx.Response(503), ok_space()])
    budget.start(0.1)  # the backoff (0.25 s at least) ends past it
    with pytest.raises(OutOfTimeError):
        client.space("s1")
    assert route.call_count == 1
    budget.start(None)  # the next sweep
    assert client.space("s1") is not None
    assert route.call_count == 2


@pytest.mark.parametrize("how", ["stopped", "deadline"])
def test_a_start_refused_by_the_budget_was_never_sent(how: str) -> None:
    clock = FakeClock()
    client, budget = on_budget(clock, sleeps=[])
    budget.start(60)
    if how == "stopped":
        budget.stop()
    else:
        clock.now += 61
    with respx.mock(base_url=TENANT, assert_all_called=False) as router:
        route = router.post("/api/v1/reloads").respond(201, json={})
        with pytest.raises(OutOfTimeError) as caught:
            client.start_reload("app-1")
    assert isinstance(caught.value, NotSentError)
    assert not route.called
    assert client.calls == {}


def stop_soon(budget: Budget) -> float:
    """Stop ``budget`` from another thread a moment from now; when the stop was asked."""
    threading.Timer(0.2, budget.stop).start()
    return time.monotonic()


def test_stop_ends_a_wait_for_a_blocked_tier(router: respx.MockRouter) -> None:
    budget = Budget()
    client = connect(TENANT, SecretStr("key"), budget=budget)  # real waits, on the budget
    limited = httpx.Response(429, headers={"Retry-After": "59"})
    route = router.get(SPACE_PATH).mock(side_effect=[limited, ok_space()])
    began = stop_soon(budget)
    with pytest.raises(OutOfTimeError, match="stopping"):
        client.space("s1")
    assert time.monotonic() - began < 3.0  # not the 59 s asked
    assert route.call_count == 1
    client.close()


def test_stop_ends_a_wait_for_a_rate_limit_slot(router: respx.MockRouter) -> None:
    budget = Budget()
    limits = RateLimits({"tier1": 1}, period_s=3600)
    client = connect(TENANT, SecretStr("key"), budget=budget, rate_limits=limits)
    route = router.get(SPACE_PATH).mock(return_value=ok_space())
    assert client.space("s1") is not None
    began = stop_soon(budget)
    with pytest.raises(OutOfTimeError, match="stopping"):
        client.space("s1")  # the next slot is an hour away
    assert time.monotonic() - began < 3.0
    assert route.call_count == 1

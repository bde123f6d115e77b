"""OAuth machine-to-machine (issue 5 item 7): token fetch, reuse, renewal, 401 retry, secrecy.

respx answers at the transport of a real httpx client; nothing of the client is patched.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx
from loguru import logger
from pydantic import SecretStr

from qlik.auth import ClientCredentials, OAuthClientCredentials
from qlik.client import QlikClient, connect
from qlik.errors import AuthenticationError, TransientError
from qlik.times import format_time
from scheduler.settings import Settings, SettingsError
from tests.clocks import ManualClock
from tests.fake_tenant import TENANT

CLIENT_ID = "reload-chain-m2m"
SECRET = "cs-SECRET-0123456789abcdef"
TOKENS = ("tok-FIRST-aaaaaaaaaaaa", "tok-SECOND-bbbbbbbbbbb", "tok-THIRD-ccccccccccc")
CREDENTIALS = ClientCredentials(CLIENT_ID, SecretStr(SECRET))
SPACE_PATH = "/api/v1/spaces/s1"
SPACE_ENDPOINT = "GET /api/v1/spaces/{spaceId}"
SPACE = {"id": "s1", "name": "Finance", "type": "managed"}
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
UNAUTHORIZED = {"errors": [{"code": "HTTP-401", "title": "Unauthorized"}]}


def token_answer(token: str, expires_at: datetime | None, **extra: object) -> httpx.Response:
    body: dict[str, object] = {"access_token": token, "token_type": "bearer", **extra}
    if expires_at is not None:
        body["expires_at"] = format_time(expires_at)
    return httpx.Response(200, json=body)


def later(hours: float = 1) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


def bearer(route: respx.Route, index: int = -1) -> str:
    return str(route.calls[index].request.headers["Authorization"])


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=TENANT, assert_all_called=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(router: respx.MockRouter, sleeps: list[float]) -> Iterator[QlikClient]:
    qlik = connect(TENANT, CREDENTIALS, sender_options={"sleep": sleeps.append})
    yield qlik
    qlik.close()


def clocked_client(clock: ManualClock) -> tuple[httpx.Client, OAuthClientCredentials]:
    auth = OAuthClientCredentials(TENANT, CREDENTIALS, clock=clock)
    return httpx.Client(base_url=TENANT, auth=auth), auth


# --- fetching and reusing ---------------------------------------------------------------------


def test_token_is_fetched_once_and_reused_across_calls(
    router: respx.MockRouter, client: QlikClient
) -> None:
    token = router.post("/oauth/token").mock(return_value=token_answer(TOKENS[0], later()))
    space = router.get(SPACE_PATH).respond(200, json=SPACE)
    client.space("s1")
    client.space("s1")
    assert token.call_count == 1
    assert [bearer(space, i) for i in range(2)] == [f"Bearer {TOKENS[0]}"] * 2
    assert client.calls == {"POST /oauth/token": 1, SPACE_ENDPOINT: 2}


def test_token_request_is_a_client_credentials_grant_without_authorization(
    router: respx.MockRouter, client: QlikClient
) -> None:
    token = router.post("/oauth/token").mock(return_value=token_answer(TOKENS[0], later()))
    router.get(SPACE_PATH).respond(200, json=SPACE)
    client.space("s1")
    request = token.calls.last.request
    assert str(request.url) == f"{TENANT}/oauth/token"
    assert json.loads(request.content) == {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "grant_type": "client_credentials",
    }
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers


def test_api_key_needs_no_token(router: respx.MockRouter) -> None:
    space = router.get(SPACE_PATH).respond(200, json=SPACE)
    qlik = connect(TENANT, SecretStr("key"))
    qlik.space("s1")
    assert bearer(space) == "Bearer key"
    assert qlik.calls == {SPACE_ENDPOINT: 1}


# --- renewal before expiry ---------------------------------------------------------------------


def test_token_is_renewed_60_seconds_before_expires_at(router: respx.MockRouter) -> None:
    clock = ManualClock(T0)
    token = router.post("/oauth/token").mock(
        side_effect=[
            token_answer(TOKENS[0], T0 + timedelta(minutes=10)),
            token_answer(TOKENS[1], None, expires_in=600),
        ]
    )
    space = router.get(SPACE_PATH).respond(200, json=SPACE)
    http, auth = clocked_client(clock)
    for minutes in (0, 8, 8.99):
        clock.wall = T0 + timedelta(minutes=minutes)
        http.get(SPACE_PATH)
    assert token.call_count == 1
    clock.wall = T0 + timedelta(minutes=9, seconds=1)
    http.get(SPACE_PATH)
    assert token.call_count == 2
    assert bearer(space) == f"Bearer {TOKENS[1]}"
    assert auth.calls == {"POST /oauth/token": 2}


def test_expires_in_is_used_when_expires_at_is_absent(router: respx.MockRouter) -> None:
    clock = ManualClock(T0)
    token = router.post("/oauth/token").mock(
        side_effect=[
            token_answer(TOKENS[0], None, expires_in=120),
            token_answer(TOKENS[1], None, expires_in=120),
        ]
    )
    router.get(SPACE_PATH).respond(200, json=SPACE)
    http, _ = clocked_client(clock)
    http.get(SPACE_PATH)
    clock.wall = T0 + timedelta(seconds=59)
    http.get(SPACE_PATH)
    assert token.call_count == 1
    clock.wall = T0 + timedelta(seconds=61)
    http.get(SPACE_PATH)
    assert token.call_count == 2


def test_short_lived_token_is_renewed_half_way(router: respx.MockRouter) -> None:
    clock = ManualClock(T0)
    token = router.post("/oauth/token").mock(
        side_effect=[
            token_answer(TOKENS[0], T0 + timedelta(seconds=2)),
            token_answer(TOKENS[1], later()),
        ]
    )
    router.get(SPACE_PATH).respond(200, json=SPACE)
    http, _ = clocked_client(clock)
    http.get(SPACE_PATH)
    clock.wall = T0 + timedelta(seconds=0.9)
    http.get(SPACE_PATH)
    assert token.call_count == 1
    clock.wall = T0 + timedelta(seconds=1.1)
    http.get(SPACE_PATH)
    assert token.call_count == 2


def test_expires_at_already_past_falls_back_to_expires_in(router: respx.MockRouter) -> None:
    clock = ManualClock(T0)
    past = T0 - timedelta(hours=1)
    token = router.post("/oauth/token").mock(
        return_value=token_answer(TOKENS[0], past, expires_in=300)
    )
    router.get(SPACE_PATH).respond(200, json=SPACE)
    http, _ = clocked_client(clock)
    http.get(SPACE_PATH)
    clock.wall = T0 + timedelta(minutes=3)
    http.get(SPACE_PATH)
    assert token.call_count == 1
    clock.wall = T0 + timedelta(minutes=4, seconds=1)
    http.get(SPACE_PATH)
    assert token.call_count == 2


def test_token_without_a_usable_expiry_is_kept_until_a_401(
    router: respx.MockRouter, client: QlikClient, logged: list[str]
) -> None:
    past = datetime.now(UTC) - timedelta(minutes=5)
    token = router.post("/oauth/token").mock(
        side_effect=[token_answer(TOKENS[0], past), token_answer(TOKENS[1], None)]
    )
    space = router.get(SPACE_PATH).mock(
        side_effect=[
            httpx.Response(200, json=SPACE),
            httpx.Response(200, json=SPACE),
            httpx.Response(401, json=UNAUTHORIZED),
            httpx.Response(200, json=SPACE),
        ]
    )
    for _ in range(3):
        client.space("s1")
    assert token.call_count == 2
    assert bearer(space) == f"Bearer {TOKENS[1]}"
    assert any("already past" in line for line in logged)


# --- 401 from the API ---------------------------------------------------------------------------


def test_401_renews_the_token_once_and_retries_once(
    router: respx.MockRouter, client: QlikClient
) -> None:
    token = router.post("/oauth/token").mock(
        side_effect=[token_answer(TOKENS[0], later()), token_answer(TOKENS[1], later())]
    )
    space = router.get(SPACE_PATH).mock(
        side_effect=[httpx.Response(401, json=UNAUTHORIZED), httpx.Response(200, json=SPACE)]
    )
    found = client.space("s1")
    assert found is not None and found.name == "Finance"
    assert token.call_count == 2
    assert [bearer(space, 0), bearer(space, 1)] == [f"Bearer {TOKENS[0]}", f"Bearer {TOKENS[1]}"]
    assert client.calls == {"POST /oauth/token": 2, SPACE_ENDPOINT: 2}


def test_second_401_raises_authentication_error(
    router: respx.MockRouter, client: QlikClient
) -> None:
    token = router.post("/oauth/token").mock(
        side_effect=[token_answer(TOKENS[0], later()), token_answer(TOKENS[1], later())]
    )
    space = router.get(SPACE_PATH).respond(401, json=UNAUTHORIZED)
    with pytest.raises(AuthenticationError) as caught:
        client.space("s1")
    assert caught.value.exit_code == 2
    assert token.call_count == 2
    assert space.call_count == 2
    assert client.calls == {"POST /oauth/token": 2, SPACE_ENDPOINT: 2}


def test_a_busy_token_endpoint_during_a_start_is_transient_not_a_pending_reload(
    router: respx.MockRouter, client: QlikClient
) -> None:
    # POST /api/v1/reloads reads a 429 without Retry-After as "already pending", a final skip:
    # the token endpoint's 429 must not look like that, or the chain would be lost.
    router.post("/oauth/token").respond(429)
    with pytest.raises(TransientError, match="token endpoint is busy"):
        client.start_reload("a1")
    assert client.calls == {"POST /oauth/token": 1, "POST /api/v1/reloads": 1}


def test_401_on_a_start_is_retried_once_with_the_new_token(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.post("/oauth/token").mock(
        side_effect=[token_answer(TOKENS[0], later()), token_answer(TOKENS[1], later())]
    )
    reload = {
        "id": "r1",
        "appId": "a1",
        "status": "QUEUED",
        "type": "hub",
        "creationTime": "2026-11-22T09:00:00.000Z",
    }
    start = router.post("/api/v1/reloads").mock(
        side_effect=[httpx.Response(401, json=UNAUTHORIZED), httpx.Response(201, json=reload)]
    )
    assert client.start_reload("a1").kind == "started"
    assert json.loads(start.calls[1].request.content) == {"appId": "a1"}
    assert client.calls == {"POST /oauth/token": 2, "POST /api/v1/reloads": 2}


# --- the token endpoint refusing or failing ------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403])
def test_bad_client_credentials_name_the_client_id_not_the_secret(
    router: respx.MockRouter, client: QlikClient, status: int
) -> None:
    errors = {"errors": [{"code": "OAUTH-1", "title": f"invalid client {SECRET}"}]}
    router.post("/oauth/token").respond(status, json=errors)
    with pytest.raises(AuthenticationError) as caught:
        client.space("s1")
    message = str(caught.value)
    assert CLIENT_ID in message
    assert SECRET not in message
    assert caught.value.exit_code == 2
    assert client.calls == {"POST /oauth/token": 1, SPACE_ENDPOINT: 1}


def test_5xx_from_the_token_endpoint_is_retried_on_reads(
    router: respx.MockRouter, client: QlikClient, sleeps: list[float]
) -> None:
    token = router.post("/oauth/token").mock(
        side_effect=[httpx.Response(503), token_answer(TOKENS[0], later())]
    )
    router.get(SPACE_PATH).respond(200, json=SPACE)
    assert client.space("s1") is not None
    assert token.call_count == 2
    assert len(sleeps) == 1
    assert client.calls == {"POST /oauth/token": 2, SPACE_ENDPOINT: 2}


def test_5xx_from_the_token_endpoint_on_a_start_is_transient(
    router: respx.MockRouter, client: QlikClient
) -> None:
    router.post("/oauth/token").respond(502)
    with pytest.raises(TransientError):
        client.start_reload("a1")


# --- concurrency -------------------------------------------------------------------------------


def test_threads_share_one_token_fetch(router: respx.MockRouter, client: QlikClient) -> None:
    def slow_token(_request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)
        return token_answer(TOKENS[0], later())

    token = router.post("/oauth/token").mock(side_effect=slow_token)
    router.get(SPACE_PATH).respond(200, json=SPACE)
    threads = [threading.Thread(target=client.space, args=("s1",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert token.call_count == 1
    assert client.calls == {"POST /oauth/token": 1, SPACE_ENDPOINT: 8}


# --- secrecy -----------------------------------------------------------------------------------


def test_repr_hides_the_secret_and_the_token(router: respx.MockRouter, client: QlikClient) -> None:
    router.post("/oauth/token").mock(return_value=token_answer(TOKENS[0], later()))
    router.get(SPACE_PATH).respond(200, json=SPACE)
    client.space("s1")
    auth = OAuthClientCredentials(TENANT, CREDENTIALS)
    shown = [repr(CREDENTIALS), str(CREDENTIALS), repr(auth), str(auth)]
    used = client._sender.http.auth
    shown += [repr(client), repr(vars(client)), repr(used), repr(vars(used))]
    for text in shown:
        assert SECRET not in text
        assert TOKENS[0] not in text
    assert CLIENT_ID in repr(CREDENTIALS)


def test_loguru_output_never_shows_the_secret_or_a_token(
    router: respx.MockRouter, client: QlikClient, logged: list[str]
) -> None:
    router.post("/oauth/token").mock(
        side_effect=[
            token_answer(TOKENS[0], later()),
            token_answer(TOKENS[1], later()),
            httpx.Response(401, json={"errors": [{"code": "OAUTH-1", "title": SECRET}]}),
        ]
    )
    router.get(SPACE_PATH).mock(
        side_effect=[httpx.Response(401, json=UNAUTHORIZED), httpx.Response(200, json=SPACE)]
    )
    router.get("/api/v1/spaces/s2").respond(401, json=UNAUTHORIZED)
    client.space("s1")
    with pytest.raises(AuthenticationError) as caught:
        client.space("s2")
    logger.error("sweep failed: {}", caught.value)
    assert any("renewing the OAuth token" in line for line in logged)
    for text in [*logged, str(caught.value), repr(caught.value)]:
        for secret in (SECRET, *TOKENS):
            assert secret not in text


# --- settings: which credentials -----------------------------------------------------------------


def test_api_key_is_preferred_over_an_oauth_client() -> None:
    settings = Settings(api_key="key", client_id=CLIENT_ID, client_secret=SECRET)
    chosen = settings.credentials()
    assert isinstance(chosen, SecretStr)
    assert chosen.get_secret_value() == "key"


def test_oauth_client_is_used_without_an_api_key() -> None:
    url, chosen = Settings(
        tenant_url=TENANT, client_id=CLIENT_ID, client_secret=SECRET
    ).require_tenant()
    assert url == TENANT
    assert chosen == CREDENTIALS


def test_no_credentials_names_every_setting_and_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings(tenant_url=TENANT).require_tenant()
    message = str(caught.value)
    names = ("api_key", "client_id", "client_secret", "QLIK_API_KEY", "QLIK_CLIENT_ID")
    for name in (*names, "QLIK_CLIENT_SECRET"):
        assert name in message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"client_id": CLIENT_ID}, "QLIK_CLIENT_SECRET"),
        ({"client_secret": SECRET}, "QLIK_CLIENT_ID"),
        ({"client_id": CLIENT_ID, "client_secret": ""}, "QLIK_CLIENT_SECRET"),
        ({"client_id": CLIENT_ID, "api_key": "key"}, "QLIK_CLIENT_SECRET"),
    ],
)
def test_half_an_oauth_client_is_an_error(fields: dict[str, str], missing: str) -> None:
    with pytest.raises(SettingsError, match=missing) as caught:
        Settings(tenant_url=TENANT, **fields).credentials()  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)

"""Authentication for the tenant client: a Bearer API key, or an OAuth machine-to-machine client.

``OAuthClientCredentials`` fetches an access token from ``POST /oauth/token`` (client
credentials grant) through the same httpx client, so the request reaches the same transport as
every API call and is counted with them as ``POST /oauth/token``. The token is kept until
shortly before ``expires_at`` and renewed once when an API call answers 401. Neither the
secret nor a token is ever logged, shown in ``repr`` or put in an exception message.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
from loguru import logger
from pydantic import BaseModel, SecretStr

from qlik.clock import SYSTEM_CLOCK, Clock
from qlik.errors import AuthenticationError, BadResponseError, TransientError
from qlik.times import parse_time
from qlik.transport import (
    COUNTED_AS,
    CallCounter,
    error_detail,
    parse_json,
    raise_for_answer,
)

TOKEN_PATH = "/oauth/token"
TOKEN_ENDPOINT = f"POST {TOKEN_PATH}"
REFRESH_EARLY = timedelta(seconds=60)
MASK = "**********"
# The token endpoint refuses bad credentials with these (400 invalid request, 403 disabled).
REFUSED = (400, 401, 403)
NEVER = datetime.max.replace(tzinfo=UTC)

Flow = Generator[httpx.Request, httpx.Response, None]


class ApiKeyAuth(httpx.Auth):
    """Send ``Authorization: Bearer <API key>``; the key never appears in ``repr``."""

    def __init__(self, api_key: SecretStr) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return f"ApiKeyAuth(api_key={MASK})"


@dataclass(frozen=True)
class ClientCredentials:
    """An OAuth machine-to-machine client: its id (not secret) and its secret."""

    client_id: str
    client_secret: SecretStr = field(repr=False)

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret={MASK})"


Credentials = SecretStr | ClientCredentials


class _TokenAnswer(BaseModel):
    """The parts of ``oauth-token-response`` used here."""

    access_token: SecretStr
    expires_at: str | None = None
    expires_in: float | None = None


@dataclass(frozen=True)
class _Token:
    value: SecretStr = field(repr=False)
    refresh_at: datetime

    def fresh(self, now: datetime) -> bool:
        return now < self.refresh_at


class OAuthClientCredentials(httpx.Auth):
    """Bearer tokens of an OAuth client-credentials grant, cached and renewed (sync clients).

    ``calls`` is the counter token fetches are added to (the tenant client's per-endpoint
    counts); ``clock`` is injectable for tests. A lock makes concurrent requests share one fetch.
    """

    requires_response_body = True

    def __init__(
        self,
        tenant_url: str,
        credentials: ClientCredentials,
        *,
        calls: CallCounter | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._token_url = tenant_url.rstrip("/") + TOKEN_PATH
        self._credentials = credentials
        self.calls = calls if calls is not None else CallCounter()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: _Token | None = None

    def __repr__(self) -> str:
        client_id = self._credentials.client_id
        return f"OAuthClientCredentials(client_id={client_id!r}, client_secret={MASK})"

    def auth_flow(self, request: httpx.Request) -> Flow:
        """Send with the cached token; on 401, fetch a new token once and send once more."""
        token = yield from self._usable_token(request)
        _authorize(request, token)
        response = yield request
        if response.status_code != 401:
            return
        logger.info(
            "the tenant answered 401 to {} {}; renewing the OAuth token once",
            request.method,
            request.url.path,
        )
        token = yield from self._renewed_token(request, token)
        counted_as = request.extensions.get(COUNTED_AS, f"{request.method} {request.url.path}")
        self.calls.tally(str(counted_as))
        _authorize(request, token)
        yield request  # a second 401 is the Sender's AuthenticationError

    def _usable_token(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, _Token]:
        """The cached token while fresh, else a new one (one fetch however many threads ask)."""
        token = self._token
        if token is not None and token.fresh(self._clock.now()):
            return token
        with self._lock:
            token = self._token
            if token is not None and token.fresh(self._clock.now()):
                return token  # another thread fetched it while this one waited
            return (yield from self._fetch(request))

    def _renewed_token(
        self, request: httpx.Request, refused: _Token
    ) -> Generator[httpx.Request, httpx.Response, _Token]:
        """A token other than ``refused``: another thread's newer one, or a new fetch."""
        with self._lock:
            token = self._token
            if token is not None and token is not refused:
                return token
            return (yield from self._fetch(request))

    def _fetch(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, _Token]:
        self.calls.tally(TOKEN_ENDPOINT)
        sent_at = self._clock.now()
        response = yield self._token_request(request)
        self._token = self._read_token(response, sent_at)
        logger.debug(
            "new OAuth token for client {}; renewed from {}", self.client_id, self._token.refresh_at
        )
        return self._token

    @property
    def client_id(self) -> str:
        """The OAuth client's id (not a secret; named in error messages)."""
        return self._credentials.client_id

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        """``POST /oauth/token`` with the original request's timeouts and user agent."""
        body = {
            "client_id": self.client_id,
            "client_secret": self._credentials.client_secret.get_secret_value(),
            "grant_type": "client_credentials",
        }
        headers = {"Accept": "application/json"}
        if "User-Agent" in request.headers:
            headers["User-Agent"] = request.headers["User-Agent"]
        extensions = (
            {"timeout": request.extensions["timeout"]} if "timeout" in request.extensions else {}
        )
        return httpx.Request(
            "POST", self._token_url, json=body, headers=headers, extensions=extensions
        )

    def _read_token(self, response: httpx.Response, sent_at: datetime) -> _Token:
        """The token of a 200 answer; refusals are ``AuthenticationError`` naming the client id."""
        if response.status_code in REFUSED:
            raise AuthenticationError(self._refusal(response))
        if response.status_code == 429:
            # Never a RateLimitedError: on POST /api/v1/reloads that would read as "pending".
            raise TransientError(f"{TOKEN_ENDPOINT} answered 429: the token endpoint is busy")
        if not response.is_success:
            raise_for_answer(response, TOKEN_ENDPOINT)  # 5xx are retried as usual
        answer = parse_json(response, _TokenAnswer, TOKEN_ENDPOINT)
        if not answer.access_token.get_secret_value():
            raise BadResponseError(f"{TOKEN_ENDPOINT}: empty access_token")
        return _Token(answer.access_token, _refresh_at(_expiry(answer, sent_at), sent_at))

    def _refusal(self, response: httpx.Response) -> str:
        detail = error_detail(response)
        said = f"{detail.code}: {detail.title}"
        secret = self._credentials.client_secret.get_secret_value()
        if secret:
            said = said.replace(secret, MASK)  # should the tenant ever echo it
        return (
            f"{TOKEN_ENDPOINT} refused OAuth client {self.client_id!r} "
            f"({response.status_code} {said}); check client_id and client_secret"
        )


def _authorize(request: httpx.Request, token: _Token) -> None:
    request.headers["Authorization"] = f"Bearer {token.value.get_secret_value()}"


def _expiry(answer: _TokenAnswer, sent_at: datetime) -> datetime | None:
    """``expires_at``, else ``expires_in`` from when the token was asked for, else None.

    An ``expires_at`` already past when the token was asked for (a skewed clock or a bogus
    value) is not trusted: renewing before every call would spend the token endpoint's limit.
    """
    if answer.expires_at:
        expires = _parse_expires_at(answer.expires_at)
        if expires > sent_at:
            return expires
        logger.warning("OAuth token expires_at {} is already past; not trusted", answer.expires_at)
    if answer.expires_in is not None and answer.expires_in > 0:
        return sent_at + timedelta(seconds=answer.expires_in)
    return None


def _parse_expires_at(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError as error:
        raise BadResponseError(f"{TOKEN_ENDPOINT}: expires_at: {error}") from None


def _refresh_at(expires: datetime | None, now: datetime) -> datetime:
    """60 s before expiry, or half-way for a shorter-lived token; never, if no expiry is told."""
    if expires is None:
        return NEVER  # kept until the tenant answers 401
    return expires - min(REFRESH_EARLY, max(expires - now, timedelta(0)) / 2)


def make_auth(
    tenant_url: str,
    credentials: Credentials,
    calls: CallCounter | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> httpx.Auth:
    """The httpx ``Auth`` for an API key or an OAuth client (whose token cache reads ``clock``)."""
    if isinstance(credentials, ClientCredentials):
        return OAuthClientCredentials(tenant_url, credentials, calls=calls, clock=clock)
    return ApiKeyAuth(credentials)

"""One HTTP exchange with the tenant: counting, retrying reads, and mapping errors.

Everything below the tenant client's methods goes through ``Sender.send``, so every call is
counted per endpoint, asks the budget first, is bounded in total time, and every httpx or JSON
failure becomes a ``qlik.errors`` exception.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from loguru import logger
from pydantic import BaseModel, ValidationError

from qlik.budget import Budget
from qlik.clock import SYSTEM_CLOCK, Clock
from qlik.deadline import exchange
from qlik.errors import (
    ApiError,
    AuthenticationError,
    BadResponseError,
    QlikError,
    RateLimitedError,
    TransientError,
    UnreachableTenantError,
)
from qlik.limits import RateLimiter, RateLimits
from qlik.models import ErrorBody
from qlik.network import unreachable_reason
from qlik.tiers import TierGate, tier_of

MAX_RETRY_AFTER_S = 60.0
COUNTED_AS = "reload_chain.counted_as"  # request extension: the endpoint a call is counted under

ModelT = TypeVar("ModelT", bound=BaseModel)


class CallCounter(Counter[str]):
    """Calls per ``METHOD /path``, counted safely from the client's concurrent threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def tally(self, endpoint: str) -> None:
        """Count one call of ``endpoint``."""
        with self._lock:
            self[endpoint] += 1


class Sender:
    """Sends requests for the tenant client; read retries back off with jitter.

    ``budget`` is asked before every call and does every wait (backoff, blocked tiers, the
    limiter); ``timeout_s`` bounds each exchange as a whole; ``clock`` times the budget, the
    blocked tiers and the limiter. ``sleep`` replaces the budget's
    real wait (tests record waits with it); the budget is still asked before and after.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] | None = None,
        gate: TierGate | None = None,
        limiter: RateLimiter | None = None,
        limits: RateLimits | None = None,
        budget: Budget | None = None,
        timeout_s: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.http = http
        self.calls = CallCounter()
        # 429 answers received, by endpoint: the tenant's rate limits and pending starts alike.
        self.rate_limited = CallCounter()
        self.budget = budget or Budget(clock.monotonic)
        self._retries = retries
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._wait = self.budget.sleep if sleep is None else _asking(self.budget, sleep)
        self._gate = gate or TierGate(clock=clock.monotonic, sleep=self._wait)
        self.limiter = limiter or RateLimiter(limits, clock=clock.monotonic, sleep=self._wait)

    def send(
        self,
        endpoint: str,
        method: str,
        url: str,
        *,
        before_send: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send once or, for reads, until it succeeds or the retries are spent.

        ``before_send`` runs right before each attempt goes out, after every wait (slot, tier
        block): what it raises stops the call unsent. Starts use it to re-check their lease.

        ``OutOfTimeError`` (a ``NotSentError``) when the budget refuses a call or a wait, and
        ``SlotUnavailableError`` (another) when a start finds no rate-limit slot within its
        slot wait (``qlik.limits.START_SLOT_WAIT_S``): that attempt never reached the tenant.
        An exchange that outlives ``timeout_s`` fails like a network timeout:
        ``TransientError``, retried for reads, uncertain for writes.
        """
        target = self._on_tenant(url)
        for attempt in range(self._retries + 1):
            answer = self._attempt(endpoint, method, target, before_send, **kwargs)
            if isinstance(answer, httpx.Response):
                return answer
            failure = answer
            if attempt == self._retries or _too_long_to_wait(failure):
                raise failure
            self._pause(endpoint, attempt, failure)
        raise AssertionError("unreachable")

    def _attempt(
        self,
        endpoint: str,
        method: str,
        url: str | httpx.URL,
        before_send: Callable[[], None] | None,
        **kwargs: Any,
    ) -> httpx.Response | QlikError:
        """The answer, or the failure to retry; failures that must not be retried are raised."""
        try:
            return self._send_once(endpoint, method, url, before_send, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            unreachable = unreachable_reason(error, self.http.base_url.host or str(url))
            if unreachable is not None:
                raise UnreachableTenantError(unreachable) from None
            # Nothing reached the tenant, so even a POST may be repeated.
            return TransientError(f"{endpoint}: cannot connect: {error}")
        except (TransientError, RateLimitedError) as error:
            if method != "GET":
                raise
            return error
        except httpx.TransportError as error:
            if method != "GET":
                raise TransientError(f"{endpoint}: {type(error).__name__}") from None
            return TransientError(f"{endpoint}: {type(error).__name__}: {error}")
        except httpx.HTTPError as error:
            # An answer arrived but could not be read (bad encoding, ...): no retry helps.
            raise BadResponseError(f"{endpoint}: {type(error).__name__}: {error}") from None

    def _send_once(
        self,
        endpoint: str,
        method: str,
        url: str | httpx.URL,
        before_send: Callable[[], None] | None,
        **kwargs: Any,
    ) -> httpx.Response:
        tier = tier_of(method, endpoint)
        counted_as = f"{method} {endpoint}"
        # The label lets the auth layer count a resend under the same endpoint.
        extensions = {COUNTED_AS: counted_as}
        # The slot first, then the tier's block: a 429 may block the tier while a call waits
        # for a slot, and the call must still wait that out.
        self.limiter.acquire(tier)
        try:
            self._gate.wait(tier)
            self.budget.check(counted_as)
            if before_send is not None:
                before_send()
            self.calls.tally(counted_as)
            with exchange(self._timeout_s):
                response = self.http.request(method, url, extensions=extensions, **kwargs)
        finally:
            self.limiter.release(tier)
        if response.status_code == 429:
            self.rate_limited.tally(counted_as)
        if response.status_code >= 400:
            try:
                raise_for_answer(response, f"{method} {endpoint}")
            except RateLimitedError as error:
                if error.told:  # a real rate limit; a pending-reload 429 blocks nothing
                    self._gate.block(tier, error.retry_after)
                raise
        return response

    def _pause(self, endpoint: str, attempt: int, failure: Exception) -> None:
        if isinstance(failure, RateLimitedError) and failure.told:
            return  # the tier gate waits out Retry-After before the next call of the tier
        self.budget.check(endpoint)  # stopping: say so rather than announce a retry
        delay = self._backoff_s * (2**attempt) * (0.5 + random.random())
        logger.warning("{}; retrying in {:.1f}s", failure, delay)
        self._wait(delay)

    def _on_tenant(self, url: str) -> str | httpx.URL:
        """A link's path and query on the tenant's own scheme, host and port.

        The bearer token goes to the tenant only, and never over a weaker scheme, whatever
        host spelling or scheme a ``links.next.href`` carries.
        """
        try:
            link = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise BadResponseError(f"unusable link {url!r}: {error}") from None
        if not link.scheme and not link.host:
            return url  # relative: httpx joins it to base_url
        return self.http.base_url.copy_with(raw_path=link.raw_path)


def _asking(budget: Budget, sleep: Callable[[float], None]) -> Callable[[float], None]:
    """``sleep``, refused by ``budget`` before it begins and after it ends."""

    def wait(seconds: float) -> None:
        budget.check("wait")
        sleep(seconds)
        budget.check("wait")

    return wait


def _too_long_to_wait(failure: QlikError) -> bool:
    """A Retry-After beyond the cap: give up now and leave the work for the next sweep."""
    return isinstance(failure, RateLimitedError) and failure.retry_after > MAX_RETRY_AFTER_S


def raise_for_answer(response: httpx.Response, endpoint: str) -> None:
    """Map a 4xx/5xx answer to the project's error classes."""
    status = response.status_code
    if status >= 500:
        raise TransientError(f"{endpoint} answered {status}")
    if status == 429:
        told = "Retry-After" in response.headers
        raise RateLimitedError(f"{endpoint} answered 429", _retry_after(response), told=told)
    detail = error_detail(response)
    if status == 401:
        raise AuthenticationError(f"{endpoint} answered 401 {detail.code}: {detail.title}")
    raise ApiError(status, detail.code, detail.title, endpoint)


def error_detail(response: httpx.Response) -> Any:
    """The first entry of a Qlik ``errors`` body, or an empty one if the body is not that."""
    try:
        return ErrorBody.model_validate(response.json()).first
    except (ValueError, ValidationError):
        return ErrorBody().first


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def parse_json(response: httpx.Response, model: type[ModelT], endpoint: str) -> ModelT:
    """Validate a JSON answer against ``model``; a non-JSON answer is a ``BadResponseError``."""
    try:
        payload = response.json()
    except ValueError:
        kind = response.headers.get("content-type", "unknown content type")
        raise BadResponseError(f"{endpoint}: answer is not JSON ({kind})") from None
    return parse_model(payload, model, endpoint)


def parse_model(payload: Any, model: type[ModelT], endpoint: str) -> ModelT:
    """Validate decoded JSON against ``model``; a mismatch is a ``BadResponseError``."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        message = f"{endpoint}: unexpected answer at {where}: {first['msg']}"
        raise BadResponseError(message) from None

"""The program's error root, and the tenant client's errors, mapped at the boundary.

``ReloadChainError`` is the root of every error the program raises on purpose: each class
carries the exit code ``main()`` returns for it (SPEC section 5), so ``main()`` catches the root
alone. It lives here because ``qlik/`` is the bottom layer: ``state``, ``jobs`` and ``scheduler``
all import it, and it imports none of them.

Callers branch on the class, never on httpx or pydantic exceptions:

- ``RetryableError``: the work is left for the next sweep (network, 5xx, 429, unreadable answers).
  Its ``NotSentError`` branch says more: the request certainly never reached the tenant
  (``OutOfTimeError``: the sweep's time is spent, or ``StoppedError``: the program is stopping;
  ``SlotUnavailableError``: no reload-start slot under the rate limit within 60 s).
- ``AuthenticationError``: bad credentials; nothing can be done until the settings change.
- ``ApiError``: the tenant understood and refused; retrying will not help (exit code 2).
"""

from __future__ import annotations

from typing import ClassVar


class ReloadChainError(Exception):
    """Base of every error the program raises; ``exit_code`` is what ``main()`` returns for it.

    1: work failed and the next sweep retries it; 2: bad settings or authentication, nothing
    changed; 3: another sweep holds the lock or the lease.
    """

    exit_code: ClassVar[int] = 1
    # Set by whoever already logged it in its own words (an aborted sweep): main() then
    # prints nothing more, so an error is shown once.
    logged: bool = False


class QlikError(ReloadChainError):
    """Base of every error raised by the tenant client."""


class RetryableError(QlikError):
    """The call may succeed later; the work it served must be retried next sweep."""


class TransientError(RetryableError):
    """Network failure, timeout or 5xx answer."""


class NotSentError(RetryableError):
    """The request certainly did not reach the tenant: even a start may be made again later."""


class OutOfTimeError(NotSentError):
    """No new call was made: the sweep ran past ``max_sweep_minutes``, or it is stopping."""


class StoppedError(OutOfTimeError):
    """No new call was made because the program is stopping (Ctrl+C, SIGTERM)."""


class SlotUnavailableError(NotSentError):
    """No reload-start slot within 60 s under the rate limit: the start is left for the next sweep.

    ``wait_s``: how long the limiter could already tell the wait would be, at least.
    """

    def __init__(self, message: str, wait_s: float) -> None:
        super().__init__(message)
        self.wait_s = wait_s


class RateLimitedError(RetryableError):
    """The tenant answered 429 for a rate-limit tier; ``retry_after`` is in seconds."""

    def __init__(self, message: str, retry_after: float, *, told: bool = True) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.told = told  # False when the answer carried no Retry-After header


class BadResponseError(RetryableError):
    """The answer was not JSON or did not have the shape the OpenAPI spec promises."""


class AuthenticationError(QlikError):
    """401: the API key or OAuth client is wrong, expired or revoked."""

    exit_code = 2


class UnreachableTenantError(QlikError):
    """The tenant's host does not resolve, or its TLS certificate was refused: fix a setting.

    Exit 2 on a setup that never worked; a sweep whose database saw the tenant answer before
    reports it as transient instead (``jobs.sweep``): DNS and proxies have bad days too.
    """

    exit_code = 2


class ApiError(QlikError):
    """A 4xx answer other than 401/429: the tenant refused the request."""

    # On a read, a refusal means the request or the identity's permissions are wrong: fix settings.
    exit_code = 2

    def __init__(self, status: int, code: str, title: str, endpoint: str) -> None:
        super().__init__(f"{endpoint} answered {status} {code}: {title}")
        self.status = status
        self.code = code
        self.title = title

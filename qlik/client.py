"""The tenant client: every conversation reload-chain has with Qlik Cloud goes through here."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx
import truststore
from loguru import logger

from qlik.auth import Credentials, make_auth
from qlik.budget import Budget
from qlik.clock import SYSTEM_CLOCK, Clock
from qlik.deadline import bound_pools
from qlik.errors import ApiError, RateLimitedError
from qlik.fanout import ArgT, ResultT, fan_out
from qlik.limits import RateLimits
from qlik.models import PAGE_LIMIT, Item, Page, Reload, Space, Tag, User
from qlik.paging import PageGuard, TimeOrderedGuard
from qlik.reloads import LatestReloads, ReloadLookup, StartResult, refused_start
from qlik.tasks import TASKS, NativeTask, tasks_of_pages
from qlik.tiers import START_TIER
from qlik.times import format_time
from qlik.transport import Sender, parse_json, parse_model

ITEM_BATCH = 100
ITEM_TYPES = "app,script"


class QlikClient:
    """Typed access to the Qlik Cloud endpoints reload-chain uses, with per-endpoint counts."""

    def __init__(
        self, http: httpx.Client, sender: Sender | None = None, *, max_concurrency: int = 1
    ) -> None:
        self._sender = sender or Sender(http)
        self._max_concurrency = max_concurrency
        self._reloads = ReloadLookup(self._sender, self._pages, self._each)
        self._me: User | None = None

    @property
    def tenant_wide_listing(self) -> bool | None:
        """Whether this identity may list every reload of the tenant (None: not asked yet)."""
        return self._reloads.tenant_listing_allowed

    @property
    def max_concurrency(self) -> int:
        """How many independent calls this client makes at once."""
        return self._max_concurrency

    @property
    def rate_limits(self) -> RateLimits:
        """The limits the client paces its calls under."""
        return self._sender.limiter.limits

    @property
    def budget(self) -> Budget:
        """The sweep's time and stop switch: every call and wait of this client asks it."""
        return self._sender.budget

    @property
    def calls(self) -> dict[str, int]:
        """API calls made so far, by ``METHOD /path`` (retries included)."""
        return dict(self._sender.calls)

    @property
    def rate_limited(self) -> int:
        """429 answers received so far: rate limits and "a reload is already pending" alike."""
        return sum(self._sender.rate_limited.values())

    def seed_starts(self, ages_s: Iterable[float]) -> None:
        """Count the reload starts made in the last 5 minutes, ``ages_s`` seconds ago each.

        Qlik's start budget spans processes: a sweep seeds the limiter with the ledger's starts
        (this process's included: none is counted twice) before it starts anything. Never
        raises; ages of 5 minutes or more are ignored.
        """
        self._sender.limiter.seed(START_TIER, ages_s)

    def close(self) -> None:
        """Close the underlying HTTP connection pool."""
        self._sender.http.close()

    def _pages(
        self, endpoint: str, params: dict[str, Any], guard: PageGuard | None = None
    ) -> Iterator[Page]:
        """Every page of a listing; ``guard`` (by default a ``PageGuard``) vets each next link."""
        guard = guard or PageGuard(f"GET {endpoint}")
        response = self._sender.send(endpoint, "GET", endpoint, params=params)
        while True:
            page = parse_json(response, Page, f"GET {endpoint}")
            yield page
            if not page.next_url or not page.data:
                return
            guard.follow(page, page.next_url)
            response = self._sender.send(endpoint, "GET", page.next_url)

    def audit_event_pages(
        self, event_type: str, start: datetime, end: datetime
    ) -> Iterator[list[Any]]:
        """Yield pages of raw audit events of ``event_type`` in [start, end], oldest first.

        ``BadResponseError`` when the next links stop advancing in event time (or repeat).
        """
        params = {
            "eventType": event_type,
            "eventTime": f"{format_time(start)}/{format_time(end)}",
            "sort": "+eventTime",
            "limit": PAGE_LIMIT,
        }
        guard = TimeOrderedGuard("GET /api/v1/audits")
        for page in self._pages("/api/v1/audits", params, guard):
            yield page.data

    def items(self, resource_ids: Iterable[str]) -> dict[str, Item]:
        """Apps and scripts by id (``resourceId``), 100 per call; missing ids are absent."""
        wanted = sorted(set(resource_ids))
        batches = [wanted[at : at + ITEM_BATCH] for at in range(0, len(wanted), ITEM_BATCH)]
        found: dict[str, Item] = {}
        for batch_items in self._each(self._item_batch, batches):
            found |= batch_items
        return found

    def _item_batch(self, batch: list[str]) -> dict[str, Item]:
        params = {"resourceType": ITEM_TYPES, "resourceIds": ",".join(batch), "limit": PAGE_LIMIT}
        found: dict[str, Item] = {}
        for page in self._pages("/api/v1/items", params):
            for row in page.data:
                item = parse_model(row, Item, "GET /api/v1/items")
                found[item.resource_id.lower()] = item
        return found

    def spaces(self, space_ids: Iterable[str]) -> dict[str, Space]:
        """Spaces by id, asked concurrently; spaces that do not exist (or are hidden) are absent."""
        wanted = sorted(set(space_ids))
        found = zip(wanted, self._each(self.space, wanted), strict=True)
        return {space_id: space for space_id, space in found if space is not None}

    def latest_reload_each(self, app_ids: Iterable[str]) -> dict[str, Reload | None]:
        """Each app's newest reload however old (None if it never reloaded), asked concurrently."""
        wanted = sorted(set(app_ids))
        return dict(zip(wanted, self._each(self.latest_reload, wanted), strict=True))

    def _each(self, call: Callable[[ArgT], ResultT], args: Iterable[ArgT]) -> list[ResultT]:
        return fan_out(call, args, self._max_concurrency)

    def tags_named(self, name: str) -> list[Tag]:
        """The tags (public collections) called ``name``; the API's name search is not exact."""
        params = {"type": "public", "name": name, "limit": PAGE_LIMIT}
        return [
            tag
            for page in self._pages("/api/v1/collections", params)
            for row in page.data
            if (tag := parse_model(row, Tag, "GET /api/v1/collections")).name.lower()
            == name.lower()
        ]

    def latest_reloads(
        self, app_ids: Iterable[str], created_since: datetime
    ) -> dict[str, Reload | None]:
        """Each app's newest reload created since ``created_since``, or its active one (else None).

        Uses one tenant-wide listing when the identity is a tenant admin (plus one listing of
        active reloads when some app has no recent reload), else one call per app.
        """
        return self._reloads.latest_reloads(app_ids, created_since)

    def latest_reloads_since(
        self, horizons: Mapping[str, datetime], *, count_active_up_to: int | None = None
    ) -> LatestReloads:
        """Each app's newest reload created since its own horizon, or its active one (else None);
        with ``count_active_up_to``, also the tenant's active reloads counted up to that many.

        See ``ReloadLookup.latest_since``: the listing stops at each app's horizon.
        """
        return self._reloads.latest_since(horizons, count_active_up_to=count_active_up_to)

    def latest_reload(self, app_id: str) -> Reload | None:
        """The app's newest reload, however old, or None if it never reloaded."""
        return self._reloads.latest_reload(app_id)

    def newest_reloads(self, app_id: str, limit: int) -> list[Reload]:
        """The app's ``limit`` newest reloads, newest first, in one call."""
        return self._reloads.newest_reloads(app_id, limit)

    def space(self, space_id: str) -> Space | None:
        """A space's facts, or None when it does not exist (or is not visible)."""
        endpoint = "/api/v1/spaces/{spaceId}"
        try:
            response = self._sender.send(endpoint, "GET", f"/api/v1/spaces/{space_id}")
        except ApiError as error:
            if error.status in (403, 404):
                return None
            raise
        return parse_json(response, Space, f"GET {endpoint}")

    def tags(self) -> list[Tag]:
        """Every tag of the tenant (public collections)."""
        params = {"type": "public", "limit": PAGE_LIMIT}
        return [
            parse_model(row, Tag, "GET /api/v1/collections")
            for page in self._pages("/api/v1/collections", params)
            for row in page.data
        ]

    def items_tagged(self, tag_id: str) -> list[Item]:
        """Apps and scripts carrying one tag."""
        params = {"collectionId": tag_id, "resourceType": ITEM_TYPES, "limit": PAGE_LIMIT}
        return [
            parse_model(row, Item, "GET /api/v1/items")
            for page in self._pages("/api/v1/items", params)
            for row in page.data
        ]

    def native_tasks(self) -> list[NativeTask] | None:
        """Every native reload task the identity may see (tier 1, paged), or None when it may
        not list them: 403, or 404 from a tenant without the scheduling-tasks API."""
        try:
            # Oldest first: a task updated while the pages are read stays where it was (the
            # default, -updatedAt, would move it to a page already read).
            params = {"limit": PAGE_LIMIT, "sort": "+createdAt"}
            return tasks_of_pages(self._pages(TASKS, params))
        except ApiError as error:
            if error.status in (403, 404):
                return None
            raise

    def current_user(self) -> User:
        """Who the credentials belong to; ``/users/me`` answers with a redirect to the user."""
        if self._me is None:
            endpoint = "/api/v1/users/me"
            response = self._sender.send(endpoint, "GET", endpoint)
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("Location", "")
                response = self._sender.send("/api/v1/users/{userId}", "GET", location)
            self._me = parse_json(response, User, f"GET {endpoint}")
        return self._me

    def add_space_member(self, space_id: str, user_id: str, roles: list[str]) -> bool:
        """Assign a user to a space; False if the user was already assigned (409)."""
        endpoint = "/api/v1/spaces/{spaceId}/assignments"
        body = {"type": "user", "assigneeId": user_id, "roles": roles}
        try:
            self._sender.send(endpoint, "POST", f"/api/v1/spaces/{space_id}/assignments", json=body)
        except ApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    def start_reload(
        self, app_id: str, before_send: Callable[[], None] | None = None
    ) -> StartResult:
        """``POST /api/v1/reloads``; a 429 here means a reload is already pending.

        ``before_send`` runs right before the request goes out (see ``Sender.send``).
        """
        endpoint = "/api/v1/reloads"
        try:
            response = self._sender.send(
                endpoint, "POST", endpoint, before_send=before_send, json={"appId": app_id}
            )
        except RateLimitedError as error:
            if error.told:
                # The start budget (Retry-After): a real rate limit, so the start is retried later.
                raise
            # Without Retry-After, 429 from this endpoint means a reload is already pending.
            return StartResult("pending", detail="a reload is already pending")
        except ApiError as error:
            return refused_start(error)
        return StartResult("started", parse_json(response, Reload, f"POST {endpoint}"))


def os_trust_store() -> ssl.SSLContext:
    """A TLS context that verifies against the operating system's certificate store."""
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def connect(
    tenant_url: str,
    credentials: Credentials,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout_s: float = 30.0,
    sender_options: dict[str, Any] | None = None,
    max_concurrency: int = 1,
    rate_limits: RateLimits | None = None,
    budget: Budget | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> QlikClient:
    """A client for one tenant with an API key or OAuth client; tests pass a ``transport``.

    ``timeout_s`` bounds each exchange as a whole (connect, send, headers, body), not each
    read; ``budget`` (default: no deadline) is asked before every call and ends calls in flight
    when stopped. OAuth token fetches go through this same client, counted as ``POST /oauth/token``;
    ``clock`` is the program's one clock (the token cache, the limiter, the budget).
    """
    http = httpx.Client(
        base_url=tenant_url,
        transport=transport,
        # The OS certificate store, not certifi's bundle: a corporate CA that inspects TLS is
        # trusted where the administrator put it. HTTPS_PROXY and NO_PROXY are honoured.
        verify=os_trust_store(),
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        headers={"User-Agent": "reload-chain", "Accept": "application/json"},
        follow_redirects=False,
    )
    own: dict[str, Any] = {
        "limits": rate_limits,
        "budget": budget,
        "timeout_s": timeout_s,
        "clock": clock,
    }
    sender = Sender(http, **(own | (sender_options or {})))
    if transport is None and not bound_pools(http, sender.budget):
        logger.warning("httpx changed: each read is bounded, but not the total time of an answer")
    http.auth = make_auth(tenant_url, credentials, sender.calls, clock)
    return QlikClient(http, sender, max_concurrency=max_concurrency)

"""The latest reloads of apps, with as few calls as the identity's permissions allow.

A tenant admin may list every reload of the tenant: one listing, newest first, answers for all
apps at once. Anyone else asks per app (concurrently, through the client's fan-out). Also what
``POST /api/v1/reloads`` answered, in the program's terms (``StartResult``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from loguru import logger

from qlik.errors import ApiError
from qlik.models import PAGE_LIMIT, Page, Reload
from qlik.transport import Sender, parse_json, parse_model

# SCIM filter (RFC 7644) of the reloads listing: the statuses of ``Reload.is_active``.
ACTIVE_FILTER = '(status eq "QUEUED" or status eq "RELOADING" or status eq "CANCELING")'

StartKind = Literal["started", "pending", "forbidden", "quota", "not_found"]


@dataclass(frozen=True)
class StartResult:
    """What ``POST /api/v1/reloads`` answered, in the program's terms."""

    kind: StartKind
    reload: Reload | None = None
    detail: str = ""


PagesOf = Callable[[str, dict[str, Any]], Iterator[Page]]
EachApp = Callable[[Callable[[str], Reload | None], Iterable[str]], list[Reload | None]]


class ReloadLookup:
    """Latest reloads by app; remembers whether the tenant-wide listing is allowed."""

    def __init__(self, sender: Sender, pages: PagesOf, each: EachApp) -> None:
        self._sender = sender
        self._pages = pages
        self._each = each
        self.tenant_listing_allowed: bool | None = None  # None: not asked yet

    def latest_reloads(
        self, app_ids: Iterable[str], created_since: datetime
    ) -> dict[str, Reload | None]:
        """Each app's newest reload created since ``created_since``, or its active one (else None).

        Uses one tenant-wide listing when the identity is a tenant admin (plus one listing of
        active reloads when some app has no recent reload), else one call per app.
        """
        wanted = {app_id.lower() for app_id in app_ids}
        if not wanted:
            return {}
        if self.tenant_listing_allowed is not False:
            try:
                latest = self._latest_from_tenant_listing(wanted, created_since)
            except ApiError as error:
                if error.status not in (400, 403):
                    raise
                logger.info("tenant-wide reload listing not allowed ({}); asking per app", error)
                self.tenant_listing_allowed = False
            else:
                self.tenant_listing_allowed = True
                return latest
        apps = sorted(wanted)
        each = self._each(lambda app_id: self._latest_for_app(app_id, created_since), apps)
        return dict(zip(apps, each, strict=True))

    def _latest_from_tenant_listing(
        self, wanted: set[str], created_since: datetime
    ) -> dict[str, Reload | None]:
        latest = self._newest_in_listing(wanted, created_since)
        result = {app_id: _if_recent(reload, created_since) for app_id, reload in latest.items()}
        missing = {app_id for app_id, reload in result.items() if reload is None}
        if missing:
            # A long reload created before ``created_since`` is still running: not in the listing.
            result |= self._active_reloads(missing)
        return result

    def _newest_in_listing(
        self, wanted: set[str], created_since: datetime
    ) -> dict[str, Reload | None]:
        """Newest first, until every wanted app has a reload or ``created_since`` is passed."""
        latest: dict[str, Reload | None] = dict.fromkeys(wanted)
        params = {"limit": PAGE_LIMIT, "sort": "-creationTime"}
        for reloads in self._reload_pages(params):
            for reload in reloads:
                app_id = reload.app_id.lower()
                if app_id in wanted and latest[app_id] is None:
                    latest[app_id] = reload
            everyone_found = all(reload is not None for reload in latest.values())
            if everyone_found or not reloads or reloads[-1].creation_time < created_since:
                break
        return latest

    def _active_reloads(self, apps: set[str]) -> dict[str, Reload]:
        """One tenant-wide listing of queued, reloading and canceling reloads, for ``apps``."""
        found: dict[str, Reload] = {}
        for reloads in self._reload_pages({"limit": PAGE_LIMIT, "filter": ACTIVE_FILTER}):
            for reload in reloads:
                app_id = reload.app_id.lower()
                if app_id in apps and reload.is_active:
                    found.setdefault(app_id, reload)
            if set(found) == apps:
                break
        return found

    def _reload_pages(self, params: dict[str, Any]) -> Iterator[list[Reload]]:
        for page in self._pages("/api/v1/reloads", params):
            yield [parse_model(row, Reload, "GET /api/v1/reloads") for row in page.data]

    def _latest_for_app(self, app_id: str, created_since: datetime) -> Reload | None:
        return _if_recent(self.latest_reload(app_id), created_since)

    def latest_reload(self, app_id: str) -> Reload | None:
        """The app's newest reload, however old, or None if it never reloaded."""
        params = {"appId": app_id, "limit": 1, "sort": "-creationTime"}
        response = self._sender.send("/api/v1/reloads", "GET", "/api/v1/reloads", params=params)
        page = parse_json(response, Page, "GET /api/v1/reloads")
        if not page.data:
            return None
        return parse_model(page.data[0], Reload, "GET /api/v1/reloads")


def _if_recent(reload: Reload | None, created_since: datetime) -> Reload | None:
    """The reload if it was created since ``created_since`` or is still active, else None."""
    if reload is None or reload.creation_time >= created_since or reload.is_active:
        return reload
    return None


def refused_start(error: ApiError) -> StartResult:
    """A start the tenant refused, in the program's terms; other refusals are raised."""
    if error.status == 403 and error.code == "RELOADS-013":
        return StartResult("quota", detail=f"{error.code}: {error.title}")
    if error.status == 403:
        return StartResult("forbidden", detail=f"{error.code}: {error.title}")
    if error.status == 404:
        return StartResult("not_found", detail=f"{error.code}: {error.title}")
    raise error

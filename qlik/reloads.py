"""The latest reloads of apps, with as few calls as the identity's permissions allow.

A tenant admin may list every reload of the tenant: one listing, newest first, answers for all
apps at once, read only as far back as each app's own horizon (reloads created before it
cannot change that app's decision). Reloads still active are found however old, by a listing
of active reloads that starts, oldest first, and stops where the main listing stopped. Anyone
else asks per app (concurrently, through the client's fan-out). Also what
``POST /api/v1/reloads`` answered, in the program's terms (``StartResult``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class LatestReloads:
    """Each app's newest reload created since its horizon, or its active one (else None).

    ``active``: reloads active in the whole tenant (QUEUED, RELOADING, CANCELING), counted
    until the limit asked for is reached (a count at or above it: the tenant is full); None
    when not asked, or when this identity may not list the tenant's reloads.
    """

    latest: dict[str, Reload | None]
    active: int | None = None


@dataclass
class _Seen:
    """How far the newest-first listing went, and what it saw."""

    newest: dict[str, Reload] = field(default_factory=dict)  # each asked app's first row
    active: list[Reload] = field(default_factory=list)  # every active row, of any app
    oldest: datetime | None = None  # creation time of the last row read
    complete: bool = False  # every reload of the tenant was read

    def active_after(self, until: datetime | None) -> set[str]:
        """Ids of the active reloads seen that were created after ``until``."""
        return {r.id for r in self.active if until is None or r.creation_time > until}


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

        ``latest_since`` with one horizon for every app.
        """
        return self.latest_since(dict.fromkeys(app_ids, created_since)).latest

    def latest_since(
        self, horizons: Mapping[str, datetime], *, count_active_up_to: int | None = None
    ) -> LatestReloads:
        """Each app's newest reload created since its own horizon, or its active one (else None).

        A tenant admin reads one listing, newest first, until every app has a reload or the
        listing is past that app's horizon; then, oldest first, the active reloads created
        before where it stopped (a long reload may still be queued or running), for the apps
        with none and, with ``count_active_up_to``, to count the tenant's active reloads up
        to that many. Anyone else: one call per app, and no count.
        """
        wanted: dict[str, datetime] = {}
        for app_id, since in horizons.items():
            key = app_id.lower()
            wanted[key] = min(since, wanted.get(key, since))
        if not wanted and count_active_up_to is None:
            return LatestReloads({})
        if self.tenant_listing_allowed is not False:
            try:
                found = self._from_tenant_listing(wanted, count_active_up_to)
            except ApiError as error:
                if error.status not in (400, 403):
                    raise
                logger.info("tenant-wide reload listing not allowed ({}); asking per app", error)
                self.tenant_listing_allowed = False
            else:
                self.tenant_listing_allowed = True
                return found
        if count_active_up_to is not None:
            logger.warning(
                "max_active_reloads is not applied: this identity may not list the tenant's "
                "reloads, so the active ones cannot be counted (a tenant admin's can)"
            )
        return LatestReloads(self._per_app(wanted))

    def _per_app(self, horizons: dict[str, datetime]) -> dict[str, Reload | None]:
        def latest(app_id: str) -> Reload | None:
            return _if_recent(self.latest_reload(app_id), horizons[app_id])

        apps = sorted(horizons)
        return dict(zip(apps, self._each(latest, apps), strict=True))

    def _from_tenant_listing(
        self, horizons: dict[str, datetime], count_up_to: int | None
    ) -> LatestReloads:
        seen = self._newest_first(horizons) if horizons else _Seen()
        latest = {app: _if_recent(seen.newest.get(app), h) for app, h in horizons.items()}
        latest |= _first_of(seen.active, {app for app, reload in latest.items() if not reload})
        missing = {app_id for app_id, reload in latest.items() if reload is None}
        if seen.complete:
            counted = {reload.id for reload in seen.active}
            return LatestReloads(latest, None if count_up_to is None else len(counted))
        newer = seen.active_after(seen.oldest)
        enough = None if count_up_to is None else count_up_to - len(newer)
        if not missing and (enough is None or enough <= 0):
            return LatestReloads(latest, None if count_up_to is None else len(newer))
        older, ids = self._active_until(seen.oldest, missing, enough)
        latest |= older
        return LatestReloads(latest, None if count_up_to is None else len(newer | ids))

    def _newest_first(self, horizons: dict[str, datetime]) -> _Seen:
        """Newest first, until every app has a reload or the listing is past its horizon."""
        seen, unresolved = _Seen(), dict(horizons)
        for reloads in self._reload_pages({"limit": PAGE_LIMIT, "sort": "-creationTime"}):
            for reload in reloads:
                if unresolved.pop(reload.app_id.lower(), None) is not None:
                    seen.newest[reload.app_id.lower()] = reload
                if reload.is_active:
                    seen.active.append(reload)
            if not reloads:
                break
            seen.oldest = reloads[-1].creation_time
            if not unresolved or seen.oldest < min(unresolved.values()):
                return seen
        seen.complete = True
        return seen

    def _active_until(
        self, until: datetime | None, apps: set[str], enough: int | None
    ) -> tuple[dict[str, Reload], set[str]]:
        """Active reloads created up to ``until`` (None: all), oldest first: the first of each
        of ``apps``, and the ids read. Stops past ``until`` (the newest-first listing saw the
        rest), or once each app has one and ``enough`` ids are read (None: no count wanted)."""
        params = {"limit": PAGE_LIMIT, "filter": ACTIVE_FILTER, "sort": "+creationTime"}
        first: dict[str, Reload] = {}
        ids: set[str] = set()
        for reloads in self._reload_pages(params):
            for reload in reloads:
                if until is not None and reload.creation_time > until:
                    return first, ids
                if reload.is_active:
                    ids.add(reload.id)
                    if reload.app_id.lower() in apps:
                        first.setdefault(reload.app_id.lower(), reload)
            if len(first) == len(apps) and (enough is None or len(ids) >= enough):
                break
        return first, ids

    def _reload_pages(self, params: dict[str, Any]) -> Iterator[list[Reload]]:
        for page in self._pages("/api/v1/reloads", params):
            yield [parse_model(row, Reload, "GET /api/v1/reloads") for row in page.data]

    def latest_reload(self, app_id: str) -> Reload | None:
        """The app's newest reload, however old, or None if it never reloaded."""
        newest = self.newest_reloads(app_id, 1)
        return newest[0] if newest else None

    def newest_reloads(self, app_id: str, limit: int) -> list[Reload]:
        """The app's ``limit`` newest reloads, newest first (one call)."""
        params = {"appId": app_id, "limit": limit, "sort": "-creationTime"}
        response = self._sender.send("/api/v1/reloads", "GET", "/api/v1/reloads", params=params)
        page = parse_json(response, Page, "GET /api/v1/reloads")
        return [parse_model(row, Reload, "GET /api/v1/reloads") for row in page.data]


def _first_of(reloads: Iterable[Reload], apps: set[str]) -> dict[str, Reload]:
    """The first reload listed of each of ``apps`` that has one."""
    first: dict[str, Reload] = {}
    for reload in reloads:
        app_id = reload.app_id.lower()
        if app_id in apps:
            first.setdefault(app_id, reload)
    return first


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

"""A small stateful Qlik Cloud tenant behind respx, for sweep and CLI tests.

It answers the endpoints the sweep uses from in-memory apps, reloads and audit events, in the
shapes of the OpenAPI specs. (The full simulator, served over real HTTP, lives in simulator/.)
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import respx

from qlik.times import format_time, parse_time

TENANT = "https://tenant.example.qlikcloud.com"


def app_id(n: int) -> str:
    """A deterministic app GUID for test app number ``n``."""
    return f"00000000-0000-4000-8000-{n:012d}"


@dataclass
class FakeApp:
    id: str
    name: str
    tags: list[str] = field(default_factory=list)
    space_id: str | None = None


@dataclass
class FakeTenant:
    """Apps, spaces, reloads and audit events; ``now`` is moved by the test."""

    now: datetime
    base_url: str = TENANT
    apps: dict[str, FakeApp] = field(default_factory=dict)
    spaces: dict[str, str] = field(default_factory=dict)
    reloads: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    post_answers: dict[str, httpx.Response] = field(default_factory=dict)
    audits_answer: httpx.Response | None = None
    listing_answer: httpx.Response | None = None  # GET /api/v1/reloads answers this instead
    # Called with the app id when a start arrives, before the tenant acts on it.
    on_start: Callable[[str], None] | None = None
    tenant_listing: bool = True
    unauthorized: bool = False
    accept_then_fail: set[str] = field(default_factory=set)  # create the reload, answer 504
    # Native reload tasks as GET /api/scheduling/tasks lists them (raw Task objects).
    tasks: list[dict[str, Any]] = field(default_factory=list)
    tasks_answer: httpx.Response | None = None  # GET /api/scheduling/tasks answers this instead
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def add_app(self, n: int, tags: list[str] | None = None, space_id: str | None = None) -> str:
        """Add app number ``n``; tags like ``next-<id>``; returns its id."""
        new = FakeApp(app_id(n), f"App {n}", list(tags or []), space_id)
        self.apps[new.id] = new
        return new.id

    def finish(
        self, app: str, status: str = "ok", at: datetime | None = None, copies: int = 1
    ) -> str:
        """A reload of ``app`` ends at ``at`` (default now); ``copies`` > 1 repeats its event."""
        ended = at or self.now
        reload = self._reload(
            app, "SUCCEEDED" if status == "ok" else "FAILED", ended - timedelta(minutes=2)
        )
        reload |= {
            "startTime": format_time(ended - timedelta(minutes=2)),
            "endTime": format_time(ended),
        }
        for _ in range(copies):
            self.events.append(self.event(app, reload["id"], status, ended))
        return str(reload["id"])

    def age_reloads(self, by: timedelta) -> None:
        """Move every reload ``by`` into the past and finish the active ones successfully."""
        for reload in self.reloads:
            for key in ("creationTime", "startTime", "endTime"):
                if key in reload:
                    reload[key] = format_time(parse_time(reload[key]) - by)
            if reload["status"] in ("QUEUED", "RELOADING"):
                reload["status"] = "SUCCEEDED"

    def event(self, app: str, reload_id: str, status: str, ended: datetime) -> dict[str, Any]:
        """A ``com.qlik.v1.app.reload.finished`` audit event as the audits API returns it."""
        return {
            "id": f"evt-{next(self._ids)}",
            "eventType": "com.qlik.v1.app.reload.finished",
            "eventTypeVersion": "1.0.0",
            "eventTime": format_time(ended),
            "source": "com.qlik/engine",
            "tenantId": "tenant-1",
            "userId": "user-1",
            "extensions": {"topLevelResourceId": app},
            "data": {
                "reloadId": reload_id,
                "status": status,
                "endTime": format_time(ended),
                "isPartialReload": False,
            },
        }

    def install(self, router: respx.MockRouter) -> None:
        """Register the tenant's routes on a respx router."""
        routes = [
            (router.get("/api/v1/audits"), self._audits),
            (router.get("/api/v1/items"), self._items),
            (router.get("/api/v1/collections"), self._collections),
            (router.get("/api/v1/reloads"), self._list_reloads),
            (router.post("/api/v1/reloads"), self._start),
            (router.get(url__regex=r"/api/v1/spaces/(?P<space>[^/]+)$"), self._space),
            (router.get("/api/v1/users/me"), self._me),
            (router.get("/api/scheduling/tasks"), self._tasks),
        ]
        for route, handler in routes:
            route.mock(side_effect=self._authorized(handler))

    def _authorized(self, handler: Callable[..., httpx.Response]) -> Callable[..., httpx.Response]:
        """With ``unauthorized`` set, every call answers 401 instead."""

        def answer(request: httpx.Request, **kwargs: Any) -> httpx.Response:
            if self.unauthorized:
                errors = [{"code": "HTTP-401", "title": "Unauthorized"}]
                return httpx.Response(401, json={"errors": errors, "traceId": "t-1"})
            return handler(request, **kwargs)

        return answer

    def _reload(
        self, app: str, status: str, created: datetime, user: str = "user-1"
    ) -> dict[str, Any]:
        reload = {
            "id": f"rld-{next(self._ids)}",
            "appId": app,
            "tenantId": "tenant-1",
            "userId": user,
            "type": "external",
            "status": status,
            "partial": False,
            "creationTime": format_time(created),
        }
        self.reloads.append(reload)
        return reload

    def _audits(self, request: httpx.Request) -> httpx.Response:
        if self.audits_answer is not None:
            return self.audits_answer
        query = _query(request)
        start, end = (parse_time(part) for part in query["eventTime"].split("/"))
        assert query["sort"] == "+eventTime"
        rows = [
            e
            for e in self.events
            if start <= parse_time(e["eventTime"]) <= end and e["eventType"] == query["eventType"]
        ]
        rows.sort(key=lambda e: parse_time(e["eventTime"]))
        return self._page(request, rows, int(query.get("limit", 10)))

    def _items(self, request: httpx.Request) -> httpx.Response:
        query = _query(request)
        if "collectionId" in query:
            tagged = [a for a in self.apps.values() if query["collectionId"] in _tag_ids(a)]
            return self._page(request, [self._item(a) for a in tagged], int(query["limit"]))
        wanted = query["resourceIds"].split(",")
        assert len(wanted) <= 100 and "app" in query["resourceType"].split(",")
        rows = [self._item(self.apps[i]) for i in wanted if i in self.apps]
        return httpx.Response(
            200, json={"data": rows, "links": {"self": {"href": str(request.url)}}}
        )

    def _collections(self, request: httpx.Request) -> httpx.Response:
        """Tags are collections of type ``public``; ``name`` matches like the tenant's search."""
        query = _query(request)
        assert query["type"] == "public"
        names = sorted({tag for app in self.apps.values() for tag in app.tags})
        if "name" in query:
            names = [name for name in names if query["name"].lower() in name.lower()]
        rows = [{"id": f"tag-{name}", "name": name, "type": "public"} for name in names]
        return self._page(request, rows, int(query.get("limit", 10)))

    def _item(self, app: FakeApp) -> dict[str, Any]:
        tags = [{"id": f"tag-{name}", "name": name} for name in app.tags]
        item = {
            "id": f"item-{app.id}",
            "name": app.name,
            "resourceId": app.id,
            "resourceType": "app",
            "meta": {"tags": tags, "collections": [], "actions": [], "isFavorited": False},
        }
        return item | ({"spaceId": app.space_id} if app.space_id else {})

    def _list_reloads(self, request: httpx.Request) -> httpx.Response:
        if self.listing_answer is not None:
            return self.listing_answer
        query = _query(request)
        if "appId" not in query and not self.tenant_listing:
            return httpx.Response(
                403, json={"errors": [{"code": "RELOADS-003", "title": "Forbidden"}]}
            )
        rows = [r for r in self.reloads if query.get("appId") in (None, r["appId"])]
        if "filter" in query:
            # Only what the client sends: (status eq "A" or status eq "B" ...).
            statuses = set(re.findall(r'status eq "([A-Z]+)"', query["filter"]))
            rows = [r for r in rows if r["status"] in statuses]
        rows.sort(key=lambda r: r["creationTime"], reverse=True)
        return self._page(request, rows, int(query.get("limit", 10)))

    def _tasks(self, request: httpx.Request) -> httpx.Response:
        if self.tasks_answer is not None:
            return self.tasks_answer
        return self._page(request, self.tasks, int(_query(request).get("limit", 20)))

    def _me(self, request: httpx.Request) -> httpx.Response:
        # The real tenant redirects to /users/{id}; the client reads a direct answer as well.
        return httpx.Response(200, json={"id": "user-1", "name": "Robot"})

    def _start(self, request: httpx.Request) -> httpx.Response:
        app = json.loads(request.content)["appId"]
        if self.on_start is not None:
            self.on_start(app)
        if app in self.post_answers:
            return self.post_answers[app]
        self.started.append(app)
        created = self._reload(app, "QUEUED", self.now)
        if app in self.accept_then_fail:
            return httpx.Response(504, text="gateway timeout")
        return httpx.Response(201, json=created)

    def _space(self, request: httpx.Request, space: str) -> httpx.Response:
        if space not in self.spaces:
            return httpx.Response(
                404, json={"errors": [{"code": "SPACES-404", "title": "Not found"}]}
            )
        body = {
            "id": space,
            "name": space,
            "type": self.spaces[space],
            "tenantId": "tenant-1",
            "links": {},
        }
        return httpx.Response(200, json=body)

    def _page(
        self, request: httpx.Request, rows: list[dict[str, Any]], limit: int
    ) -> httpx.Response:
        offset = int(_query(request).get("next", 0))
        links: dict[str, Any] = {"self": {"href": str(request.url)}}
        if offset + limit < len(rows):
            links["next"] = {"href": str(request.url.copy_set_param("next", offset + limit))}
        return httpx.Response(200, json={"data": rows[offset : offset + limit], "links": links})


def _tag_ids(app: FakeApp) -> set[str]:
    return {f"tag-{name}" for name in app.tags}


def _query(request: httpx.Request) -> dict[str, str]:
    return {key: values[-1] for key, values in parse_qs(urlsplit(str(request.url)).query).items()}


def age_intents(db: Any) -> None:
    """Time passes for the ledger: every start's in-flight window is long over.

    ``db`` is a sqlite-utils ``Database`` or a database file's path. Starts whose answer was
    lost count as in flight for twice their request deadline by the database's clock, which
    tests do not wait out.
    """
    import sqlite3

    connection = sqlite3.connect(db) if isinstance(db, str | Path) else db.conn
    connection.execute("update ledger set written_at = '2000-01-01T00:00:00.000Z'")
    connection.commit()
    if isinstance(db, str | Path):
        connection.close()

"""A tenant's reload listings behind respx, as Qlik documents them.

``ListingTenant`` answers ``GET /api/v1/reloads`` sorted by ``creationTime`` either way,
filtered by status, 100 a page, chained by ``next`` links; ``asked`` logs each request.
(``tests.fake_tenant`` always lists newest first, which the active listing must not get.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import respx
from pydantic import SecretStr

from qlik.client import QlikClient, connect
from qlik.reloads import ACTIVE_FILTER
from qlik.times import format_time
from tests.fake_tenant import TENANT, app_id

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ACTIVE = ("QUEUED", "RELOADING", "CANCELING")


@dataclass
class ListingTenant:
    """Reloads of a tenant, served newest or oldest first; ``asked`` logs each request's kind."""

    reloads: list[dict[str, Any]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def add(self, app: str, minutes_ago: float, status: str = "SUCCEEDED") -> None:
        created = NOW - timedelta(minutes=minutes_ago)
        self.reloads.append(
            {
                "id": f"r{len(self.reloads):05d}",
                "appId": app,
                "status": status,
                "creationTime": format_time(created),
                "tenantId": "t",
                "userId": "u",
                "type": "hub",
            }
        )

    def answer(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params
        assert query.get("limit") == "100" and "appId" not in query
        rows = sorted(self.reloads, key=lambda r: (r["creationTime"], r["id"]))
        ascending = query.get("sort") == "+creationTime"
        rows = rows if ascending else rows[::-1]
        if "filter" in query:
            assert query["filter"] == ACTIVE_FILTER and ascending
            rows = [row for row in rows if row["status"] in ACTIVE]
        self.asked.append("active" if "filter" in query else "listing")
        at = int(query.get("next", 0))
        links: dict[str, Any] = {}
        if at + 100 < len(rows):
            links["next"] = {"href": str(request.url.copy_set_param("next", at + 100))}
        return httpx.Response(200, json={"data": rows[at : at + 100], "links": links})

    def pages(self, kind: str) -> int:
        return self.asked.count(kind)


def serve(tenant: ListingTenant) -> tuple[respx.MockRouter, QlikClient]:
    router = respx.mock(base_url=TENANT, assert_all_called=False)
    router.get("/api/v1/reloads").mock(side_effect=tenant.answer)
    return router, connect(TENANT, SecretStr("key"), sender_options={"sleep": lambda _s: None})


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def noise(tenant: ListingTenant, count: int, span_minutes: float) -> None:
    """``count`` finished reloads of other apps, evenly over the last ``span_minutes``."""
    for n in range(count):
        tenant.add(app_id(900 + n % 50), span_minutes * (n + 0.5) / count)


def latest_since(
    tenant: ListingTenant, horizons: dict[str, datetime], count_up_to: int | None = None
) -> tuple[dict[str, str | None], int | None]:
    router, client = serve(tenant)
    with router:
        found = client.latest_reloads_since(horizons, count_active_up_to=count_up_to)
    client.close()
    return {app: r.id if r else None for app, r in found.latest.items()}, found.active

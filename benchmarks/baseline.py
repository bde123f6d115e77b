"""The baseline: the Automate reload-runner template's per-event algorithm, over plain httpx.

It reads the same reload-finished audit events as a sweep, then handles each event on its
own, as one run of the automation would:

1. look up the finished app's tags: ``GET /api/v1/items?resourceIds=<that one id>``;
2. for each ``next-<appId>`` tag: ``GET /api/v1/apps/{id}``, its space
   (``GET /api/v1/spaces/{id}``, when it has one), its last reload
   (``GET /api/v1/reloads?appId=<id>&limit=1``), then ``POST /api/v1/reloads`` unless that
   reload is still active or was created in the last ``tolerance_minutes``.

Nothing is remembered from one event to the next. Automate runs one automation per event, so
events are handled by a bounded pool of worker threads (``workers``); two events naming the
same successor at the same moment may then both try to start it, and the second start is
answered 429 (a reload is already pending), as on a real tenant. Every call is counted by
``METHOD /path`` with the path's ids as placeholders, the way reload-chain counts its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.baseline_client import BaselineClient, BaselineError
from qlik.times import format_time, parse_time

EVENT_TYPE = "com.qlik.v1.app.reload.finished"
ACTIVE = frozenset({"QUEUED", "RELOADING", "CANCELING"})
PAGE_LIMIT = 100


@dataclass
class BaselineResult:
    """What the baseline did, and what it cost."""

    events: int = 0
    started: int = 0
    pending: int = 0
    skipped_recent: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    workers: int = 1


@dataclass
class _Tally:
    started: int = 0
    pending: int = 0
    skipped_recent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            if outcome == "started":
                self.started += 1
            elif outcome == "pending":
                self.pending += 1
            else:
                self.skipped_recent += 1


def audit_events(
    client: BaselineClient, start: datetime, end: datetime
) -> Iterator[dict[str, Any]]:
    """Reload-finished events in [start, end], oldest first, 100 a page."""
    params: dict[str, Any] | None = {
        "eventType": EVENT_TYPE,
        "eventTime": f"{format_time(start)}/{format_time(end)}",
        "sort": "+eventTime",
        "limit": PAGE_LIMIT,
    }
    url = "/api/v1/audits"
    while True:
        page = client.get_json("/api/v1/audits", url, params)
        rows = page.get("data") or []
        yield from rows
        next_link = (page.get("links") or {}).get("next") or {}
        href = next_link.get("href") if isinstance(next_link, dict) else None
        if not href or not rows:
            return
        url, params = str(href), None


def successors_of(client: BaselineClient, app_id: str, prefix: str) -> list[str]:
    """The ids named by the app's ``next-`` tags (one items call for one app)."""
    page = client.get_json(
        "/api/v1/items",
        "/api/v1/items",
        {"resourceType": "app", "resourceIds": app_id, "limit": PAGE_LIMIT},
    )
    names = [
        str(tag.get("name", ""))
        for item in page.get("data") or []
        for tag in (item.get("meta") or {}).get("tags") or []
    ]
    onfail = prefix + "onfail-"
    return [
        name[len(prefix) :]
        for name in names
        if name.startswith(prefix) and not name.startswith(onfail)
    ]


def handle_target(client: BaselineClient, app_id: str, now: datetime, tolerance: timedelta) -> str:
    """App, space, last reload, then start unless it reloaded recently: the outcome."""
    app = client.get_json("/api/v1/apps/{appId}", f"/api/v1/apps/{app_id}")
    space_id = (app.get("attributes") or {}).get("spaceId")
    if space_id:
        client.get_json("/api/v1/spaces/{spaceId}", f"/api/v1/spaces/{space_id}")
    last = (
        client.get_json(
            "/api/v1/reloads",
            "/api/v1/reloads",
            {"appId": app_id, "limit": 1, "sort": "-creationTime"},
        ).get("data")
        or []
    )
    if last:
        reload = last[0]
        created = parse_time(str(reload["creationTime"]))
        if reload.get("status") in ACTIVE or now - created < tolerance:
            return "skipped_recent"
    response = client.request("POST", "/api/v1/reloads", "/api/v1/reloads", body={"appId": app_id})
    if response.status_code == 201:
        return "started"
    if response.status_code == 429:
        return "pending"
    raise BaselineError(f"POST /api/v1/reloads answered {response.status_code}")


def handle_event(
    client: BaselineClient, event: dict[str, Any], prefix: str, tolerance: timedelta
) -> list[str]:
    """One automation run: the outcome for each successor of the event's app."""
    if (event.get("data") or {}).get("status") != "ok":
        return []
    app_id = str((event.get("extensions") or {}).get("topLevelResourceId", ""))
    if not app_id:
        return []
    return [
        handle_target(client, target, datetime.now(UTC), tolerance)
        for target in successors_of(client, app_id, prefix)
    ]


def run_baseline(
    tenant_url: str,
    api_key: str,
    start: datetime,
    end: datetime,
    *,
    workers: int = 32,
    prefix: str = "next-",
    tolerance_minutes: int = 10,
) -> BaselineResult:
    """Read the events in [start, end] and handle each as the Automate template would."""
    began = time.monotonic()
    tolerance = timedelta(minutes=tolerance_minutes)
    tally = _Tally()
    client = BaselineClient(tenant_url, api_key)
    events = 0
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = []
            for event in audit_events(client, start, end):
                events += 1
                futures.append(pool.submit(handle_event, client, event, prefix, tolerance))
            for future in futures:
                for outcome in future.result():
                    tally.add(outcome)
    finally:
        client.close()
    return BaselineResult(
        events=events,
        started=tally.started,
        pending=tally.pending,
        skipped_recent=tally.skipped_recent,
        api_calls=dict(client.calls),
        wall_s=time.monotonic() - began,
        workers=workers,
    )

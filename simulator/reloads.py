"""Simulated reloads: a lifecycle derived from time, the audit events they leave behind, and
how a listing pages through them."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from qlik.times import format_time


@dataclass(frozen=True)
class SimReload:
    """One reload job. Its status at any moment follows from when it was created."""

    id: str
    app_id: str
    user_id: str
    tenant_id: str
    type: str
    created: datetime
    queue_seconds: float
    duration_seconds: float
    succeeds: bool

    @property
    def started(self) -> datetime:
        """When the engine picked it up."""
        return self.created + timedelta(seconds=self.queue_seconds)

    @property
    def ended(self) -> datetime:
        """When it finished (in the future while it runs)."""
        return self.started + timedelta(seconds=self.duration_seconds)

    def status(self, now: datetime) -> str:
        """QUEUED -> RELOADING -> SUCCEEDED or FAILED, by the clock."""
        if now < self.started:
            return "QUEUED"
        if now < self.ended:
            return "RELOADING"
        return "SUCCEEDED" if self.succeeds else "FAILED"

    def as_json(self, now: datetime, base_url: str, with_log: bool = False) -> dict[str, Any]:
        """The ``Reload`` object of the reloads API at ``now`` (``log`` only when asked for)."""
        status = self.status(now)
        body: dict[str, Any] = {
            "id": self.id,
            "appId": self.app_id,
            "tenantId": self.tenant_id,
            "userId": self.user_id,
            "type": self.type,
            "status": status,
            "partial": False,
            "creationTime": format_time(self.created),
            "links": {"self": {"href": f"{base_url}/api/v1/reloads/{self.id}"}},
        }
        if status != "QUEUED":
            body["startTime"] = format_time(self.started)
        if status in ("SUCCEEDED", "FAILED"):
            body["endTime"] = format_time(self.ended)
            body["duration"] = f"{int(self.duration_seconds * 1000)}ms"
            if with_log:
                body["log"] = "App saved\n" if self.succeeds else "Script error\n"
        if status == "FAILED":
            body["errorCode"] = "EngineReloadError"
            body["errorMessage"] = "The reload script failed (simulated)"
        return body


@dataclass(frozen=True)
class SimEvent:
    """A ``com.qlik.v1.app.reload.finished`` audit event, visible from ``visible_at``."""

    id: str
    reload: SimReload
    space_id: str | None
    owner_id: str
    visible_at: datetime
    stamped: datetime | None = None  # an eventTime other than the reload's end (a wrong clock)

    @property
    def sort_key(self) -> tuple[datetime, str]:
        """Audit events are listed by when their reload ended, ties broken by id."""
        return (self.reload.ended, self.id)

    @property
    def event_time(self) -> datetime:
        """The eventTime the event carries: the reload's end, unless stamped otherwise."""
        return self.stamped or self.reload.ended

    def as_json(self, base_url: str) -> dict[str, Any]:
        """The audit item as ``GET /api/v1/audits`` returns it."""
        reload = self.reload
        extensions: dict[str, Any] = {"topLevelResourceId": reload.app_id, "ownerId": self.owner_id}
        if self.space_id:
            extensions["spaceId"] = self.space_id
        return {
            "id": self.id,
            "eventId": self.id,
            "eventType": "com.qlik.v1.app.reload.finished",
            "eventTypeVersion": "1.0.0",
            "eventTime": format_time(self.event_time),
            "source": "com.qlik/engine",
            "tenantId": reload.tenant_id,
            "userId": reload.user_id,
            "contentType": "application/json",
            "extensions": extensions,
            "data": {
                "reloadId": reload.id,
                "status": "ok" if reload.succeeds else "error",
                "endTime": format_time(reload.ended),
                "duration": int(reload.duration_seconds * 1000),
                "isPartialReload": False,
            },
            "links": {"self": {"href": f"{base_url}/api/v1/audits/{self.id}"}},
        }


@dataclass(frozen=True)
class ReloadListing:
    """One page request of ``GET /api/v1/reloads``: whose, which way, after what, how many."""

    app_id: str | None
    ascending: bool
    after: tuple[datetime, str] | None
    statuses: frozenset[str]
    count: int


def creation_key(reload: SimReload) -> tuple[datetime, str]:
    """A reload's place in a listing: by creation time, ties broken by id."""
    return (reload.created, reload.id)


def ordered(
    rows: list[SimReload], ascending: bool, after: tuple[datetime, str] | None
) -> Iterator[SimReload]:
    """``rows`` (sorted by creation) after the paging key, oldest or newest first."""
    if ascending:
        start = 0 if after is None else bisect.bisect_right(rows, after, key=creation_key)
        return itertools.islice(rows, start, None)
    end = len(rows) if after is None else bisect.bisect_left(rows, after, key=creation_key)
    return (rows[index] for index in range(end - 1, -1, -1))

"""Normalise reload-finished audit events into ``FinishedReload`` records.

Two event types are understood: ``com.qlik.v1.app.reload.finished`` (one per engine attempt,
app id in ``extensions.topLevelResourceId``, status ``ok``/``error``) and
``com.qlik.v1.reload.finished`` (one per reload, app id in ``data.appId``, reload statuses).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from qlik.errors import ReloadChainError
from qlik.times import parse_time

EventType = Literal["com.qlik.v1.app.reload.finished", "com.qlik.v1.reload.finished"]
APP_RELOAD_FINISHED: EventType = "com.qlik.v1.app.reload.finished"
RELOAD_FINISHED: EventType = "com.qlik.v1.reload.finished"

Outcome = Literal["success", "failure", "canceled"]

_OUTCOMES: dict[str, Outcome] = {
    "ok": "success",
    "succeeded": "success",
    "error": "failure",
    "failed": "failure",
    "exceeded_limit": "failure",
    "canceled": "canceled",
}


# A reload's duration in milliseconds, as text; longer than a week is not a reload's duration.
_MILLISECONDS = re.compile(r"\d+(?:\.\d+)?")
_LONGEST_MS = 7 * 24 * 3600 * 1000


class InvalidEventError(ReloadChainError, ValueError):
    """The event lacks a field the program needs or has a value it cannot read.

    Counted as invalid by the sweep, never fatal: it reaches ``main()`` only through a bug.
    """


@dataclass(frozen=True, slots=True)  # slots: a 90-day catch-up holds 100,000 of them
class FinishedReload:
    """One finished reload of a source app, as read from one audit event."""

    event_id: str
    event_time: datetime
    app_id: str
    reload_id: str
    outcome: Outcome
    ended_at: datetime
    # How long the engine reloaded (``data.duration``): the reload began at ``ended_at`` less
    # this. None when the event does not say (or says something unreadable).
    duration_s: float | None = None

    @property
    def started_at(self) -> datetime | None:
        """When the engine began the reload, if the event gave its duration."""
        if self.duration_s is None:
            return None
        return self.ended_at - timedelta(seconds=self.duration_s)


def parse_finished_reload(raw: Any) -> FinishedReload:
    """Read one audit event; raise ``InvalidEventError`` saying which field is wrong."""
    if not isinstance(raw, dict):
        raise InvalidEventError(f"event is a {type(raw).__name__}, not an object")
    event_id = _text("id", raw.get("id") or raw.get("eventId"))
    event_type = raw.get("eventType", APP_RELOAD_FINISHED)
    data = raw.get("data")
    if not isinstance(data, dict):
        raise InvalidEventError("data: missing or not an object")
    if event_type == APP_RELOAD_FINISHED:
        extensions = raw.get("extensions", {})
        if not isinstance(extensions, dict):
            raise InvalidEventError("extensions: not an object")
        app_id = _text("extensions.topLevelResourceId", extensions.get("topLevelResourceId"))
    elif event_type == RELOAD_FINISHED:
        app_id = _text("data.appId", data.get("appId"))
    else:
        raise InvalidEventError(f"eventType: unknown type {event_type!r}")
    event_time = _time("eventTime", raw.get("eventTime"))
    status = _text("data.status", data.get("status"))
    outcome = _OUTCOMES.get(status.lower())
    if outcome is None:
        raise InvalidEventError(f"data.status: unknown status {status!r}")
    end_value = data.get("endTime")
    return FinishedReload(
        event_id=event_id,
        event_time=event_time,
        app_id=sys.intern(app_id.lower()),  # one string per app, not per event
        reload_id=_text("data.reloadId", data.get("reloadId") or data.get("id")),
        outcome=outcome,
        ended_at=_time("data.endTime", end_value) if end_value else event_time,
        duration_s=_duration_s(data.get("duration")),
    )


def _duration_s(value: Any) -> float | None:
    """``data.duration`` in seconds: milliseconds as a number, or text such as ``"1234ms"``.

    Optional: a missing or unreadable duration is None, never an invalid event.
    """
    if isinstance(value, str):
        text = value.strip().lower().removesuffix("ms").strip()
        value = float(text) if _MILLISECONDS.fullmatch(text) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0 or value > _LONGEST_MS:
        return None
    return value / 1000


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidEventError(f"{field}: missing or empty")
    return value.strip()


def _time(field: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidEventError(f"{field}: missing or not a string")
    try:
        return parse_time(value)
    except ValueError as error:
        raise InvalidEventError(f"{field}: {error}") from None

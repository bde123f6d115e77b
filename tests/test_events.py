"""parse_finished_reload: both reload-finished event types, and every malformed event."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from qlik.events import (
    APP_RELOAD_FINISHED,
    RELOAD_FINISHED,
    FinishedReload,
    InvalidEventError,
    parse_finished_reload,
)

APP = "0A1B2C3D-0000-4000-8000-00000000ABCD"
EVENT_TIME = datetime(2026, 11, 22, 11, 31, 39, 123000, tzinfo=UTC)
END_TIME = datetime(2026, 11, 22, 11, 31, 38, tzinfo=UTC)


def app_event(**data: Any) -> dict[str, Any]:
    """A valid ``com.qlik.v1.app.reload.finished`` event; ``data`` keys override its data."""
    return {
        "id": "ev-1",
        "eventType": APP_RELOAD_FINISHED,
        "eventTime": "2026-11-22T11:31:39.123Z",
        "extensions": {"topLevelResourceId": APP},
        "data": {
            "reloadId": "rl-1",
            "status": "ok",
            "endTime": "2026-11-22T11:31:38Z",
            "isPartialReload": False,
            **data,
        },
    }


def reload_event(**data: Any) -> dict[str, Any]:
    """A valid ``com.qlik.v1.reload.finished`` event; ``data`` keys override its data."""
    return {
        "id": "ev-2",
        "eventType": RELOAD_FINISHED,
        "eventTime": "2026-11-22T11:31:39.123456Z",
        "data": {"appId": APP, "reloadId": "rl-2", "status": "SUCCEEDED", **data},
    }


def test_app_reload_finished_ok_is_a_success() -> None:
    assert parse_finished_reload(app_event()) == FinishedReload(
        event_id="ev-1",
        event_time=EVENT_TIME,
        app_id=APP.lower(),
        reload_id="rl-1",
        outcome="success",
        ended_at=END_TIME,
    )


def test_app_reload_finished_error_is_a_failure() -> None:
    assert parse_finished_reload(app_event(status="error")).outcome == "failure"


def test_app_reload_finished_ignores_data_app_id() -> None:
    run = parse_finished_reload(app_event(appId="ffffffff-0000-4000-8000-000000000000"))
    assert run.app_id == APP.lower()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("SUCCEEDED", "success"),
        ("FAILED", "failure"),
        ("CANCELED", "canceled"),
        ("EXCEEDED_LIMIT", "failure"),
    ],
)
def test_reload_finished_statuses(status: str, outcome: str) -> None:
    run = parse_finished_reload(reload_event(status=status))
    assert run.outcome == outcome
    assert run.app_id == APP.lower()
    assert run.reload_id == "rl-2"


def test_reload_finished_reads_reload_id_from_data_id_when_no_reload_id() -> None:
    event = reload_event()
    del event["data"]["reloadId"]
    event["data"]["id"] = "rl-from-id"
    assert parse_finished_reload(event).reload_id == "rl-from-id"


def test_event_id_falls_back_to_event_id_field() -> None:
    event = app_event()
    del event["id"]
    event["eventId"] = "ev-legacy"
    assert parse_finished_reload(event).event_id == "ev-legacy"


def test_missing_event_type_is_read_as_app_reload_finished() -> None:
    event = app_event()
    del event["eventType"]
    assert parse_finished_reload(event).app_id == APP.lower()


def test_missing_end_time_falls_back_to_event_time() -> None:
    event = reload_event()
    run = parse_finished_reload(event)
    assert "endTime" not in event["data"]
    assert run.ended_at == run.event_time == datetime(2026, 11, 22, 11, 31, 39, 123456, tzinfo=UTC)


def test_empty_end_time_falls_back_to_event_time() -> None:
    assert parse_finished_reload(app_event(endTime="")).ended_at == EVENT_TIME


def without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in event.items() if name != key}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("not an event", "event is a str"),
        (None, "event is a NoneType"),
        ([app_event()], "event is a list"),
        (without(app_event(), "id"), "id:"),
        ({**app_event(), "id": "  "}, "id:"),
        (without(app_event(), "data"), "data:"),
        ({**app_event(), "data": ["ok"]}, "data:"),
        (without(app_event(), "extensions"), "extensions"),
        (
            {**app_event(), "extensions": {"topLevelResourceId": ""}},
            "extensions.topLevelResourceId:",
        ),
        (reload_event(appId=None), "data.appId:"),
        (app_event(status="running"), "data.status:"),
        (reload_event(status="QUEUED"), "data.status:"),
        (app_event(status=None), "data.status:"),
        ({**app_event(), "eventType": "com.qlik.v1.app.created"}, "eventType:"),
        ({**app_event(), "eventTime": "last tuesday"}, "eventTime:"),
        (without(app_event(), "eventTime"), "eventTime:"),
        ({**app_event(), "eventTime": 1700000000}, "eventTime:"),
        (app_event(endTime="soon"), "data.endTime:"),
        (app_event(reloadId=None), "data.reloadId:"),
    ],
)
def test_malformed_event_names_the_field(raw: Any, field: str) -> None:
    with pytest.raises(InvalidEventError, match=f"^{re.escape(field)}"):
        parse_finished_reload(raw)


def test_bad_event_time_message_names_the_value() -> None:
    with pytest.raises(InvalidEventError, match="'last tuesday'"):
        parse_finished_reload({**app_event(), "eventTime": "last tuesday"})


@pytest.mark.parametrize("extensions", ["oops", ["topLevelResourceId"], 42])
def test_extensions_that_are_not_an_object_are_an_invalid_event(extensions: Any) -> None:
    # A malformed event must be skipped, never fatal: the sweep only catches InvalidEventError.
    with pytest.raises(InvalidEventError, match=r"^extensions"):
        parse_finished_reload({**app_event(), "extensions": extensions})


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [(1500, 1.5), (0, 0.0), (2500.5, 2.5005), ("1234ms", 1.234), (" 60000 ", 60.0)],
)
def test_the_duration_in_milliseconds_gives_the_reload_start(duration: Any, seconds: float) -> None:
    run = parse_finished_reload(app_event(duration=duration))
    assert run.duration_s == seconds
    assert run.started_at == END_TIME - timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "duration", [None, -5, True, "soon", "", float("nan"), float("inf"), [1], 10**12]
)
def test_a_missing_or_unreadable_duration_is_none_and_the_event_still_valid(
    duration: Any,
) -> None:
    run = parse_finished_reload(app_event(duration=duration))
    assert (run.duration_s, run.started_at) == (None, None)
    assert run.outcome == "success"

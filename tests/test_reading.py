"""EventReader: classify each page of audit events against a real in-memory Store."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from jobs.reading import RAW_EVENT_LIMIT, EventReader, handled_row, invalid_key, invalid_row
from qlik.errors import TransientError
from state.database import open_database
from state.store import Store, SweepCommit

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
APP = "aaaaaaaa-0000-0000-0000-000000000001"
R1_OK = ("r1", "success")


@pytest.fixture
def store() -> Iterator[Store]:
    db = open_database(":memory:")
    yield Store(db, ":memory:")
    db.close()


def event(event_id: str, reload_id: str, minute: int = 30, status: str = "ok") -> dict[str, Any]:
    return {
        "id": event_id,
        "eventType": "com.qlik.v1.app.reload.finished",
        "eventTime": f"2026-11-22T09:{minute:02d}:00.000Z",
        "extensions": {"topLevelResourceId": APP.upper()},
        "data": {
            "status": status,
            "reloadId": reload_id,
            "endTime": f"2026-11-22T09:{minute:02d}:00Z",
        },
    }


def broken(event_id: str | None = "bad-1") -> dict[str, Any]:
    raw: dict[str, Any] = {
        "eventType": "com.qlik.v1.app.reload.finished",
        "eventTime": "2026-11-22T09:30:00Z",
        "extensions": {"topLevelResourceId": APP},
    }
    if event_id is not None:
        raw["id"] = event_id
    return raw


def remember(store: Store, *rows: tuple[str, str], outcome: str = "success") -> None:
    handled = [
        {
            "event_id": event_id,
            "reload_id": reload_id,
            "outcome": outcome,
            "app_id": APP,
            "event_time": "2026-11-22T09:00:00.000Z",
            "sweep_id": "old",
        }
        for event_id, reload_id in rows
    ]
    store.commit_sweep(SweepCommit(sweep={"sweep_id": "old"}, handled_events=handled), NOW)


def test_new_events_become_runs(store: Store) -> None:
    reader = EventReader(store, "s1")
    reader.add_page([event("e1", "r1", 10), event("e2", "r2", 20, status="error")], NOW)

    assert reader.read == 2
    assert list(reader.runs) == [R1_OK, ("r2", "failure")]
    assert reader.runs[R1_OK].app_id == APP
    assert reader.runs[("r2", "failure")].outcome == "failure"
    assert all_event_ids(reader) == {R1_OK: ["e1"], ("r2", "failure"): ["e2"]}
    assert reader.already_handled == []
    assert reader.invalid == []
    assert reader.last_event_time == datetime(2026, 11, 22, 9, 20, tzinfo=UTC)


def test_second_event_for_a_reload_in_the_same_sweep_is_a_duplicate(store: Store) -> None:
    reader = EventReader(store, "s1")
    reader.add_page([event("e1", "r1", 10)], NOW)
    reader.add_page([event("e2", "r1", 12)], NOW)

    assert list(reader.runs) == [R1_OK]
    assert reader.runs[R1_OK].event_id == "e1"
    assert all_event_ids(reader) == {R1_OK: ["e1", "e2"]}
    assert reader.already_handled == []
    assert reader.read == 2


def test_event_handled_in_an_earlier_sweep_is_dropped(store: Store) -> None:
    remember(store, ("e1", "r1"))
    reader = EventReader(store, "s1")
    reader.add_page([event("e1", "r1")], NOW)

    assert reader.runs == {}
    assert all_event_ids(reader) == {}
    assert reader.already_handled == []
    assert reader.read == 1
    assert reader.last_event_time == datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def test_new_event_for_an_already_handled_reload_is_recorded_as_handled(store: Store) -> None:
    remember(store, ("e1", "r1"))
    reader = EventReader(store, "s2")
    reader.add_page([event("e9", "r1", 40)], NOW)

    assert reader.runs == {}
    assert reader.already_handled == [
        {
            "event_id": "e9",
            "reload_id": "r1",
            "outcome": "success",
            "app_id": APP,
            "event_time": "2026-11-22T09:40:00.000Z",
            "sweep_id": "s2",
        }
    ]


def test_error_then_ok_for_one_reload_are_two_runs(store: Store) -> None:
    reader = EventReader(store, "s1")
    reader.add_page([event("e1", "r1", 10, status="error"), event("e2", "r1", 14)], NOW)
    reader.add_page([event("e3", "r1", 15, status="error")], NOW)

    assert list(reader.runs) == [("r1", "failure"), R1_OK]
    assert all_event_ids(reader) == {("r1", "failure"): ["e1", "e3"], R1_OK: ["e2"]}


def test_ok_after_a_handled_error_of_the_same_reload_is_new(store: Store) -> None:
    remember(store, ("e1", "r1"), outcome="failure")
    reader = EventReader(store, "s2")
    reader.add_page([event("e1", "r1", 10, status="error"), event("e2", "r1", 14)], NOW)

    assert list(reader.runs) == [R1_OK]
    assert reader.already_handled == []


def test_another_error_event_of_a_handled_error_is_only_recorded(store: Store) -> None:
    remember(store, ("e1", "r1"), outcome="failure")
    reader = EventReader(store, "s2")
    reader.add_page([event("e5", "r1", 16, status="error")], NOW)

    assert reader.runs == {}
    assert [(row["event_id"], row["outcome"]) for row in reader.already_handled] == [
        ("e5", "failure")
    ]


def test_invalid_event_is_recorded_with_its_reason(store: Store) -> None:
    reader = EventReader(store, "s1")
    raw = broken("bad-1")
    reader.add_page([raw, event("e1", "r1")], NOW)

    assert reader.read == 2
    assert list(reader.runs) == [R1_OK]
    assert reader.invalid == [
        {
            "key": "bad-1",
            "event_id": "bad-1",
            "reason": "data: missing or not an object",
            "raw": json.dumps(raw),
            "sweep_id": "s1",
            "seen_at": "2026-11-22T10:00:00.000Z",
        }
    ]


def test_same_invalid_event_twice_in_a_page_is_recorded_once(store: Store) -> None:
    reader = EventReader(store, "s1")
    reader.add_page([broken(), broken()], NOW)
    assert [row["key"] for row in reader.invalid] == ["bad-1"]
    assert reader.read == 2


def test_same_invalid_event_in_a_later_page_is_recorded_once(store: Store) -> None:
    reader = EventReader(store, "s1")
    reader.add_page([broken()], NOW)
    reader.add_page([broken(), broken("bad-2")], NOW)
    assert [row["key"] for row in reader.invalid] == ["bad-1", "bad-2"]


def test_invalid_event_known_from_an_earlier_sweep_is_not_recorded_again(store: Store) -> None:
    first = EventReader(store, "s1")
    first.add_page([broken()], NOW)
    store.commit_sweep(SweepCommit(sweep={"sweep_id": "s1"}, invalid_events=first.invalid), NOW)

    second = EventReader(store, "s2")
    second.add_page([broken()], NOW)
    assert second.invalid == []
    assert second.read == 1


def test_invalid_event_without_id_is_keyed_by_a_digest(store: Store) -> None:
    raw = broken(None)
    expected = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()[:32]
    reader = EventReader(store, "s1")
    reader.add_page([raw, broken(None)], NOW)

    assert [row["key"] for row in reader.invalid] == [f"sha256:{expected}"]
    assert reader.invalid[0]["event_id"] is None
    assert reader.invalid[0]["reason"] == "id: missing or empty"


def test_non_object_event_is_invalid(store: Store) -> None:
    reader = EventReader(store, "s1")
    reader.add_page(["not an event"], NOW)  # type: ignore[list-item]
    assert reader.invalid[0]["reason"] == "event is a str, not an object"
    assert reader.invalid[0]["key"].startswith("sha256:")


def test_invalid_key_uses_the_event_id() -> None:
    assert invalid_key({"id": "abc", "data": 1}) == "abc"


def test_invalid_key_digest_ignores_key_order() -> None:
    assert invalid_key({"a": 1, "b": 2}) == invalid_key({"b": 2, "a": 1})
    assert invalid_key({"a": 1}) != invalid_key({"a": 2})
    assert len(invalid_key({"a": 1})) == len("sha256:") + 32


def test_invalid_key_digest_for_empty_id() -> None:
    assert invalid_key({"id": ""}).startswith("sha256:")


def test_a_huge_invalid_event_is_bounded_then_scrubbed_then_cut(store: Store) -> None:
    raw = {"id": "big", "blob": "x" * 100_000}
    row = invalid_row("big", raw, "too big", "s1", NOW)
    assert len(row["raw"]) == 4 * RAW_EVENT_LIMIT  # bounded in memory, cut only once scrubbed
    assert row["event_id"] == "big"
    store.commit_sweep(SweepCommit(sweep={"sweep_id": "s1"}, invalid_events=[row]), NOW)
    (stored,) = store.db.table("invalid_events").rows
    assert len(stored["raw"]) == RAW_EVENT_LIMIT


def test_handled_row_can_name_another_event_id(store: Store) -> None:
    reader = EventReader(store, "s1")
    reader.add_page([event("e1", "r1")], NOW)
    row = handled_row(reader.runs[R1_OK], "s1", event_id="e2")
    assert row == {
        "event_id": "e2",
        "reload_id": "r1",
        "outcome": "success",
        "app_id": APP,
        "event_time": "2026-11-22T09:30:00.000Z",
        "sweep_id": "s1",
    }


def test_read_all_completes_after_every_page(store: Store) -> None:
    reader = EventReader(store, "s1")
    pages = [[event("e1", "r1", 10)], [], [event("e2", "r2", 20), broken()]]
    reader.read_all(iter(pages), NOW)

    assert reader.complete is True
    assert reader.read == 3
    assert list(reader.runs) == [R1_OK, ("r2", "success")]
    assert len(reader.invalid) == 1
    assert reader.last_event_time == datetime(2026, 11, 22, 9, 20, tzinfo=UTC)


def test_read_all_with_no_pages_is_complete(store: Store) -> None:
    reader = EventReader(store, "s1")
    reader.read_all(iter([]), NOW)
    assert reader.complete is True
    assert reader.last_event_time is None


def test_read_all_stops_incomplete_on_a_transient_error(store: Store) -> None:
    def pages() -> Iterator[list[dict[str, Any]]]:
        yield [event("e1", "r1", 10), event("e2", "r2", 25)]
        yield [event("e3", "r3", 15)]
        raise TransientError("GET /api/v1/audits: 503")

    reader = EventReader(store, "s1")
    reader.read_all(pages(), NOW)

    assert reader.complete is False
    assert reader.read == 3
    assert [key[0] for key in reader.runs] == ["r1", "r2", "r3"]
    assert reader.last_event_time == datetime(2026, 11, 22, 9, 25, tzinfo=UTC)


def test_read_all_lets_other_errors_through(store: Store) -> None:
    def pages() -> Iterator[list[dict[str, Any]]]:
        yield [event("e1", "r1")]
        raise RuntimeError("bug")

    reader = EventReader(store, "s1")
    with pytest.raises(RuntimeError):
        reader.read_all(pages(), NOW)
    assert reader.complete is False


def all_event_ids(reader: EventReader) -> dict[tuple[str, str], list[str]]:
    """Each new run's event ids, as the commit will write them."""
    return {key: reader.event_ids(key) for key in reader.runs}

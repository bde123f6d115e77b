"""The Store: cursor, handled events, settled edges, ledger and sweep records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from state.database import StateError, open_database
from state.store import LedgerRow, Store, SweepCommit

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[Store]:
    db = open_database(":memory:")
    yield Store(db, ":memory:")
    db.close()


def sweep_record(sweep_id: str, started_at: str = "2026-11-22T10:00:00.000Z") -> dict[str, Any]:
    return {
        "sweep_id": sweep_id,
        "started_at": started_at,
        "dry_run": 0,
        "window_from": "2026-11-22T09:00:00.000Z",
        "window_to": "2026-11-22T10:00:00.000Z",
        "events_read": 2,
        "events_new": 2,
        "events_invalid": 0,
        "sources": 1,
        "decisions": {"triggered": 1},
        "api_calls": {"GET /api/v1/audits": 1},
        "duration_s": 0.5,
        "exit_code": 0,
    }


def handled(
    event_id: str, reload_id: str, sweep_id: str = "s1", outcome: str = "success"
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "reload_id": reload_id,
        "outcome": outcome,
        "app_id": "app-a",
        "event_time": "2026-11-22T09:30:00.000Z",
        "sweep_id": sweep_id,
    }


def ledger_row(sweep_id: str = "s1", app_id: str = "app-b", **changes: Any) -> LedgerRow:
    fields: dict[str, Any] = {
        "sweep_id": sweep_id,
        "app_id": app_id,
        "decision": "triggered",
        "reason": "triggered",
        "sources": ("app-a",),
        "source_reloads": ("r1",),
        "reload_id": "new-reload",
    }
    return LedgerRow(**(fields | changes))


def full_commit(sweep_id: str = "s1") -> SweepCommit:
    return SweepCommit(
        sweep=sweep_record(sweep_id),
        handled_events=[handled("e1", "r1", sweep_id), handled("e2", "r1", sweep_id)],
        invalid_events=[
            {
                "key": "bad-1",
                "event_id": "bad-1",
                "reason": "data: missing or not an object",
                "raw": "{}",
                "sweep_id": sweep_id,
                "seen_at": "2026-11-22T10:00:00.000Z",
            }
        ],
        settled_edges=[
            {
                "source_reload_id": "r1",
                "target_app_id": "app-b",
                "sweep_id": sweep_id,
                "decision": "triggered",
                "reason": "triggered",
            }
        ],
        ledger=[ledger_row(sweep_id)],
        cursor=datetime(2026, 11, 22, 9, 59, 30, 123000, tzinfo=UTC),
    )


def counts(store: Store) -> dict[str, int]:
    tables = ["handled_events", "invalid_events", "settled_edges", "ledger", "sweeps", "cursor"]
    return {name: store.db.table(name).count for name in tables}


def test_cursor_is_none_before_the_first_sweep(store: Store) -> None:
    assert store.cursor() is None


def test_commit_sweep_sets_the_cursor(store: Store) -> None:
    store.commit_sweep(full_commit(), NOW)
    assert store.cursor() == datetime(2026, 11, 22, 9, 59, 30, 123000, tzinfo=UTC)


def test_commit_without_cursor_leaves_the_cursor_where_it_was(store: Store) -> None:
    store.commit_sweep(full_commit("s1"), NOW)
    later = SweepCommit(sweep=sweep_record("s2"), cursor=None)
    store.commit_sweep(later, NOW + timedelta(minutes=2))
    assert store.cursor() == datetime(2026, 11, 22, 9, 59, 30, 123000, tzinfo=UTC)


def test_commit_sweep_writes_every_table(store: Store) -> None:
    store.commit_sweep(full_commit(), NOW)
    assert counts(store) == {
        "handled_events": 2,
        "invalid_events": 1,
        "settled_edges": 1,
        "ledger": 1,
        "sweeps": 1,
        "cursor": 1,
    }
    ledger = store.db.table("ledger").get(("s1", "app-b"))
    assert json.loads(ledger["sources"]) == ["app-a"]
    assert json.loads(ledger["source_reloads"]) == ["r1"]
    assert ledger["updated_at"] == "2026-11-22T10:00:00.000Z"
    assert ledger["state"] == "done"


def test_commit_sweep_is_one_transaction(store: Store) -> None:
    commit = full_commit()
    # Handled events are written before the ledger; an unbindable ledger value fails mid-way.
    commit.ledger = [ledger_row(detail=object())]

    with pytest.raises(StateError, match=":memory:"):
        store.commit_sweep(commit, NOW)

    assert counts(store) == dict.fromkeys(counts(store), 0)
    assert store.cursor() is None
    assert store.handled(["e1", "e2"], [("r1", "success")]) == (set(), set())


def test_store_still_works_after_a_failed_commit(store: Store) -> None:
    broken = full_commit()
    broken.ledger = [ledger_row(detail=object())]
    with pytest.raises(StateError):
        store.commit_sweep(broken, NOW)

    store.commit_sweep(full_commit(), NOW)
    assert store.db.table("handled_events").count == 2
    assert store.cursor() is not None


def test_committing_the_same_sweep_twice_changes_nothing(store: Store) -> None:
    commit = full_commit()
    store.commit_sweep(commit, NOW)
    before = counts(store)
    rows_before = list(store.db.table("ledger").rows)
    store.commit_sweep(commit, NOW)
    assert counts(store) == before
    assert list(store.db.table("ledger").rows) == rows_before


def test_handled_separates_event_ids_from_reload_outcomes(store: Store) -> None:
    store.commit_sweep(full_commit(), NOW)
    asked = [("r1", "success"), ("e1", "success"), ("r9", "success")]
    events, runs = store.handled(["e1", "r1", "e9"], asked)
    assert events == {"e1"}
    assert runs == {("r1", "success")}


def test_handled_tells_outcomes_of_one_reload_apart(store: Store) -> None:
    rows = [handled("e1", "r1", outcome="failure")]
    store.commit_sweep(SweepCommit(sweep=sweep_record("s1"), handled_events=rows), NOW)

    _, runs = store.handled([], [("r1", "failure"), ("r1", "success")])

    assert runs == {("r1", "failure")}
    assert store.db.table("handled_events").get("e1")["outcome"] == "failure"


def test_handled_events_are_indexed_by_reload_and_outcome(store: Store) -> None:
    indexed = [index.columns for index in store.db.table("handled_events").indexes]
    assert ["reload_id", "outcome"] in indexed


def test_handled_with_no_ids_is_empty(store: Store) -> None:
    assert store.handled([], []) == (set(), set())


def test_handled_checks_more_than_500_ids(store: Store) -> None:
    rows = [handled(f"e{n:04}", f"r{n:04}") for n in range(1200)]
    store.commit_sweep(SweepCommit(sweep=sweep_record("s1"), handled_events=rows), NOW)

    asked_events = [f"e{n:04}" for n in range(0, 1500, 2)]
    asked_runs = [(f"r{n:04}", "success") for n in range(1, 1500, 3)]
    events, runs = store.handled(asked_events, asked_runs)

    assert events == {f"e{n:04}" for n in range(0, 1200, 2)}
    assert runs == {(f"r{n:04}", "success") for n in range(1, 1200, 3)}
    assert len(events) == 600


def test_handled_accepts_generators(store: Store) -> None:
    store.commit_sweep(full_commit(), NOW)
    events, runs = store.handled((e for e in ["e2"]), (r for r in [("r1", "success")]))
    assert (events, runs) == ({"e2"}, {("r1", "success")})


def test_known_invalid_returns_recorded_keys(store: Store) -> None:
    store.commit_sweep(full_commit(), NOW)
    assert store.known_invalid(["bad-1", "bad-2"]) == {"bad-1"}


def test_settled_edges_returns_pairs_for_the_asked_reloads(store: Store) -> None:
    edges = [
        {"source_reload_id": "r1", "target_app_id": "b", "sweep_id": "s1"},
        {"source_reload_id": "r1", "target_app_id": "c", "sweep_id": "s1"},
        {"source_reload_id": "r2", "target_app_id": "b", "sweep_id": "s1"},
        {"source_reload_id": "r3", "target_app_id": "d", "sweep_id": "s1"},
    ]
    store.commit_sweep(SweepCommit(sweep=sweep_record("s1"), settled_edges=edges), NOW)

    assert store.settled_edges(["r1", "r2", "r9"]) == {("r1", "b"), ("r1", "c"), ("r2", "b")}
    assert store.settled_edges([]) == set()


def test_settled_edges_checks_more_than_500_reloads(store: Store) -> None:
    edges = [
        {"source_reload_id": f"r{n:04}", "target_app_id": "t", "sweep_id": "s1"}
        for n in range(1100)
    ]
    store.commit_sweep(SweepCommit(sweep=sweep_record("s1"), settled_edges=edges), NOW)
    found = store.settled_edges(f"r{n:04}" for n in range(1100))
    assert len(found) == 1100
    assert ("r1099", "t") in found


def test_intent_is_upgraded_to_done_by_the_commit(store: Store) -> None:
    store.record_intent(ledger_row(state="intent", reload_id=None), NOW)
    intent = store.db.table("ledger").get(("s1", "app-b"))
    assert intent["state"] == "intent"
    assert intent["reload_id"] is None

    later = NOW + timedelta(seconds=5)
    commit = SweepCommit(sweep=sweep_record("s1"), ledger=[ledger_row(reload_id="rl-77")])
    store.commit_sweep(commit, later)

    rows = list(store.db.table("ledger").rows)
    assert len(rows) == 1
    assert rows[0]["state"] == "done"
    assert rows[0]["reload_id"] == "rl-77"
    assert rows[0]["updated_at"] == "2026-11-22T10:00:05.000Z"


def test_intent_is_committed_at_once(store: Store) -> None:
    store.record_intent(ledger_row(state="intent"), NOW)
    assert not store.db.conn.in_transaction
    assert store.db.table("ledger").count == 1


def test_recent_sweeps_are_newest_first(store: Store) -> None:
    for sweep_id, started in [
        ("middle", "2026-11-22T10:02:00.000Z"),
        ("newest", "2026-11-22T10:04:00.000Z"),
        ("oldest", "2026-11-22T10:00:00.000Z"),
    ]:
        store.commit_sweep(SweepCommit(sweep=sweep_record(sweep_id, started)), NOW)

    assert [row["sweep_id"] for row in store.recent_sweeps()] == ["newest", "middle", "oldest"]
    assert [row["sweep_id"] for row in store.recent_sweeps(limit=2)] == ["newest", "middle"]


def test_recent_decisions_are_newest_first(store: Store) -> None:
    for minutes, app in [(2, "app-middle"), (4, "app-newest"), (0, "app-oldest")]:
        commit = SweepCommit(sweep=sweep_record(f"s{minutes}"), ledger=[ledger_row(app_id=app)])
        store.commit_sweep(commit, NOW + timedelta(minutes=minutes))

    assert [row["app_id"] for row in store.recent_decisions()] == [
        "app-newest",
        "app-middle",
        "app-oldest",
    ]
    assert [row["app_id"] for row in store.recent_decisions(limit=1)] == ["app-newest"]


def test_ledger_row_as_record_stores_lists_as_json() -> None:
    row = ledger_row(sources=("a", "b"), source_reloads=("r1", "r2"), detail="x")
    assert row.as_record(NOW) == {
        "sweep_id": "s1",
        "app_id": "app-b",
        "decision": "triggered",
        "reason": "triggered",
        "sources": '["a", "b"]',
        "source_reloads": '["r1", "r2"]',
        "reload_id": "new-reload",
        "detail": "x",
        "state": "done",
        "previous_reload_id": None,
        "source_end": None,
        "updated_at": "2026-11-22T10:00:00.000Z",
    }


def test_intents_round_trip_with_their_evidence(store: Store) -> None:
    intent = ledger_row(
        state="intent", reload_id=None, previous_reload_id="old-reload", source_end=NOW
    )
    store.record_intent(intent, NOW)
    assert store.unfinished_intents() == [intent]
    done = ledger_row(previous_reload_id="old-reload", source_end=NOW)
    settled = [
        {
            "source_reload_id": "r1",
            "target_app_id": "app-b",
            "sweep_id": "s1",
            "decision": "triggered",
            "reason": "triggered",
        }
    ]
    store.resolve_intent(done, settled, NOW)
    assert store.unfinished_intents() == []
    assert store.settled_edges(["r1"]) == {("r1", "app-b")}


def test_recent_sweeps_decode_their_json_columns(store: Store) -> None:
    store.commit_sweep(full_commit(), NOW)
    (sweep,) = store.recent_sweeps()
    assert sweep["decisions"] == {"triggered": 1}
    assert sweep["api_calls"] == {"GET /api/v1/audits": 1}


def test_recent_decisions_decode_their_json_columns(store: Store) -> None:
    store.commit_sweep(full_commit(), NOW)
    (decision,) = store.recent_decisions()
    assert decision["sources"] == ["app-a"]
    assert decision["source_reloads"] == ["r1"]


def test_a_start_settled_after_its_reload_finished_is_left_for_the_sweep_to_judge(
    store: Store,
) -> None:
    store.record_intent(ledger_row(state="intent", reload_id=None), NOW)
    # An earlier sweep read the reload's finish event before the start was confirmed.
    failed = handled("e9", "new-reload", "s0", outcome="failure")
    store.db.table("handled_events").insert(failed)
    assert store.settled_without_outcome() == []  # not settled yet: not known to be ours
    store.resolve_intent(ledger_row(), [], NOW)
    (finish,) = store.settled_without_outcome()
    assert (finish.reload_id, finish.outcome, finish.app_id) == ("new-reload", "failure", "app-a")


def test_a_start_with_its_outcome_is_not_judged_again(store: Store) -> None:
    store.record_intent(ledger_row(state="intent", reload_id=None), NOW)
    store.db.table("handled_events").insert(handled("e9", "new-reload", "s0", outcome="failure"))
    store.resolve_intent(ledger_row(), [], NOW)
    store.db.execute("update ledger set outcome = 'failed'")
    assert store.settled_without_outcome() == []


def test_only_starts_settled_lately_are_judged(store: Store) -> None:
    # A row written before outcomes were recorded has none either: judging it would alert on
    # every old failure after an upgrade.
    store.record_intent(ledger_row(state="intent", reload_id=None), NOW)
    store.db.table("handled_events").insert(handled("e9", "new-reload", "s0", outcome="failure"))
    store.resolve_intent(ledger_row(), [], NOW)
    assert store.settled_without_outcome(NOW + timedelta(seconds=1)) == []
    assert len(store.settled_without_outcome(NOW)) == 1

"""SweepReport: the ``sweep --json`` object of SPEC section 5 and the sweeps table row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from jobs.decide import Candidate
from jobs.report import Outcome, SweepReport
from qlik.events import FinishedReload
from tests.contract import SWEEP_JSON_KEYS

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
A = "aaaaaaaa-0000-0000-0000-000000000001"
B = "bbbbbbbb-0000-0000-0000-000000000002"
T = "cccccccc-0000-0000-0000-000000000003"
U = "dddddddd-0000-0000-0000-000000000004"


def run(app_id: str, reload_id: str) -> FinishedReload:
    ended = NOW - timedelta(minutes=3)
    return FinishedReload(f"ev-{reload_id}", ended, app_id, reload_id, "success", ended)


def report() -> SweepReport:
    both = Candidate(T, (run(A, "r1"), run(B, "r2"), run(A, "r3")))
    one = Candidate(U, (run(B, "r2"),))
    return SweepReport(
        sweep_id="sweep-1",
        dry_run=False,
        window_from=NOW - timedelta(minutes=65),
        window_to=NOW,
        events_read=7,
        events_new=3,
        events_invalid=1,
        sources=2,
        outcomes=[
            Outcome(both, "triggered", "triggered", reload_id="new-1"),
            Outcome(one, "skipped", "tolerance"),
        ],
        api_calls={"POST /api/v1/reloads": 1, "GET /api/v1/audits": 2},
        duration_s=1.23456,
        exit_code=0,
    )


def test_as_json_is_the_spec_object() -> None:
    assert report().as_json() == {
        "sweep_id": "sweep-1",
        "dry_run": False,
        "window": {"from": "2026-11-22T08:55:00.000Z", "to": "2026-11-22T10:00:00.000Z"},
        "events": {"read": 7, "new": 3, "invalid": 1},
        "sources": 2,
        "decisions": [
            {
                "app_id": T,
                "decision": "triggered",
                "reason": "triggered",
                "reload_id": "new-1",
                "sources": [A, B],
            },
            {
                "app_id": U,
                "decision": "skipped",
                "reason": "tolerance",
                "reload_id": None,
                "sources": [B],
            },
        ],
        "api_calls": {"GET /api/v1/audits": 2, "POST /api/v1/reloads": 1},
        "duration_s": 1.235,
    }


def test_as_json_has_exactly_the_spec_keys() -> None:
    shown = report().as_json()
    assert tuple(shown) == SWEEP_JSON_KEYS
    assert set(shown["window"]) == {"from", "to"}
    assert set(shown["events"]) == {"read", "new", "invalid"}
    for decision in shown["decisions"]:
        assert set(decision) == {"app_id", "decision", "reason", "reload_id", "sources"}


def test_as_json_survives_json_dumps() -> None:
    text = json.dumps(report().as_json())
    assert json.loads(text) == report().as_json()


def test_empty_sweep_json() -> None:
    empty = SweepReport("s0", True, NOW - timedelta(hours=1), NOW)
    assert empty.as_json() == {
        "sweep_id": "s0",
        "dry_run": True,
        "window": {"from": "2026-11-22T09:00:00.000Z", "to": "2026-11-22T10:00:00.000Z"},
        "events": {"read": 0, "new": 0, "invalid": 0},
        "sources": 0,
        "decisions": [],
        "api_calls": {},
        "duration_s": 0.0,
    }


def test_reason_counts() -> None:
    assert report().reason_counts() == {"triggered": 1, "tolerance": 1}


def test_as_record_fields() -> None:
    started = NOW - timedelta(seconds=2)
    assert report().as_record(started) == {
        "sweep_id": "sweep-1",
        "started_at": "2026-11-22T09:59:58.000Z",
        "finished_at": "2026-11-22T09:59:59.235Z",
        "dry_run": 0,
        "window_from": "2026-11-22T08:55:00.000Z",
        "window_to": "2026-11-22T10:00:00.000Z",
        "events_read": 7,
        "events_new": 3,
        "events_invalid": 1,
        "sources": 2,
        "decisions": {"triggered": 1, "tolerance": 1},
        "api_calls": {"POST /api/v1/reloads": 1, "GET /api/v1/audits": 2},
        "duration_s": 1.235,
        "exit_code": 0,
        "late_events": 0,
        "late_worst_s": 0.0,
        "rate_limited": 0,
    }


def test_dry_run_is_stored_as_one() -> None:
    dry = SweepReport("s0", True, NOW, NOW)
    assert dry.as_record(NOW)["dry_run"] == 1


def test_outcome_json_lists_distinct_sources_in_first_seen_order() -> None:
    candidate = Candidate(T, (run(B, "r1"), run(A, "r2"), run(B, "r3")))
    outcome = Outcome(candidate, "failed", "access_denied", detail="403", retry=False)
    assert outcome.app_id == T
    assert outcome.as_json() == {
        "app_id": T,
        "decision": "failed",
        "reason": "access_denied",
        "reload_id": None,
        "sources": [B, A],
    }

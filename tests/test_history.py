"""Read-only history queries: repeated skips, and a fresh machine's empty history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from qlik.times import format_time
from state.database import StateError, open_database
from state.history import (
    RepeatedSkip,
    app_label,
    app_names,
    clip,
    history_of,
    read_history,
    repeatedly_skipped,
    short_id,
    skip_as_json,
)
from state.store import LedgerRow, Store, SweepCommit

MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
APP = "app-denied"


@pytest.fixture
def db() -> Iterator[Database]:
    database = open_database(":memory:")
    yield database
    database.close()


def sweep_at(
    db: Database, hours: int, decisions: dict[str, tuple[str, str]], detail: str = ""
) -> None:
    """Commit one sweep ``hours`` after Monday 08:00 with these (decision, reason) per app."""
    now = MONDAY + timedelta(hours=hours)
    sweep_id = f"{now:%Y%m%dT%H%M%SZ}-0000"
    rows = [
        LedgerRow(sweep_id, app, decision, reason, ("src",), ("r",), detail=detail)
        for app, (decision, reason) in decisions.items()
    ]
    record: dict[str, Any] = {"sweep_id": sweep_id, "started_at": format_time(now)}
    Store(db).commit_sweep(SweepCommit(sweep=record, ledger=rows), now)


def denied(db: Database, times: int, app: str = APP, start_hour: int = 0) -> None:
    for hour in range(start_hour, start_hour + times):
        sweep_at(db, hour, {app: ("skipped", "access_denied")}, detail="403: personal space")


def test_an_app_denied_in_each_of_its_last_decisions_is_reported_since_the_first(
    db: Database,
) -> None:
    denied(db, 12)

    (skip,) = repeatedly_skipped(db)

    assert skip == RepeatedSkip(
        APP,
        "skipped",
        "access_denied",
        12,
        since=format_time(MONDAY),
        last=format_time(MONDAY + timedelta(hours=11)),
        detail="403: personal space",
    )


def test_the_run_counts_only_from_the_last_start(db: Database) -> None:
    denied(db, 4)
    sweep_at(db, 4, {APP: ("triggered", "triggered")})
    denied(db, 3, start_hour=5)

    (skip,) = repeatedly_skipped(db)

    assert skip.times == 3
    assert skip.since == format_time(MONDAY + timedelta(hours=5))


def test_a_start_after_the_skips_clears_the_app(db: Database) -> None:
    denied(db, 5)
    sweep_at(db, 5, {APP: ("triggered", "triggered")})
    assert repeatedly_skipped(db) == []


def test_an_intent_in_flight_breaks_the_run(db: Database) -> None:
    denied(db, 5)
    sweep_at(db, 5, {APP: ("pending", "intent")})
    assert repeatedly_skipped(db) == []


def test_changing_reasons_are_not_a_repetition(db: Database) -> None:
    for hour, reason in enumerate(["access_denied", "running", "access_denied", "running"]):
        sweep_at(db, hour, {APP: ("skipped", reason)})
    assert repeatedly_skipped(db) == []


def test_fewer_than_the_threshold_is_not_reported(db: Database) -> None:
    denied(db, 2)
    assert repeatedly_skipped(db) == []
    assert [skip.times for skip in repeatedly_skipped(db, min_times=2)] == [2]


def test_failures_for_one_reason_count_as_well(db: Database) -> None:
    for hour in range(3):
        sweep_at(db, hour, {APP: ("failed", "transient")})
    (skip,) = repeatedly_skipped(db)
    assert (skip.decision, skip.reason, skip.times) == ("failed", "transient", 3)


def test_apps_are_judged_apart_and_the_longest_runs_come_first(db: Database) -> None:
    for hour in range(5):
        decisions = {
            "app-often": ("skipped", "not_found"),
            "app-ok": ("triggered", "triggered"),
        }
        if hour >= 2:
            decisions["app-lately"] = ("skipped", "not_managed")
        sweep_at(db, hour, decisions)

    found = [(skip.app_id, skip.reason, skip.times) for skip in repeatedly_skipped(db)]

    assert found == [("app-often", "not_found", 5), ("app-lately", "not_managed", 3)]


def test_limit_keeps_the_longest_runs(db: Database) -> None:
    denied(db, 4, app="app-4")
    denied(db, 3, app="app-3", start_hour=10)
    assert [skip.app_id for skip in repeatedly_skipped(db, limit=1)] == ["app-4"]


def test_a_missing_database_is_an_empty_history_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "state.db"

    history = read_history(path)

    assert (history.exists, history.cursor, history.sweeps) == (False, None, [])
    assert history.decisions == [] and history.repeatedly_skipped == []
    assert not path.parent.exists()


def test_a_path_that_cannot_hold_a_database_is_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="is a file, not a folder"):
        read_history(blocker / "state.db")


def test_history_of_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = open_database(path)
    denied(db, 3)
    db.close()

    history = read_history(path, sweeps=2)

    assert history.exists
    assert [sweep["started_at"] for sweep in history.sweeps] == [
        format_time(MONDAY + timedelta(hours=2)),
        format_time(MONDAY + timedelta(hours=1)),
    ]
    assert len(history.decisions) == 3
    assert [skip.times for skip in history.repeatedly_skipped] == [3]


# --- issue 14 item 5: app names without a call, sweeps whatever their record holds ------------


def test_app_names_are_those_the_sweeps_saw_and_none_for_the_others(db: Database) -> None:
    names = [
        {"app_id": f"app-{n}", "name": f"App {n}", "updated_at": format_time(MONDAY)}
        for n in range(1200)  # more than one statement's variables
    ]
    record = {"sweep_id": "s1", "started_at": format_time(MONDAY)}
    Store(db).commit_sweep(SweepCommit(sweep=record, app_names=names), MONDAY)

    wanted = [f"app-{n}" for n in range(0, 1200, 7)] + ["app-unknown"]
    found = app_names(db, wanted)

    assert found == {f"app-{n}": f"App {n}" for n in range(0, 1200, 7)}
    assert app_names(db, []) == {}


def test_history_names_the_apps_it_shows(db: Database) -> None:
    denied(db, 3)
    names = [{"app_id": APP, "name": "Accounts Payable", "updated_at": format_time(MONDAY)}]
    Store(db).commit_sweep(SweepCommit(sweep={"sweep_id": "s-names"}, app_names=names), MONDAY)

    history = history_of(db, "test")

    assert history.names == {APP: "Accounts Payable"}
    assert history.name_of(APP) == "Accounts Payable"
    assert history.name_of("app-other") is None and history.name_of(None) is None
    assert skip_as_json(history.repeatedly_skipped[0], "Accounts Payable")["app_name"] == (
        "Accounts Payable"
    )


def test_a_sweep_record_without_counts_is_listed_with_the_others(db: Database) -> None:
    denied(db, 2)
    aborted = {"sweep_id": "aborted", "started_at": format_time(MONDAY + timedelta(hours=5))}
    aborted |= {"exit_code": 2, "decisions": None, "api_calls": None, "events_read": None}
    Store(db).commit_sweep(SweepCommit(sweep=aborted), MONDAY + timedelta(hours=5))

    history = history_of(db, "test")

    assert len(history.sweeps) == 3
    assert history.sweeps[0]["sweep_id"] == "aborted"
    assert history.sweeps[0]["decisions"] is None and history.sweeps[0]["exit_code"] == 2


def test_an_app_label_is_its_name_clipped_and_its_short_id() -> None:
    guid = "a281c98c-fa79-516a-8b66-1d91e2762055"
    assert app_label(guid, "General Ledger") == "General Ledger (a281c98c)"
    assert app_label(guid, "Accounts Payable and Receivable") == "Accounts Payab\u2026 (a281c98c)"
    assert app_label(guid, "Accounts Payable", width=30, full_id=True) == (
        f"Accounts Payable ({guid})"
    )
    assert app_label(guid, None) == "a281c98c"
    assert app_label(guid, "", full_id=True) == guid
    assert clip("exactly", 7) == "exactly" and clip("too long", 7) == "too lo\u2026"


def test_every_table_shows_an_id_the_same_short_way() -> None:
    # Two scripts made together share their first characters (a creation time): the end differs.
    first, second = "6565a1b2c3d4e5f600000001", "6565a1b2c3d4e5f600000002"
    assert (short_id(first), short_id(second)) == ("00000001", "00000002")
    assert short_id("3fa9c1d2-0000-4000-8000-000000000001") == "3fa9c1d2"
    assert app_label(first, "Extract") == "Extract (00000001)"
    assert app_label(first, None, full_id=True) == first

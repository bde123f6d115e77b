"""``reload-chain health``: the pure verdict, and the probe through ``main()`` on a real file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from jobs.health import HealthVerdict, default_max_age_minutes, judge
from qlik.times import format_time
from scheduler.cli import main
from state.database import open_database
from state.metrics_reads import SweepHistory, SweepMark, sweep_history
from tests.clocks import ManualClock

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
JSON_KEYS = {
    "status",
    "reason",
    "last_sweep_at",
    "last_success_at",
    "last_exit_code",
    "consecutive_failures",
    "max_age_minutes",
}


def mark(minutes_ago: float, exit_code: int | None = 0) -> SweepMark:
    ended = NOW - timedelta(minutes=minutes_ago)
    return SweepMark(ended - timedelta(seconds=2), ended, exit_code)


def verdict_of(*codes_newest_first: tuple[float, int], max_age: float = 15.0) -> HealthVerdict:
    """The verdict on sweeps recorded in a database, each (minutes ago, exit code)."""
    db = open_database(":memory:")
    for minutes_ago, code in codes_newest_first:
        record(db, NOW - timedelta(minutes=minutes_ago), code)
    return judge(sweep_history(db), NOW, max_age)


def record(db: Database, ended: datetime, exit_code: int, *, dry_run: int = 0) -> None:
    started = ended - timedelta(seconds=2)
    db.table("sweeps").insert(
        {
            "sweep_id": f"{started:%Y%m%dT%H%M%S}-{exit_code}",
            "started_at": format_time(started),
            "finished_at": format_time(ended),
            "dry_run": dry_run,
            "decisions": "{}",
            "api_calls": "{}",
            "exit_code": exit_code,
        }
    )


# --- the verdict -------------------------------------------------------------------------------


def test_no_sweep_ever_is_unhealthy() -> None:
    verdict = judge(SweepHistory(), NOW, 15)
    assert (verdict.healthy, verdict.exit_code) == (False, 1)
    assert verdict.line() == "UNHEALTHY: no sweep recorded yet"


def test_a_recent_success_is_healthy() -> None:
    verdict = verdict_of((2, 0))
    assert verdict.exit_code == 0
    assert verdict.line() == (
        "OK: last successful sweep 2 min ago at 2026-11-22T09:58:00.000Z (limit 15 min)"
    )


def test_a_stale_success_is_unhealthy_and_says_how_stale() -> None:
    verdict = verdict_of((1, 1), (47, 0))
    assert verdict.exit_code == 1
    assert verdict.line() == (
        "UNHEALTHY: no successful sweep for 47 min (limit 15 min); "
        "last sweep exit 1 at 2026-11-22T09:59:00.000Z"
    )


def test_sweeps_that_never_succeeded_are_unhealthy() -> None:
    verdict = verdict_of((1, 2))
    assert verdict.line().startswith("UNHEALTHY: no successful sweep ever (limit 15 min)")


def test_three_failures_in_a_row_are_unhealthy_even_after_a_recent_success() -> None:
    verdict = verdict_of((1, 1), (2, 2), (3, 1), (4, 0))
    assert verdict.exit_code == 1
    assert verdict.line() == (
        "UNHEALTHY: 3 sweeps in a row failed (last exits 1, 2, 1; newest at "
        "2026-11-22T09:59:00.000Z); last successful sweep 4 min ago at 2026-11-22T09:56:00.000Z"
    )
    assert verdict.as_json()["consecutive_failures"] == 3


def test_two_failures_are_still_healthy_and_shown() -> None:
    verdict = verdict_of((1, 1), (2, 1), (3, 0))
    assert verdict.exit_code == 0
    assert verdict.line().endswith("; last sweep exit 1 at 2026-11-22T09:59:00.000Z")


def test_lock_held_sweeps_count_neither_way() -> None:
    # Exit 3 between failures neither breaks the run of failures nor counts as one.
    assert verdict_of((1, 1), (2, 3), (3, 1), (4, 3), (5, 0)).exit_code == 0
    assert verdict_of((1, 3), (2, 1), (3, 3), (4, 1), (5, 2), (6, 0)).exit_code == 1
    # Nor as a success: the newest success is the one that matters for its age.
    assert verdict_of((1, 3), (20, 0)).exit_code == 1


def test_dry_runs_are_not_sweeps() -> None:
    db = open_database(":memory:")
    record(db, NOW - timedelta(minutes=1), 0, dry_run=1)
    assert sweep_history(db) == SweepHistory()


def test_the_limit_is_inclusive_and_a_future_record_is_fresh() -> None:
    assert judge(SweepHistory(mark(15), mark(15)), NOW, 15).exit_code == 0
    assert judge(SweepHistory(mark(15.1), mark(15.1)), NOW, 15).exit_code == 1
    verdict = judge(SweepHistory(mark(-3), mark(-3)), NOW, 15)
    assert verdict.line().startswith("OK: last successful sweep 0 s ago")


@pytest.mark.parametrize(
    ("interval", "expected"), [(0.25, 15.0), (0.5, 15.0), (5, 15.0), (10, 30.0), (60, 180.0)]
)
def test_default_max_age_is_three_intervals_and_at_least_15_minutes(
    interval: float, expected: float
) -> None:
    assert default_max_age_minutes(interval) == expected


def test_json_has_the_keys_and_the_times() -> None:
    payload = verdict_of((1, 1), (3, 0)).as_json()
    assert set(payload) == JSON_KEYS
    assert payload["status"] == "ok"
    assert payload["last_sweep_at"] == "2026-11-22T09:59:00.000Z"
    assert payload["last_success_at"] == "2026-11-22T09:57:00.000Z"
    assert (payload["last_exit_code"], payload["consecutive_failures"]) == (1, 1)
    assert payload["max_age_minutes"] == 15.0


# --- the probe, through main() -------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The state database's path, for settings without any tenant: health never needs one."""
    path = tmp_path / "data" / "state.db"
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(path))
    return path


@pytest.fixture
def sweeps(database: Path) -> Iterator[Database]:
    db = open_database(database)
    yield db
    db.close()


@pytest.fixture(autouse=True)
def _logging(fresh_logging: None) -> None:
    """main() replaces the log sinks; fresh_logging puts them back."""


def probe(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    code = main(["health", *flags], clock=ManualClock(NOW))
    return code, capsys.readouterr().out


def test_no_database_is_no_sweep_ever_and_is_not_created(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert probe(capsys) == (1, "UNHEALTHY: no sweep recorded yet\n")
    assert not database.parent.exists()


def test_a_healthy_database_exits_0_with_one_line_and_is_only_read(
    database: Path, sweeps: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    record(sweeps, NOW - timedelta(minutes=2), 0)
    before = database.read_bytes()
    code, out = probe(capsys)
    assert code == 0
    assert out.count("\n") == 1 and out.startswith("OK: last successful sweep 2 min ago")
    assert database.read_bytes() == before


def test_max_age_comes_from_the_flag_or_the_interval(
    sweeps: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    record(sweeps, NOW - timedelta(minutes=20), 0)
    assert probe(capsys)[0] == 1  # default interval 0.5 min: 15 minutes
    assert probe(capsys, "--max-age-minutes", "25")[0] == 0
    monkeypatch.setenv("RELOAD_CHAIN_INTERVAL_MINUTES", "10")
    code, out = probe(capsys, "--json")
    assert code == 0 and json.loads(out)["max_age_minutes"] == 30.0


def test_json_is_one_object_on_one_line(
    sweeps: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    for minutes_ago in (1, 2, 3):
        record(sweeps, NOW - timedelta(minutes=minutes_ago), 2)
    code, out = probe(capsys, "--json")
    payload = json.loads(out)
    assert code == 1 and out.count("\n") == 1
    assert set(payload) == JSON_KEYS
    assert (payload["status"], payload["last_exit_code"]) == ("unhealthy", 2)
    assert payload["reason"].startswith("no successful sweep ever")


def test_a_damaged_database_exits_2_and_is_left_as_it_is(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is not a database" * 200)
    code, out = probe(capsys)
    assert code == 2
    assert out.count("\n") == 1 and out.startswith("ERROR: state database ")
    assert database.read_bytes() == b"this is not a database" * 200
    code, out = probe(capsys, "--json")
    assert (code, json.loads(out)["status"]) == (2, "error")


def test_a_path_that_cannot_hold_a_database_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "file" / "state.db"))
    assert probe(capsys)[0] == 2


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "1e9"])
def test_a_bad_max_age_is_a_settings_error_naming_the_flag(
    database: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["health", "--max-age-minutes", value], clock=ManualClock(NOW))
    captured = capsys.readouterr()
    assert code == 2
    assert "--max-age-minutes" in captured.err and captured.out == ""


def test_bad_settings_exit_2(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELOAD_CHAIN_INTERVAL_MINUTES", "0.01")
    assert probe(capsys)[0] == 2

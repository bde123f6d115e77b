"""The daily incremental vacuum: new databases give pruned space back, older ones are switched
once when small or told how."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from state import vacuum
from state.database import open_database
from state.vacuum import VACUUMED, vacuum_daily

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def filled(db: Database, rows: int = 4000) -> None:
    """Rows, then deleted: about 2 MB of free pages inside the file."""
    with db.atomic():
        db.table("handled_events").insert_all(
            {"event_id": f"e{n}", "reload_id": "x" * 400} for n in range(rows)
        )
    with db.atomic():
        db.execute("delete from handled_events")


def auto_vacuum(db: Database) -> int:
    return int(db.execute("PRAGMA auto_vacuum").fetchone()[0])


def marked(db: Database) -> list[str]:
    return [row[0] for row in db.execute("select name from cursor").fetchall()]


def test_a_new_database_gives_pruned_pages_back_once_a_day(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = open_database(path)
    assert auto_vacuum(db) == vacuum.INCREMENTAL
    filled(db)
    full = path.stat().st_size

    vacuum_daily(db, NOW)
    shrunk = path.stat().st_size
    filled(db)
    vacuum_daily(db, NOW + timedelta(hours=23))  # the same day: nothing
    later = path.stat().st_size
    vacuum_daily(db, NOW + timedelta(days=1))

    assert shrunk < full / 2
    assert later > shrunk
    assert path.stat().st_size < later / 2
    assert marked(db) == [VACUUMED]
    db.close()


def test_a_few_free_pages_are_left_for_new_rows_and_nothing_is_recorded() -> None:
    db = open_database(":memory:")
    filled(db, rows=20)

    vacuum_daily(db, NOW)

    assert db.execute("PRAGMA freelist_count").fetchone()[0] > 0
    assert marked(db) == []


def older_database(path: Path) -> Database:
    """A database from before auto_vacuum was set: its first table came first."""
    connection = sqlite3.connect(path)
    connection.execute("create table early (x)")
    connection.commit()
    connection.close()
    return open_database(path)


def test_an_older_small_database_is_switched_at_once(tmp_path: Path, logged: list[str]) -> None:
    db = older_database(tmp_path / "state.db")
    assert auto_vacuum(db) == vacuum.NONE

    vacuum_daily(db, NOW)

    assert auto_vacuum(db) == vacuum.INCREMENTAL
    assert any("now gives pruned space back" in line for line in logged)
    db.close()


def test_an_older_large_database_is_told_how_once(
    tmp_path: Path, logged: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vacuum, "SMALL_BYTES", 0)
    path = tmp_path / "state.db"
    db = older_database(path)

    vacuum_daily(db, NOW)
    vacuum_daily(db, NOW + timedelta(days=2))

    advice = [line for line in logged if line.startswith("WARNING")]
    assert len(advice) == 1
    assert "PRAGMA auto_vacuum = INCREMENTAL" in advice[0] and str(path) in advice[0]
    assert auto_vacuum(db) == vacuum.NONE
    db.close()


def test_a_vacuum_that_cannot_run_is_a_warning_tried_the_next_day(
    monkeypatch: pytest.MonkeyPatch, logged: list[str]
) -> None:
    db = open_database(":memory:")
    filled(db)
    calls = []

    def busy(*_args: object) -> bool:
        calls.append(1)
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(vacuum, "_vacuum", busy)
    vacuum_daily(db, NOW)
    vacuum_daily(db, NOW + timedelta(hours=1))
    vacuum_daily(db, NOW + timedelta(days=1))

    assert len(calls) == 2
    assert sum(line.startswith("WARNING") for line in logged) == 2

"""Opening the state database: tables, named migrations applied once, and error mapping."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from state.database import (
    DamagedDatabaseError,
    SchemaTooNewError,
    StateError,
    check_integrity,
    migrate,
    open_database,
)
from state.migrations import MIGRATIONS, Migration

TABLES = {
    "native_tasks",
    "migrations",
    "cursor",
    "handled_events",
    "invalid_events",
    "settled_edges",
    "ledger",
    "sweeps",
    "lease",
    "chain_runs",
    "app_names",
    "alerts",
    "deadline_days",
    "totals",
}


ALL_MIGRATIONS = [migration.name for migration in MIGRATIONS]


def migration_names(db: Database) -> list[str]:
    return [row["name"] for row in db.table("migrations").rows]


def test_memory_database_has_every_table() -> None:
    db = open_database(":memory:")
    assert set(db.table_names()) == TABLES
    assert migration_names(db) == ALL_MIGRATIONS


def test_file_database_has_every_table(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.db"
    db = open_database(path)
    assert path.is_file()
    assert set(db.table_names()) == TABLES
    db.close()


def test_file_database_sets_busy_timeout(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state.db")
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    db.close()


def test_migrations_are_named_and_unique() -> None:
    names = [migration.name for migration in MIGRATIONS]
    assert names
    assert len(set(names)) == len(names)
    assert names == sorted(names)


def test_migrate_returns_the_names_it_applied_and_nothing_the_second_time() -> None:
    db = Database(memory=True)
    assert migrate(db, MIGRATIONS, ":memory:") == ALL_MIGRATIONS
    assert migrate(db, MIGRATIONS, ":memory:") == []
    assert migration_names(db) == ALL_MIGRATIONS


def test_migration_time_is_stamped_by_sqlite_in_utc() -> None:
    """The Python wall clock is read only in qlik/clock.py; SQLite stamps migrations."""
    db = open_database(":memory:")
    rows = list(db.table("migrations").rows)
    assert len(rows) == len(MIGRATIONS)
    for row in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", row["applied_at"])


def test_reopening_a_file_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_database(path).close()
    db = Database(sqlite3.connect(path))
    assert migrate(db, MIGRATIONS, str(path)) == []
    assert db.table("migrations").count == len(MIGRATIONS)
    db.close()


def test_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = open_database(path)
    db.table("cursor").insert({"name": "audit_events", "position": "p", "updated_at": "u"})
    db.close()
    again = open_database(path)
    assert list(again.table("cursor").rows) == [
        {"name": "audit_events", "position": "p", "updated_at": "u"}
    ]
    again.close()


def test_new_migration_is_applied_on_top_of_old_ones(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_database(path).close()

    def add_notes(db: Database) -> None:
        db.table("notes").create({"text": str})

    newer = (*MIGRATIONS, Migration("0099_notes", add_notes))
    db = open_database(path, newer)
    assert "notes" in db.table_names()
    assert migration_names(db) == [*ALL_MIGRATIONS, "0099_notes"]
    db.close()


def test_unknown_migration_means_schema_too_new(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = open_database(path)
    db.table("migrations").insert({"name": "0099_from_the_future", "applied_at": "x"})
    db.close()

    with pytest.raises(SchemaTooNewError) as raised:
        open_database(path)

    assert raised.value.exit_code == 2
    assert str(path) in str(raised.value)
    assert "0099_from_the_future" in str(raised.value)


def test_schema_too_new_is_a_state_error() -> None:
    assert issubclass(SchemaTooNewError, StateError)
    assert StateError.exit_code == 1


def _create_first(db: Database) -> None:
    db.table("first").create({"id": int}, pk="id")


def _half_done(db: Database) -> None:
    db.table("second").create({"id": int}, pk="id")
    db.table("second").insert({"id": 1})
    raise RuntimeError("step two broke")


def test_failing_migration_is_rolled_back_and_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    broken = (Migration("0001_first", _create_first), Migration("0002_half", _half_done))

    with pytest.raises(RuntimeError, match="step two broke"):
        open_database(path, broken)

    db = Database(sqlite3.connect(path))
    assert "second" not in db.table_names()
    assert "first" in db.table_names()
    assert migration_names(db) == ["0001_first"]
    db.close()


def test_failed_migration_is_applied_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    broken = (Migration("0001_first", _create_first), Migration("0002_half", _half_done))
    with pytest.raises(RuntimeError):
        open_database(path, broken)

    def whole(db: Database) -> None:
        db.table("second").create({"id": int}, pk="id")

    db = open_database(
        path, (Migration("0001_first", _create_first), Migration("0002_half", whole))
    )
    assert migration_names(db) == ["0001_first", "0002_half"]
    assert db.table("second").count == 0
    db.close()


def test_sqlite_error_in_migration_becomes_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"

    def bad_sql(db: Database) -> None:
        db.table("third").create({"id": int}, pk="id")
        db.execute("create table broken (")

    with pytest.raises(StateError, match=str(path)):
        open_database(path, (Migration("0001_bad", bad_sql),))

    db = Database(sqlite3.connect(path))
    assert "third" not in db.table_names()
    assert migration_names(db) == []
    db.close()


def test_garbage_file_raises_state_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a sqlite database at all\x00\xff" * 64)

    with pytest.raises(StateError) as raised:
        open_database(path)

    assert str(path) in str(raised.value)
    assert not isinstance(raised.value, SchemaTooNewError)
    assert raised.value.exit_code == 2  # damaged: it will not mend itself


STATUS_INDEXES = {
    ("ledger", ("app_id", "updated_at")),
    ("ledger", ("updated_at",)),
    ("sweeps", ("started_at",)),
}


def indexed_columns(db: Database) -> set[tuple[str, tuple[str, ...]]]:
    return {
        (table, tuple(index.columns))
        for table in ("ledger", "sweeps")
        for index in db.table(table).indexes
    }


def test_status_indexes_exist(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state.db")
    assert indexed_columns(db) >= STATUS_INDEXES
    assert "0003_status_indexes" in migration_names(db)
    db.close()


def test_status_reads_newest_rows_through_the_indexes(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state.db")
    for sql, index in [
        ("select * from sweeps order by started_at desc limit 5", "started_at"),
        ("select * from ledger order by updated_at desc limit 5", "updated_at"),
    ]:
        plan = " ".join(str(row[-1]) for row in db.execute(f"explain query plan {sql}"))
        assert "USING INDEX" in plan and index in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    db.close()


def test_a_database_from_before_0003_gets_the_indexes_on_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = Database(sqlite3.connect(path))
    assert migrate(old, MIGRATIONS[:2], str(path)) == ALL_MIGRATIONS[:2]
    old.table("sweeps").insert({"sweep_id": "s1", "started_at": "2026-11-22T10:00:00.000Z"})
    assert not STATUS_INDEXES & indexed_columns(old)
    old.close()

    db = open_database(path)

    assert migration_names(db) == ALL_MIGRATIONS
    assert indexed_columns(db) >= STATUS_INDEXES
    assert [row["sweep_id"] for row in db.table("sweeps").rows] == ["s1"]
    db.close()


def test_migrate_applies_only_the_newer_ones_to_a_0002_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = Database(sqlite3.connect(path))
    migrate(db, MIGRATIONS[:2], str(path))
    assert migrate(db, MIGRATIONS, str(path)) == [
        "0003_status_indexes",
        "0004_fences_and_late_events",
        "0005_in_flight_windows",
        "0006_chain_runs_and_alerts",
        "0007_reload_start",
        "0008_retention_totals",
        "0009_native_tasks",
        "0010_native_task_runs",
    ]
    assert migrate(db, MIGRATIONS, str(path)) == []
    db.close()


def damaged_database(path: Path) -> Path:
    """A database whose file opens, but one of whose b-tree pages is garbage."""
    db = open_database(path)
    rows = [{"event_id": f"e{n}", "reload_id": f"r{n}", "outcome": "success"} for n in range(2000)]
    db.table("handled_events").insert_all(rows)
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    # A page of the rows just written: the last pages hold them, whatever the schema before.
    target = (len(data) // page - 3) * page
    data[target + 8 : target + page] = bytes([0xA5]) * (page - 8)
    path.write_bytes(bytes(data))
    return path


def test_quick_check_names_a_damaged_database_in_one_line(tmp_path: Path) -> None:
    path = damaged_database(tmp_path / "state.db")
    db = open_database(path)
    with pytest.raises(DamagedDatabaseError) as caught:
        check_integrity(db, str(path))
    db.close()
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message and "damaged" in message and "backup" in message
    assert caught.value.exit_code == 2


def test_a_sound_database_passes_the_quick_check(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state.db")
    check_integrity(db, "state.db")
    db.close()

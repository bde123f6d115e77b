"""state.native_tasks: the kept task listing (migration 0009), written by the sweep's commit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from qlik.tasks import NativeTask, Upstream
from state.database import open_database
from state.migrations import MIGRATIONS
from state.native_tasks import NativeTaskStore, StoredNative
from state.rows import NativeSnapshot, SweepCommit
from state.store import Store

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"
SCHEDULED = NativeTask(
    "t-a", "Reload A", A, True, last_run_ended_at=NOW - timedelta(minutes=3, milliseconds=250)
)
EVENT = NativeTask(
    "t-b",
    "Reload B — after A",
    B,
    False,
    "CONSECUTIVE-FAILURES",
    (Upstream("t-a", A, "success"), Upstream(None, A, "any"), Upstream("t-x", None, "failure")),
)


@pytest.fixture
def store() -> Iterator[Store]:
    db = open_database(":memory:")
    yield Store(db)
    db.close()


def test_migrations_0009_and_0010_create_the_native_tasks_table(store: Store) -> None:
    assert [m.name for m in MIGRATIONS[-2:]] == ["0009_native_tasks", "0010_native_task_runs"]
    columns = {column.name: column.type for column in store.db.table("native_tasks").columns}
    assert columns == {
        "task_id": "TEXT",
        "name": "TEXT",
        "app_id": "TEXT",
        "app_name": "TEXT",
        "enabled": "INTEGER",
        "disabled_code": "TEXT",
        "upstreams": "TEXT",
        "last_run_ended_at": "TEXT",
        "problem": "TEXT",
        "read_at": "TEXT",
        "last_run_status": "TEXT",
        "last_run_reload_id": "TEXT",
        "fires_alone": "INTEGER",
    }
    assert store.db.table("native_tasks").pks == ["task_id"]


def test_nothing_is_kept_before_the_first_listing(store: Store) -> None:
    assert NativeTaskStore.of(store).stored() == StoredNative()


def test_a_kept_listing_reads_back_unchanged(store: Store) -> None:
    tasks = NativeTaskStore.of(store)
    problems = {"t-b": "disabled:CONSECUTIVE-FAILURES"}
    tasks.keep(NativeSnapshot(NOW, (EVENT, SCHEDULED), problems))

    stored = tasks.stored()

    assert stored == StoredNative((SCHEDULED, EVENT), problems, NOW, None)


def test_a_new_listing_replaces_the_kept_one(store: Store) -> None:
    tasks = NativeTaskStore.of(store)
    tasks.keep(NativeSnapshot(NOW, (SCHEDULED, EVENT), {"t-b": "disabled:CONSECUTIVE-FAILURES"}))
    later = NOW + timedelta(minutes=20)
    tasks.keep(NativeSnapshot(later, (SCHEDULED,)))
    assert tasks.stored() == StoredNative((SCHEDULED,), {}, later, None)


def test_a_refusal_keeps_the_earlier_listing_and_a_later_listing_clears_it(store: Store) -> None:
    tasks = NativeTaskStore.of(store)
    tasks.keep(NativeSnapshot(NOW, (SCHEDULED,)))
    refused = NOW + timedelta(hours=1)
    tasks.keep(NativeSnapshot(refused, None))
    assert tasks.stored() == StoredNative((SCHEDULED,), {}, NOW, refused)

    listed = refused + timedelta(days=1)
    tasks.keep(NativeSnapshot(listed, (EVENT,)))
    assert tasks.stored() == StoredNative((EVENT,), {}, listed, None)


def test_the_listing_times_do_not_move_the_audit_cursor(store: Store) -> None:
    NativeTaskStore.of(store).keep(NativeSnapshot(NOW, (SCHEDULED,)))
    NativeTaskStore.of(store).keep(NativeSnapshot(NOW, None))
    assert store.cursor() is None


def test_the_sweeps_commit_keeps_its_snapshot(store: Store) -> None:
    sweep = {"sweep_id": "s-1", "started_at": "2026-11-22T10:00:00.000Z", "exit_code": 0}
    store.commit_sweep(SweepCommit(sweep, native_tasks=NativeSnapshot(NOW, (SCHEDULED,))), NOW)
    assert NativeTaskStore.of(store).stored().tasks == (SCHEDULED,)

    store.commit_sweep(SweepCommit(sweep | {"sweep_id": "s-2"}), NOW + timedelta(minutes=5))
    assert NativeTaskStore.of(store).stored().read_at == NOW  # a sweep that read none keeps it

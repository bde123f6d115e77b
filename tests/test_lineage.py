"""Lineage: the apps of the chain behind a reload, walked back through the ledger.

Ledger rows are written the way a sweep writes them (``Store.commit_sweep`` with ``LedgerRow``s)
into a real in-memory state database, then read back by ``lineage_of``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from jobs.lineage import chain_apps, lineage_of
from qlik.events import FinishedReload
from state.database import open_database
from state.store import LedgerRow, Started, Store, SweepCommit

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
A, B, C, D, X = (f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 6))


@pytest.fixture
def store() -> Iterator[Store]:
    db = open_database(":memory:")
    yield Store(db)
    db.close()


def started(
    app_id: str,
    reload_id: str | None,
    sources: tuple[str, ...],
    source_reloads: tuple[str, ...],
    *,
    decision: str = "triggered",
    sweep_id: str = "s1",
) -> LedgerRow:
    return LedgerRow(
        sweep_id,
        app_id,
        decision,
        decision,
        sources,
        source_reloads,
        reload_id=reload_id,
        source_end=NOW - timedelta(minutes=1),
    )


def commit(store: Store, *rows: LedgerRow, sweep_id: str = "s1") -> None:
    sweep = {"sweep_id": sweep_id, "started_at": NOW.isoformat()}
    store.commit_sweep(SweepCommit(sweep=sweep, ledger=list(rows)), NOW)


def finished(app_id: str, reload_id: str) -> FinishedReload:
    return FinishedReload(f"ev-{reload_id}", NOW, app_id, reload_id, "success", NOW)


def test_a_reload_nobody_here_started_is_left_out_meaning_its_own_app_alone(
    store: Store,
) -> None:
    # decide reads a missing entry as the run's own app (no set per run in a catch-up).
    assert lineage_of(store, [finished(A, "rA")]) == {}


def test_a_reload_we_started_carries_its_source_app(store: Store) -> None:
    commit(store, started(B, "rB", (A,), ("rA",)))
    assert lineage_of(store, [finished(B, "rB")]) == {"rB": frozenset({A, B})}


def test_a_multi_hop_chain_is_walked_across_sweeps_back_to_the_external_start(
    store: Store,
) -> None:
    commit(store, started(B, "rB", (A,), ("rA",), sweep_id="s1"), sweep_id="s1")
    commit(store, started(C, "rC", (B,), ("rB",), sweep_id="s2"), sweep_id="s2")
    commit(store, started(D, "rD", (C,), ("rC",), sweep_id="s3"), sweep_id="s3")
    assert lineage_of(store, [finished(D, "rD")]) == {"rD": frozenset({A, B, C, D})}
    # Half-way down the chain, only what came before it.
    assert lineage_of(store, [finished(C, "rC")]) == {"rC": frozenset({A, B, C})}


def test_fan_in_collects_every_branch(store: Store) -> None:
    commit(store, started(B, "rB", (X,), ("rX",)), started(C, "rC", (A, B), ("rA", "rB")))
    assert lineage_of(store, [finished(C, "rC")]) == {"rC": frozenset({A, B, C, X})}


def test_each_run_gets_its_own_chain(store: Store) -> None:
    commit(store, started(B, "rB", (A,), ("rA",)), started(D, "rD", (C,), ("rC",)))
    found = lineage_of(store, [finished(B, "rB"), finished(D, "rD"), finished(X, "rX")])
    assert found == {"rB": frozenset({A, B}), "rD": frozenset({C, D})}  # rX: only itself


def test_only_triggered_rows_count_as_started_by_this_program(store: Store) -> None:
    commit(
        store,
        started(B, "rB", (A,), ("rA",), decision="skipped"),
        started(C, "rC", (A,), ("rA",), decision="failed"),
    )
    assert store.started_reloads({"rB", "rC"}) == {}
    found = lineage_of(store, [finished(B, "rB"), finished(C, "rC")])
    assert found == {}  # neither was started here: each is its own app alone


def test_started_reloads_reads_back_what_commit_sweep_wrote(store: Store) -> None:
    commit(store, started(C, "rC", (A, B), ("rA", "rB")), started(D, None, (C,), ("rC",)))
    assert store.started_reloads({"rC", "unknown"}) == {
        "rC": Started(C, (A, B), ("rA", "rB")),
    }


def test_a_chain_that_loops_in_the_ledger_ends(store: Store) -> None:
    # rA was started for rB and rB for rA: impossible in time, but the walk must still end.
    commit(store, started(A, "rA", (B,), ("rB",)), started(B, "rB", (A,), ("rA",)))
    assert lineage_of(store, [finished(A, "rA")]) == {"rA": frozenset({A, B})}


def test_a_long_chain_is_walked_to_its_start(store: Store) -> None:
    apps = [f"00000000-0000-4000-8000-{n:012d}" for n in range(40)]
    rows = [
        started(apps[n], f"r{n}", (apps[n - 1],), (f"r{n - 1}",), sweep_id=f"s{n}")
        for n in range(1, 40)
    ]
    for row in rows:
        commit(store, row, sweep_id=row.sweep_id)
    assert lineage_of(store, [finished(apps[39], "r39")]) == {"r39": frozenset(apps)}


def test_more_runs_than_one_query_chunk_are_all_resolved(store: Store) -> None:
    rows = [started(B, f"rB{n}", (A,), (f"rA{n}",), sweep_id=f"s{n}") for n in range(600)]
    commit(store, *rows)
    found = lineage_of(store, [finished(B, f"rB{n}") for n in range(600)])
    assert len(found) == 600
    assert set(found.values()) == {frozenset({A, B})}


# --- chain_apps over a given mapping ---------------------------------------------------------


def test_chain_apps_without_entries_is_the_app_itself() -> None:
    assert chain_apps("r1", A, {}) == frozenset({A})


def test_chain_apps_follows_every_source_reload() -> None:
    known = {
        "rD": Started(D, (B, C), ("rB", "rC")),
        "rB": Started(B, (A,), ("rA",)),
        "rC": Started(C, (X,), ("rX",)),
    }
    assert chain_apps("rD", D, known) == frozenset({A, B, C, D, X})


def test_chain_apps_ignores_entries_not_behind_the_reload() -> None:
    known = {"rB": Started(B, (A,), ("rA",)), "rZ": Started(X, (C,), ("rC",))}
    assert chain_apps("rB", B, known) == frozenset({A, B})


def test_chain_apps_ends_on_a_loop() -> None:
    known = {"r1": Started(A, (B,), ("r2",)), "r2": Started(B, (A,), ("r1",))}
    assert chain_apps("r1", A, known) == frozenset({A, B})

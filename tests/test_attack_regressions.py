"""Issue 11's breaks, each reproduced as the attack found it: every test failed before the fix.

1. a start made twice when the settling check fails; 2. two sweepers when the lock file is
deleted; 3. lost state starts again; 4. late events lost; 5. one future-stamped event stops
everything. (6, secrets, and 7, time bounds, have their own test files.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from jobs.sweep import SweepContext, run_sweep
from scheduler.status import status_json
from state.database import EmptiedDatabaseError, open_database
from state.history import read_history
from state.lease import LeaseLostError
from state.store import LedgerRow, Store
from tests.fake_tenant import FakeTenant
from tests.sweepers import Contexts, fail_active, failing_chain, killed_intent, sweepers


@pytest.fixture
def contexts(tmp_path: Path) -> Iterator[Contexts]:
    """Sweep contexts on one database file, each with its own connection (like processes)."""
    with sweepers(tmp_path, "key") as make:
        yield make


def killed_after_post(ctx: SweepContext, tenant: FakeTenant, source: str, target: str) -> None:
    """What a sweep killed after its POST reached the tenant leaves: an intent, a new reload."""
    run_sweep(ctx, tenant.now, dry_run=True)
    ctx.store.record_intent(killed_intent(tenant, source, target), tenant.now)
    tenant._reload(target, "FAILED", tenant.now)
    tenant.started.append(target)


# --- 1. the settling check fails ---------------------------------------------------------------


def test_an_unsettled_start_blocks_its_successor_until_the_tenant_can_be_asked(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts()
    source, (b,) = failing_chain(tenant)
    killed_after_post(ctx, tenant, source, b)
    tenant.listing_answer = httpx.Response(503)
    tenant.now += timedelta(minutes=15)  # past the tolerance: only the ledger can stop a repeat

    blocked = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]
    assert [(o.app_id, o.decision, o.reason) for o in blocked.outcomes] == [
        (b, "skipped", "unsettled")
    ] or blocked.outcomes == []  # the facts listing fails too: everything left for later
    assert blocked.exit_code == 1
    assert status_json(read_history(Path(ctx.store.where)))["unsettled"] == [b]
    tenant.listing_answer = None
    tenant.now += timedelta(minutes=1)

    settled = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]
    assert settled.exit_code == 0
    assert ctx.store.unfinished_intents() == []


def test_a_young_intent_may_be_in_flight_and_is_not_judged_not_started(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts()
    source, (b,) = failing_chain(tenant)
    run_sweep(ctx, tenant.now, dry_run=True)
    row = LedgerRow("other", b, "pending", "intent", (source,), ("r",), state="intent")
    ctx.store.record_intent(row, tenant.now)  # written just now, its POST not yet landed

    young = run_sweep(ctx, tenant.now)

    assert tenant.started == []
    assert [(o.app_id, o.reason) for o in young.outcomes] == [(b, "unsettled")]
    assert young.exit_code == 1
    ctx.store.db.execute("update ledger set written_at = '2000-01-01T00:00:00.000Z'")
    ctx.store.db.conn.commit()

    aged = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]  # never reached the tenant: started now, once
    assert [(o.app_id, o.reason) for o in aged.outcomes] == [(b, "triggered")]


# --- 2. two sweepers when the lock file is deleted ---------------------------------------------


def test_a_second_sweeper_never_starts_what_the_first_has_in_flight(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    first, second = contexts(), contexts()
    _, targets = failing_chain(tenant, successors=2)
    reports = []

    def second_sweeper_meanwhile(_app: str) -> None:
        # The first sweeper's POST of the first successor has not landed when the second runs.
        if tenant.on_start is not None:
            tenant.on_start = None  # the second sweeper's own starts go through plainly
            reports.append(run_sweep(second, tenant.now))

    tenant.on_start = second_sweeper_meanwhile
    with pytest.raises(LeaseLostError):
        run_sweep(first, tenant.now)  # it lost the lease: no further start, no commit

    tenant.on_start = None
    (meanwhile,) = reports
    assert [(o.app_id, o.reason) for o in meanwhile.outcomes] == [
        (targets[0], "unsettled"),
        (targets[1], "triggered"),
    ]
    fail_active(tenant)
    tenant.now += timedelta(minutes=15)
    later = run_sweep(contexts(), tenant.now)

    assert sorted(tenant.started) == sorted(targets)  # each exactly once
    assert later.exit_code == 0


def intent(sweep_id: str, app: str) -> LedgerRow:
    return LedgerRow(sweep_id, app, "pending", "intent", (), (), state="intent")


def test_a_sweep_that_lost_its_lease_makes_no_further_start(tmp_path: Path) -> None:
    db = open_database(tmp_path / "state.db")
    store = Store(db)
    first, second = store.fence("first"), store.fence("second")
    store.record_intent(intent("first", "a"), NOW_, first)
    late = store.fence("third")
    store.record_intent(intent("third", "b"), NOW_, late)

    with pytest.raises(LeaseLostError):
        store.record_intent(intent("first", "c"), NOW_, first)
    with pytest.raises(LeaseLostError):  # began before the first took it: stale from the start
        store.record_intent(intent("second", "d"), NOW_, second)
    assert sorted(row.app_id for row in store.unfinished_intents()) == ["a", "b"]
    db.close()


# --- 3. lost state --------------------------------------------------------------------------


def test_a_zero_byte_database_that_had_sweeps_is_refused(
    contexts: Contexts, tenant: FakeTenant, tmp_path: Path
) -> None:
    ctx = contexts()
    _, (b,) = failing_chain(tenant)
    run_sweep(ctx, tenant.now)
    assert tenant.started == [b]
    ctx.store.db.close()
    (tmp_path / "state.db").write_bytes(b"")

    with pytest.raises(EmptiedDatabaseError, match="--new-database") as refused:
        open_database(tmp_path / "state.db")
    assert refused.value.exit_code == 2

    fail_active(tenant)
    tenant.now += timedelta(minutes=15)
    again = run_sweep(contexts(new_database=True), tenant.now)

    assert tenant.started == [b]  # its failed reload came after the source: handled
    assert [(o.app_id, o.reason) for o in again.outcomes] == [(b, "fresh")]


def test_an_older_copy_restored_does_not_start_again(
    contexts: Contexts, tenant: FakeTenant, tmp_path: Path
) -> None:
    ctx = contexts()
    run_sweep(ctx, tenant.now)  # an idle sweep: a cursor, nothing else
    shutil.copy(tmp_path / "state.db", tmp_path / "backup.db")
    tenant.now += timedelta(minutes=2)
    _, (b,) = failing_chain(tenant)
    run_sweep(ctx, tenant.now)
    assert tenant.started == [b]
    ctx.store.db.close()
    shutil.copy(tmp_path / "backup.db", tmp_path / "state.db")  # "restore it from a backup"
    fail_active(tenant)
    tenant.now += timedelta(minutes=15)

    restored = run_sweep(contexts(), tenant.now)

    assert tenant.started == [b]
    assert [(o.app_id, o.reason) for o in restored.outcomes] == [(b, "fresh")]


# --- 4. late events -----------------------------------------------------------------------------


@pytest.mark.parametrize("lag_minutes", [7, 10, 30])
def test_an_event_visible_long_after_its_time_is_still_acted_on(
    contexts: Contexts, tenant: FakeTenant, lag_minutes: int
) -> None:
    ctx = contexts()
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    other = tenant.add_app(3)
    run_sweep(ctx, tenant.now)
    ended = tenant.now
    tenant.now += timedelta(minutes=lag_minutes)
    tenant.finish(other, at=tenant.now - timedelta(minutes=1))
    run_sweep(ctx, tenant.now)  # the cursor passes the reload's time: its event is not there yet
    assert ctx.store.cursor() == tenant.now - timedelta(minutes=1)
    tenant.finish(a, at=ended)  # now it shows, stamped lag_minutes ago
    tenant.now += timedelta(seconds=30)

    late = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]
    assert late.late_events == 1
    assert late.late_worst_s == pytest.approx(lag_minutes * 60 + 30)
    (record,) = ctx.store.recent_sweeps(1)
    assert record["late_events"] == 1
    shown = status_json(read_history(Path(ctx.store.where)))["late_events"]
    assert shown["events"] == 1
    assert shown["worst_lag_s"] == pytest.approx(lag_minutes * 60 + 30)


# --- 5. an event from the future -------------------------------------------------------------


def test_a_future_stamped_event_never_moves_the_cursor(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts()
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    liar = tenant.event(a, "from-the-future", "ok", datetime(2099, 1, 1, tzinfo=tenant.now.tzinfo))
    tenant.audits_answer = httpx.Response(200, json={"data": [liar], "links": {}})

    first = run_sweep(ctx, tenant.now)

    assert first.events_invalid == 1 and tenant.started == []
    assert ctx.store.cursor() is not None and ctx.store.cursor() <= tenant.now
    tenant.audits_answer = None
    tenant.now += timedelta(minutes=1)
    tenant.finish(a, at=tenant.now - timedelta(seconds=10))
    tenant.now += timedelta(minutes=1)

    second = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]
    assert second.window_from < second.window_to


NOW_ = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

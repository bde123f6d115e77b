"""An independent attack on issue 11's promises (commit e03f684 and what followed it).

The ``test_hole_*`` tests are the holes the review found; each failed on the code it attacked
and passes since the hole was closed. The others show a promise holding and guard it against
regressions.

"A process killed" is simulated by raising ``Killed`` (a ``BaseException``, so no ``except
Exception`` in the program can swallow it) and never using that context again; "a restart" is
a new context (its own connection) on the same database file.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.reading import RAW_EVENT_LIMIT
from jobs.report import SweepReport
from jobs.sweep import SweepContext, run_sweep
from scheduler.cli import main
from scheduler.output import ScrubbedStdio
from scheduler.progress import BarProgress
from scheduler.scrub import Scrubber
from state.database import StateError, open_database
from state.lease import LeaseLostError
from state.store import LedgerRow
from tests.clocks import ManualClock
from tests.fake_tenant import TENANT, FakeTenant
from tests.sweepers import Contexts, fail_active, failing_chain, killed_intent, sweepers

KEY = "eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJhdHRhY2sifQ.c2lnbmF0dXJlLW9mLXRoZS1rZXk"
OLD = "2000-01-01T00:00:00.000Z"


class Killed(BaseException):
    """The process dies at this instant (kill -9): nothing after it runs."""


@pytest.fixture
def contexts(tmp_path: Path) -> Iterator[Contexts]:
    """Sweep contexts on one database file, each with its own connection (like processes)."""
    with sweepers(tmp_path, KEY) as make:
        yield make


def age_intents(ctx: SweepContext) -> None:
    """Time passes: every intent is far older than any request's deadline."""
    ctx.store.db.execute("update ledger set written_at = ?", [OLD])
    ctx.store.db.conn.commit()


def quota(_app: str = "") -> httpx.Response:
    """A definite refusal the sweep retries next time (403 RELOADS-013)."""
    errors = [{"code": "RELOADS-013", "title": "reload quota reached"}]
    return httpx.Response(403, json={"errors": errors})


def ledger(ctx: SweepContext) -> list[dict[str, Any]]:
    return [dict(row) for row in ctx.store.db.table("ledger").rows]


# =============================================================================================
# Holes the review found (closed since): most serious first
# =============================================================================================


def test_hole_future_end_time_makes_a_landed_start_look_unstarted(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts()
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    # eventTime is honest (so the event is valid); the engine's endTime is not.
    tenant.events[-1]["data"]["endTime"] = "2099-01-01T00:00:00.000Z"
    tenant.accept_then_fail = {b}  # the start lands, its answer is a 504

    first = run_sweep(ctx, tenant.now)
    assert tenant.started == [b]
    assert [(o.app_id, o.reason) for o in first.outcomes] == [(b, "transient")]
    tenant.accept_then_fail = set()
    for row in tenant.reloads:
        if row["appId"] == b:
            row["status"] = "SUCCEEDED"  # B reloaded fine: it has the new data
    tenant.now += timedelta(minutes=15)
    age_intents(ctx)

    run_sweep(ctx, tenant.now)

    assert tenant.started == [b]


def test_hole_killed_before_the_watermark_then_restored_repeats_a_start(
    contexts: Contexts, tenant: FakeTenant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = contexts()
    run_sweep(ctx, tenant.now)
    shutil.copy(tmp_path / "state.db", tmp_path / "backup.db")
    tenant.now += timedelta(minutes=2)
    _, (b,) = failing_chain(tenant)
    dying = contexts()
    assert dying.watermark is not None
    write_ahead = dying.watermark.advance
    calls: list[object] = []

    def killed_after_the_commit(*args: object) -> None:
        calls.append(args)
        if len(calls) > 1:  # the write-ahead before the start goes through; this one dies
            raise Killed
        write_ahead(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(dying.watermark, "advance", killed_after_the_commit)
    with pytest.raises(Killed):
        run_sweep(dying, tenant.now)  # B started and committed; killed before the last write
    assert tenant.started == [b]
    ctx.store.db.close()
    dying.store.db.close()
    shutil.copy(tmp_path / "backup.db", tmp_path / "state.db")
    fail_active(tenant)
    tenant.now += timedelta(minutes=15)

    run_sweep(contexts(), tenant.now)

    assert tenant.started == [b]


def test_hole_in_flight_window_is_the_writers_not_the_readers(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    """A writer with a 600 s deadline sent a start 60 s ago; a reader with 30 s must wait."""
    patient = contexts(http_timeout_seconds=600)
    patient.store.in_flight_s = 1200.0  # what commands.py gives a 600 s deadline
    _, (b,) = failing_chain(tenant)
    run_sweep(patient, tenant.now, dry_run=True)
    row = LedgerRow("patient", b, "pending", "intent", ("s",), ("r",), state="intent")
    patient.store.record_intent(row, tenant.now)
    patient.store.db.execute(
        "update ledger set written_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-60 seconds')"
    )
    patient.store.db.conn.commit()

    hasty = run_sweep(contexts(http_timeout_seconds=30), tenant.now)

    assert tenant.started == []  # its POST may still land
    assert [(o.app_id, o.reason) for o in hasty.outcomes] == [(b, "unsettled")]


def test_hole_young_unconfirmed_start_is_not_in_flight(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    """A fast 504: the gateway gave up, the backend may still create the reload."""
    ctx = contexts()
    _, (b,) = failing_chain(tenant)
    tenant.post_answers[b] = httpx.Response(504, text="gateway timeout")
    first = run_sweep(ctx, tenant.now)
    assert [(o.app_id, o.reason) for o in first.outcomes] == [(b, "transient")]
    assert [row["state"] for row in ledger(ctx)] == ["unconfirmed"]
    del tenant.post_answers[b]

    soon = run_sweep(ctx, tenant.now)

    assert tenant.started == []
    assert [(o.app_id, o.reason) for o in soon.outcomes] == [(b, "unsettled")]
    age_intents(ctx)

    later = run_sweep(ctx, tenant.now)

    assert tenant.started == [b]  # it never landed: started now, once
    assert [(o.app_id, o.reason) for o in later.outcomes] == [(b, "triggered")]


def test_hole_interrupted_start_command_confirmed_by_an_old_reload(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    """``start`` of an app last reloaded yesterday; its start's answer lost, nothing created."""
    from jobs.start import run_start

    ctx = contexts()
    b = tenant.add_app(2)
    tenant._reload(b, "SUCCEEDED", tenant.now - timedelta(days=1))
    tenant.post_answers[b] = httpx.Response(503)  # never reached the backend
    report = run_start(ctx, [b], [], tenant.now)
    assert [(o.app_id, o.reason) for o in report.outcomes] == [(b, "transient")]
    del tenant.post_answers[b]
    age_intents(ctx)

    run_sweep(ctx, tenant.now)  # settles the interrupted start with the tenant

    (row,) = [r for r in ledger(ctx) if r["sweep_id"].startswith("start-")]
    assert (row["state"], row["decision"], row["reason"]) == ("done", "failed", "not_started")


def test_hole_someone_elses_reload_settles_an_interrupted_start(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts()
    run_sweep(ctx, tenant.now)  # an idle sweep: this database is not new
    tenant.now += timedelta(minutes=10)  # the source ends after that sweep's window
    source, (b,) = failing_chain(tenant)
    run_sweep(ctx, tenant.now, dry_run=True)
    ctx.store.record_intent(killed_intent(tenant, source, b), tenant.now)  # before its POST
    tenant._reload(b, "FAILED", tenant.now, user="scheduler")  # a schedule's reload, not ours
    age_intents(ctx)
    tenant.now += timedelta(minutes=15)

    run_sweep(ctx, tenant.now)

    assert tenant.started == [b]


def test_hole_cursor_moved_back_by_a_late_event_fakes_lost_state(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts()
    t0 = tenant.now
    c = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{c}"])
    other = tenant.add_app(3)
    run_sweep(ctx, tenant.now)
    tenant.finish(other, at=t0 + timedelta(minutes=1))
    tenant.now = t0 + timedelta(minutes=2)
    run_sweep(ctx, tenant.now)
    assert ctx.store.cursor() == t0 + timedelta(minutes=1)
    # A's event shows up late, inside the overlap; someone else's reload of C after it FAILED.
    tenant.finish(a, at=t0 + timedelta(seconds=30))
    tenant._reload(c, "FAILED", t0 + timedelta(seconds=40))
    tenant.post_answers[c] = quota()
    tenant.now = t0 + timedelta(minutes=3)

    held = run_sweep(ctx, tenant.now)  # C is needed (its latest reload failed); quota: retry

    assert [(o.app_id, o.reason) for o in held.outcomes] == [(c, "quota")]
    assert ctx.store.cursor() == t0 + timedelta(seconds=30)  # moved back, below the watermark
    del tenant.post_answers[c]
    tenant.now = t0 + timedelta(minutes=4)

    again = run_sweep(ctx, tenant.now)

    assert [(o.app_id, o.reason) for o in again.outcomes] == [(c, "triggered")]
    assert tenant.started == [c]


def test_hole_restored_copy_repeats_a_start_beyond_the_held_back_cursor(
    contexts: Contexts, tenant: FakeTenant, tmp_path: Path
) -> None:
    ctx = contexts()
    run_sweep(ctx, tenant.now)  # an idle sweep: the backup knows nothing of what follows
    shutil.copy(tmp_path / "state.db", tmp_path / "backup.db")
    c, b = tenant.add_app(2), tenant.add_app(3)
    s1 = tenant.add_app(1, tags=[f"next-{c}"])
    s2 = tenant.add_app(4, tags=[f"next-{b}"])
    tenant.now += timedelta(minutes=2)
    tenant.finish(s1, at=tenant.now - timedelta(seconds=90))
    tenant.finish(s2, at=tenant.now - timedelta(seconds=30))
    tenant.post_answers[c] = quota()  # C's work is left for later: the cursor stays at S1's event

    run_sweep(ctx, tenant.now)

    assert tenant.started == [b]
    ctx.store.db.close()
    shutil.copy(tmp_path / "backup.db", tmp_path / "state.db")  # "restore it from a backup"
    del tenant.post_answers[c]
    fail_active(tenant)
    tenant.now += timedelta(minutes=15)

    run_sweep(contexts(), tenant.now)

    assert sorted(tenant.started) == sorted([b, c])  # C once (needed), B not again


def test_hole_lost_state_rule_lasts_one_sweep_even_when_it_decided_nothing(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    # The state that handled the source is gone (RELOAD_CHAIN_DB pointed at a new file, as the
    # damaged-database message advises): B was started by it, and that reload failed.
    _, (b,) = failing_chain(tenant)
    tenant._reload(b, "FAILED", tenant.now - timedelta(minutes=4))
    ctx = contexts(name="fresh.db")
    tenant.listing_answer = httpx.Response(503)

    first = run_sweep(ctx, tenant.now)

    assert first.outcomes == []  # facts failed: everything left for the next sweep
    tenant.listing_answer = None
    tenant.now += timedelta(minutes=15)

    second = run_sweep(ctx, tenant.now)

    assert [(o.app_id, o.reason) for o in second.outcomes] == [(b, "fresh")]
    assert tenant.started == []


def test_hole_failed_facts_exit_zero(contexts: Contexts, tenant: FakeTenant) -> None:
    ctx = contexts()
    failing_chain(tenant)
    tenant.listing_answer = httpx.Response(503)

    report = run_sweep(ctx, tenant.now)

    assert report.outcomes == []
    assert report.exit_code == 1


def test_hole_truncated_raw_event_keeps_most_of_the_key(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts(scrub=True)
    a = tenant.add_app(1)
    raw = tenant.event(a, "r-1", "bogus-status", tenant.now - timedelta(minutes=1))
    raw["echo"] = KEY  # a tenant echoing the request's headers in an event
    at = json.dumps(raw).index(KEY)
    raw["echo"] = "x" * (RAW_EVENT_LIMIT - len(KEY) + 1 - at) + KEY
    tenant.audits_answer = httpx.Response(200, json={"data": [raw], "links": {}})

    report = run_sweep(ctx, tenant.now)

    assert report.events_invalid == 1
    (stored,) = ctx.store.db.table("invalid_events").rows
    assert KEY[:-1] not in stored["raw"]


def test_hole_progress_bar_wraps_a_secret_past_the_scrubber(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(sys, "stderr", screen)
    with ScrubbedStdio(Scrubber([KEY])):
        bar = BarProgress(sys.stderr)
        bar.started(NOW - timedelta(minutes=5), NOW)
        # e.g. a library's warning, or a thread's traceback, quoting the header
        print("warning: header " + "x" * 50 + KEY, file=sys.stderr)
        bar.finished(1, 1)

    assert KEY[:20] not in screen.getvalue()


# =============================================================================================
# Promises that hold (regression guards)
# =============================================================================================


def _kill_at_stamp(ctx: SweepContext, tenant: FakeTenant, mp: pytest.MonkeyPatch) -> None:
    def die(*_args: object) -> None:
        raise Killed

    mp.setattr(ctx.store, "stamp_intent", die)


def _kill_after_tenant_acted(ctx: SweepContext, tenant: FakeTenant, mp: pytest.MonkeyPatch) -> None:
    def acted_then_die(app: str) -> None:
        tenant.on_start = None
        tenant.started.append(app)
        tenant._reload(app, "QUEUED", tenant.now)
        raise Killed

    tenant.on_start = acted_then_die


def _kill_before_commit(ctx: SweepContext, tenant: FakeTenant, mp: pytest.MonkeyPatch) -> None:
    def die(*_args: object, **_kwargs: object) -> None:
        raise Killed

    mp.setattr(ctx.store, "commit_sweep", die)


def _kill_before_watermark(ctx: SweepContext, tenant: FakeTenant, mp: pytest.MonkeyPatch) -> None:
    def die(*_args: object) -> None:
        raise Killed

    assert ctx.watermark is not None
    mp.setattr(ctx.watermark, "advance", die)


@pytest.mark.parametrize(
    "kill",
    [_kill_at_stamp, _kill_after_tenant_acted, _kill_before_commit, _kill_before_watermark],
    ids=["after-intent", "after-tenant-acted", "after-answer", "after-commit"],
)
def test_killed_at_any_point_starts_once(
    contexts: Contexts,
    tenant: FakeTenant,
    monkeypatch: pytest.MonkeyPatch,
    kill: Callable[[SweepContext, FakeTenant, pytest.MonkeyPatch], None],
) -> None:
    dying = contexts()
    _, (b,) = failing_chain(tenant)
    kill(dying, tenant, monkeypatch)
    with pytest.raises(Killed):
        run_sweep(dying, tenant.now)
    tenant.on_start = None
    fail_active(tenant)
    tenant.now += timedelta(minutes=15)
    restarted = contexts()
    age_intents(restarted)

    for _ in range(3):
        run_sweep(restarted, tenant.now)
        tenant.now += timedelta(minutes=15)
        fail_active(tenant)

    assert tenant.started == [b]
    assert restarted.store.unfinished_intents() == []


def test_a_second_sweeper_that_began_first_but_acted_second_loses(
    contexts: Contexts, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale, other = contexts(), contexts()
    _, (b,) = failing_chain(tenant)
    original = stale.store.record_intent
    ran: list[SweepReport] = []

    def the_other_sweeper_runs_first(*args: Any, **kwargs: Any) -> None:
        if not ran:
            ran.append(run_sweep(other, tenant.now))  # reads, starts B, commits
        original(*args, **kwargs)

    monkeypatch.setattr(stale.store, "record_intent", the_other_sweeper_runs_first)
    with pytest.raises(LeaseLostError):
        run_sweep(stale, tenant.now)

    assert tenant.started == [b]
    assert [(o.app_id, o.reason) for o in ran[0].outcomes] == [(b, "triggered")]


def test_a_sweeper_that_checks_while_the_first_has_not_committed_waits(
    contexts: Contexts, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = contexts(), contexts()
    _, (b,) = failing_chain(tenant)
    original = first.store.commit_sweep
    seen: list[SweepReport] = []

    def second_runs_before_the_commit(*args: Any, **kwargs: Any) -> None:
        seen.append(run_sweep(second, tenant.now))
        original(*args, **kwargs)

    monkeypatch.setattr(first.store, "commit_sweep", second_runs_before_the_commit)
    with pytest.raises(LeaseLostError):  # second committed in between: first commits nothing
        run_sweep(first, tenant.now)

    # Second found first's start in the tenant (or, were it not there yet, would wait).
    assert [o for o in seen[0].outcomes if o.decision == "triggered"] == []
    assert tenant.started == [b]
    fail_active(tenant)
    tenant.now += timedelta(minutes=15)
    run_sweep(contexts(), tenant.now)
    assert tenant.started == [b]


def test_late_rereads_never_start_a_handled_event_again(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts()
    source, (b,) = failing_chain(tenant)
    run_sweep(ctx, tenant.now)
    assert tenant.started == [b]
    # Qlik emits the same finished reload again, visible late, under a new event id.
    first = tenant.events[0]
    again = tenant.event(source, first["data"]["reloadId"], "ok", tenant.now - timedelta(minutes=5))
    tenant.events.append(again)
    reports: list[SweepReport] = []
    for _ in range(3):
        fail_active(tenant)
        tenant.now += timedelta(minutes=11)
        reports.append(run_sweep(ctx, tenant.now))

    assert tenant.started == [b]
    assert [r.late_events for r in reports] == [0, 0, 0]


def test_a_future_event_acted_on_once_when_it_becomes_valid(
    contexts: Contexts, tenant: FakeTenant
) -> None:
    ctx = contexts()
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now + timedelta(minutes=3))  # the tenant's clock runs ahead
    # The audit listing answers it although it lies past the window asked for.
    listing = {"data": list(tenant.events), "links": {}}
    tenant.audits_answer = httpx.Response(200, json=listing)

    early = run_sweep(ctx, tenant.now)
    tenant.audits_answer = None

    assert early.events_invalid == 1 and tenant.started == []
    cursor = ctx.store.cursor()
    assert cursor is not None and cursor <= tenant.now
    for _ in range(3):
        tenant.now += timedelta(minutes=5)
        run_sweep(ctx, tenant.now)
        fail_active(tenant)

    assert tenant.started == [b]


def test_out_of_time_before_the_post_leaves_no_open_intent(
    contexts: Contexts, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = contexts()
    _, (b,) = failing_chain(tenant)
    original = ctx.store.record_intent

    def then_the_time_is_up(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        ctx.client.budget.stop()

    monkeypatch.setattr(ctx.store, "record_intent", then_the_time_is_up)

    stopped = run_sweep(ctx, tenant.now)

    assert tenant.started == []
    assert stopped.exit_code == 1
    assert ctx.store.unfinished_intents() == []  # never sent: nothing to settle
    run_sweep(contexts(), tenant.now + timedelta(minutes=1))
    assert tenant.started == [b]


def test_a_failed_commit_advances_the_watermark_only_by_the_write_ahead(
    contexts: Contexts, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = contexts()
    run_sweep(ctx, tenant.now)
    assert ctx.watermark is not None
    before = ctx.watermark.read()
    failing_chain(tenant)
    tenant.now += timedelta(minutes=10)

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise StateError("disk full")

    monkeypatch.setattr(ctx.store, "commit_sweep", disk_full)
    with pytest.raises(StateError):
        run_sweep(ctx, tenant.now)

    # Only the write-ahead before the start moved it, to the newest event read: the start
    # happened although the commit failed, and a restored copy must know that.
    source_event = tenant.now - timedelta(minutes=15)
    assert before is None or before < source_event
    assert ctx.watermark.read() == source_event


def test_secrets_scrubbed_from_the_ledger_stderr_and_json_outputs(
    tenant: FakeTenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, (b,) = failing_chain(tenant)
    echoed = f"forbidden for {KEY}; Authorization: Bearer {KEY}"
    errors = [{"code": "RELOADS-003", "title": echoed}]
    tenant.post_answers[b] = httpx.Response(403, json={"errors": errors})
    database = tmp_path / "cli.db"
    for name, value in {
        "QLIK_TENANT_URL": TENANT,
        "QLIK_API_KEY": KEY,
        "RELOAD_CHAIN_DB": str(database),
        "RELOAD_CHAIN_AUTO_RESOLVE_ACCESS": "false",
        "RELOAD_CHAIN_TOLERANCE_MINUTES": "0",
    }.items():
        monkeypatch.setenv(name, value)
    swept = main(["sweep", "--json"], clock=ManualClock(tenant.now))
    status = main(["status", "--json"])

    out, err = capsys.readouterr()
    assert (swept, status) == (0, 0)
    assert "access_denied" in out
    db = open_database(database)
    stored = " ".join(str(row) for row in db.table("ledger").rows)
    db.close()
    assert "RELOADS-003" in stored
    for text in (out, err, stored):
        assert KEY not in text and KEY[:24] not in text


def test_status_json_scrubs_a_secret_stored_by_an_older_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "old.db"
    db = open_database(database)
    db.table("ledger").insert(
        {
            "sweep_id": "s",
            "app_id": "a",
            "state": "done",
            "decision": "failed",
            "reason": "rejected",
            "detail": f"echo {KEY} and b'Bearer {KEY}\\r\\n'",
            "updated_at": "2026-11-22T10:00:00.000Z",
        }
    )
    db.close()
    monkeypatch.setenv("QLIK_API_KEY", KEY)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(database))

    assert main(["status", "--json"]) == 0

    out, err = capsys.readouterr()
    assert "[redacted]" in out
    assert KEY not in out + err


NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

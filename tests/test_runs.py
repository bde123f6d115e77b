"""``reload-chain runs``: chain runs assembled from the ledger, read from the database, shown.

The assembly (``jobs.runs``) is tested on records built here; the queries (``state.runs``) on
rows written to a database; the command (``scheduler.runs_view``) through ``show_runs``.
"""

from __future__ import annotations

import argparse
import io
import json
import re
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console
from sqlite_utils import Database

from jobs.deadline_config import Deadline
from jobs.runs import ChainRun, assemble, chain_runs
from jobs.sweep import SweepContext, run_sweep
from qlik.times import format_time
from scheduler.runs_view import render_runs, show_runs, span
from scheduler.runtime import Runtime
from scheduler.settings import Settings, SettingsError
from state.database import open_database
from state.runs import DecisionRecord, RootRecord, read_runs
from tests.clocks import ManualClock
from tests.conftest import NOW
from tests.fake_tenant import FakeTenant, app_id
from tests.sweeping import finish_started

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
A, B, C, D = (app_id(n) for n in range(1, 5))
NAMES = {A: "Finance extract", B: "General Ledger", C: "Accounts Payable", D: "Alerts"}
RUN_KEYS = {"run_id", "status", "root", "started_at", "ended_at", "duration_s", "reloads"}
RELOAD_KEYS = {"app_id", "app_name", "reload_id", "after", "triggered_at", "ended_at"}
RELOAD_KEYS |= {"status", "hop_latency_s"}


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def root(outcome: str = "succeeded", run_id: str = "r0", app: str = A) -> RootRecord:
    """An external root reload of ``app`` that ended at NOW."""
    return RootRecord(run_id, app, outcome, NOW, NOW)


def started(
    app: str,
    reload_id: str,
    after: str,
    *,
    sent: float,
    ended: float | None = None,
    outcome: str | None = "succeeded",
    sweep: int = 1,
    source_end: float = 0.0,
    run_id: str = "r0",
) -> DecisionRecord:
    """A reload of ``app`` started ``sent`` s after NOW (sources ended ``source_end``)."""
    return DecisionRecord(
        run_id,
        f"s{sweep}",
        app,
        "triggered",
        "triggered",
        reload_id=reload_id,
        source_reloads=(after,),
        source_end=at(source_end),
        written_at=at(sent),
        updated_at=at(sent + 1),
        outcome=outcome if ended is not None else None,
        ended_at=at(ended) if ended is not None else None,
    )


def decided(app: str, decision: str, reason: str, *, sweep: int, run_id: str = "r0") -> Any:
    """A skip or a failed start of ``app`` in sweep number ``sweep`` (a minute apart)."""
    return DecisionRecord(
        run_id, f"s{sweep}", app, decision, reason, updated_at=at(60 * sweep), source_end=NOW
    )


def chain(*rows: DecisionRecord, top: RootRecord | None = None) -> ChainRun:
    return assemble(top or root(), rows, NAMES)


# --- assembly: status, times, hops -----------------------------------------------------------


def test_a_run_whose_reloads_all_succeeded_succeeded_and_ends_with_its_last_reload() -> None:
    run = chain(
        started(B, "rb", "r0", sent=2, ended=30, source_end=0),
        started(C, "rc", "rb", sent=33, ended=50, sweep=2, source_end=30),
    )
    assert run.status == "succeeded"
    assert (run.started_at, run.ended_at, run.duration_s) == (NOW, at(50), 50.0)
    assert [(r.app_name, r.after, r.status) for r in run.reloads] == [
        ("General Ledger", "r0", "succeeded"),
        ("Accounts Payable", "rb", "succeeded"),
    ]
    # Hop latency: from the source's end to the start's intent (written right before the POST).
    assert [r.hop_latency_s for r in run.reloads] == [2.0, 3.0]
    assert run.root.app_name == "Finance extract" and run.root.status == "succeeded"


def test_a_reload_not_seen_finished_keeps_the_run_running_even_when_another_failed() -> None:
    run = chain(
        started(B, "rb", "r0", sent=2, ended=9, outcome="failed"),
        started(C, "rc", "r0", sent=3),
    )
    assert run.status == "running"
    assert run.ended_at is None and run.duration_s is None
    assert [r.status for r in run.reloads] == ["failed", "running"]


def test_a_failed_reload_fails_the_run() -> None:
    run = chain(started(B, "rb", "r0", sent=2, ended=9, outcome="failed"))
    assert (run.status, run.ended_at) == ("failed", at(9))


def test_a_canceled_reload_counts_as_failed_and_says_so() -> None:
    run = chain(started(B, "rb", "r0", sent=2, ended=9, outcome="canceled"))
    assert run.status == "failed"
    assert (run.reloads[0].status, run.reloads[0].reason) == ("failed", "canceled")


def test_a_failed_root_whose_on_failure_successor_succeeded_is_a_succeeded_run() -> None:
    run = chain(started(D, "rd", "r0", sent=1, ended=5), top=root("failed"))
    assert run.root.status == "failed"
    assert run.status == "succeeded"


def test_a_failed_start_fails_the_run_and_is_listed_with_its_reason() -> None:
    run = chain(
        started(B, "rb", "r0", sent=2, ended=9),
        replace(decided(C, "failed", "access_denied", sweep=1), written_at=at(3)),
    )
    assert run.status == "failed"
    failed = run.reloads[-1]
    assert (failed.app_id, failed.reload_id, failed.status) == (C, None, "failed")
    assert (failed.reason, failed.triggered_at) == ("access_denied", at(3))
    assert failed.hop_latency_s == 3.0
    assert run.ended_at == at(9)


def test_a_failed_start_retried_with_success_is_not_held_against_the_run() -> None:
    run = chain(
        decided(B, "failed", "transient", sweep=1),
        started(B, "rb", "r0", sent=130, ended=140, sweep=2),
    )
    assert run.status == "succeeded"
    assert [(r.reload_id, r.status) for r in run.reloads] == [("rb", "succeeded")]


def test_a_start_whose_answer_is_not_known_yet_keeps_the_run_running() -> None:
    intent = replace(decided(B, "pending", "intent", sweep=1), state="intent", written_at=at(2))
    run = chain(intent)
    assert run.status == "running"
    assert (run.reloads[0].status, run.reloads[0].reason) == ("running", "unconfirmed")


def test_an_unsettled_start_counts_even_when_later_sweeps_decided_about_its_app() -> None:
    intent = replace(decided(B, "pending", "intent", sweep=1), state="intent", written_at=at(2))
    run = chain(intent, decided(B, "skipped", "unsettled", sweep=2))
    assert run.status == "running"
    assert [r.reason for r in run.reloads] == ["unconfirmed"]


def test_skipped_lists_each_app_once_with_its_latest_reason() -> None:
    run = chain(
        decided(B, "skipped", "running", sweep=1),
        decided(B, "skipped", "fresh", sweep=2),
        decided(C, "skipped", "running", sweep=1),
        started(C, "rc", "r0", sent=200, ended=210, sweep=3),
    )
    # C, skipped in one sweep and started in a later one, is not skipped.
    assert [(s.app_name, s.reason) for s in run.skipped] == [("General Ledger", "fresh")]
    assert run.status == "succeeded"


def test_after_is_the_newest_of_the_source_reloads() -> None:
    join = replace(
        started(D, "rd", "rb", sent=40, ended=45, source_end=30), source_reloads=("rc", "rb")
    )
    run = chain(
        started(B, "rb", "r0", sent=1, ended=30),
        started(C, "rc", "r0", sent=1, ended=20),
        join,
    )
    assert {r.app_id: r.after for r in run.reloads}[D] == "rb"


def test_triggered_at_falls_back_to_the_sweep_time_without_an_intent_stamp() -> None:
    row = replace(started(B, "rb", "r0", sent=2, ended=9), written_at=None)
    assert chain(row).reloads[0].triggered_at == row.updated_at


def test_a_run_rooted_by_start_lists_its_root_reload_too() -> None:
    top = RootRecord("rs", A, None, None, at(5), started=True)
    own = replace(started(A, "rs", "", sent=5, run_id="rs"), source_reloads=(), source_end=None)
    run = assemble(top, [own], NAMES)
    assert (run.root.status, run.status, run.started_at) == ("running", "running", at(5))
    assert (run.reloads[0].after, run.reloads[0].hop_latency_s) == (None, None)


def test_the_json_has_the_spec_keys_and_iso_times() -> None:
    run = chain(started(B, "rb", "r0", sent=2, ended=9), decided(C, "skipped", "fresh", sweep=1))
    payload = run.as_json()
    assert RUN_KEYS | {"skipped"} == set(payload)
    assert set(payload["root"]) == {"app_id", "app_name", "reload_id", "status", "ended_at"}
    assert set(payload["reloads"][0]) >= RELOAD_KEYS
    assert payload["skipped"] == [{"app_id": C, "app_name": "Accounts Payable", "reason": "fresh"}]
    assert payload["started_at"] == format_time(NOW)
    assert payload["reloads"][0]["triggered_at"] == format_time(at(2))
    json.dumps(payload)


# --- the queries -----------------------------------------------------------------------------


def store_run(db: Database, run_id: str, app: str, ended: float, *apps: str) -> None:
    """A chain run rooted at ``app``'s reload ``run_id`` with one started reload per ``apps``."""
    row = {"run_id": run_id, "root_app_id": app, "root_status": "succeeded"}
    db.table("chain_runs").insert(row | {"root_ended_at": format_time(at(ended))})
    for number, successor in enumerate(apps):
        db.table("ledger").insert(
            {
                "sweep_id": f"sweep-{run_id}",
                "app_id": successor,
                "state": "done",
                "decision": "triggered",
                "reason": "triggered",
                "reload_id": f"{run_id}{number:04x}",
                "source_reloads": json.dumps([run_id]),
                "updated_at": format_time(at(ended + 1)),
                "chain_run_id": run_id,
            }
        )


@pytest.fixture
def db() -> Database:
    database = open_database(":memory:")
    store_run(database, "old", A, 0, B)
    store_run(database, "new", A, 600, C)
    store_run(database, "mid", D, 300, B, C)
    database.table("app_names").insert_all([{"app_id": k, "name": v} for k, v in NAMES.items()])
    return database


def test_runs_are_read_newest_first_up_to_the_limit(db: Database) -> None:
    records = read_runs(db, "test", limit=2)
    assert [r.run_id for r in records.roots] == ["new", "mid"]
    assert {(r.run_id, r.app_id) for r in records.decisions} == {("new", C), ("mid", B), ("mid", C)}
    assert records.names[D] == "Alerts"


def test_the_app_filter_keeps_runs_it_roots_or_has_a_decision_in(db: Database) -> None:
    assert [r.run_id for r in read_runs(db, "t", limit=9, app_id=B).roots] == ["mid", "old"]
    assert [r.run_id for r in read_runs(db, "t", limit=9, app_id=D).roots] == ["mid"]
    assert read_runs(db, "t", limit=9, app_id=app_id(9)).roots == []


def test_a_reload_started_by_start_roots_a_run_of_its_own(db: Database) -> None:
    db.table("ledger").insert(
        {
            "sweep_id": "start-1",
            "app_id": D,
            "state": "done",
            "decision": "triggered",
            "reload_id": "mine",
            "source_reloads": "[]",
            "written_at": format_time(at(900)),
            "updated_at": format_time(at(901)),
            "chain_run_id": "mine",
        }
    )
    (run, *_) = chain_runs(read_runs(db, "t", limit=9))
    assert (run.run_id, run.root.app_id, run.started_at) == ("mine", D, at(900))
    assert [r.reload_id for r in run.reloads] == ["mine"]


def test_no_database_no_runs() -> None:
    assert read_runs(None, "nowhere", limit=20).roots == []


def test_a_swept_chain_reads_back_as_one_run(ctx: SweepContext, tenant: FakeTenant) -> None:
    c = tenant.add_app(3)
    b = tenant.add_app(2, tags=[f"next-{c}"])
    a = tenant.add_app(1, tags=[f"next-{b}"])
    first = tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    b_reload = finish_started(tenant, b)
    run_sweep(ctx, tenant.now)

    (run,) = chain_runs(read_runs(ctx.store.db, "memory", limit=20))
    assert (run.run_id, run.root.app_name, run.status) == (first, "App 1", "running")
    assert [(r.app_id, r.status, r.after) for r in run.reloads] == [
        (b, "succeeded", first),
        (c, "running", b_reload),
    ]


# --- the command -----------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def command(
    tmp_path: Path, out: io.StringIO, *flags: str, deadlines: tuple[Deadline, ...] = ()
) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--app")
    settings = Settings(database=tmp_path / "state.db")
    runtime = Runtime(settings, deadlines=deadlines, clock=ManualClock(NOW))
    with runtime:
        return show_runs(runtime, parser.parse_args(list(flags)), out)


@pytest.mark.parametrize(
    ("flags", "flag"),
    [(("--limit", "0"), "--limit"), (("--limit", "1001"), "--limit"), (("--app", "x"), "--app")],
)
def test_bad_flags_are_settings_errors_naming_the_flag(
    tmp_path: Path, flags: tuple[str, ...], flag: str
) -> None:
    with pytest.raises(SettingsError, match=flag) as raised:
        command(tmp_path, io.StringIO(), *flags)
    assert raised.value.exit_code == 2


def test_without_a_database_there_are_no_runs_and_none_is_created(tmp_path: Path) -> None:
    out = io.StringIO()
    assert command(tmp_path, out) == 0
    assert json.loads(out.getvalue()) == {"runs": []}
    terminal = Terminal()
    command(tmp_path, terminal)
    assert "no chain runs yet" in terminal.getvalue()
    assert not (tmp_path / "state.db").exists()


def test_the_terminal_table_fits_80_columns_with_names_beside_short_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm-256color")
    db = open_database(tmp_path / "state.db")
    long_name = "Accounts Payable and Receivable, consolidated for every region"
    store_run(db, "000000000000000000000abc", A, 0, B, C)
    db.table("app_names").insert_all(
        [{"app_id": A, "name": "Finance extract"}, {"app_id": B, "name": long_name}]
    )
    db.close()
    out = Terminal()
    assert command(tmp_path, out) == 0
    text = ANSI.sub("", out.getvalue())
    assert all(cell_len(line) <= 80 for line in text.splitlines()), text
    assert "Finance extract (00000000)" in text
    assert "running" in text and "00000abc" in text


def test_the_widest_rows_still_fit_80_columns_and_keep_the_short_ids() -> None:
    names = NAMES | {B: "x" * 70, C: "Accounts Payable and Receivable, consolidated"}
    rows = [
        started(B, "0123456789abcdef01234567", "r0", sent=43500, ended=87000, source_end=40000),
        replace(decided(C, "failed", "not_started", sweep=1), written_at=at(43600)),
        started(D, "0123456789abcdef01234568", "r0", sent=5, ended=9, outcome="canceled"),
    ]
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, markup=False, highlight=False)
    render_runs([assemble(root("canceled"), rows, names)], console)
    lines = ANSI.sub("", out.getvalue()).splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert any(line.startswith("xxxxxxxx") and "… (00000000)" in line for line in lines)
    assert any("canceled" in line and line.endswith("01234568") for line in map(str.rstrip, lines))
    assert any(line.rstrip().endswith("not_started") for line in lines)


def test_spans_read_as_seconds_minutes_and_hours() -> None:
    assert [span(s) for s in (None, 2.04, 184.0, 7500.0)] == ["-", "2.0s", "3m04s", "2h05m"]


def test_the_deadlines_follow_the_runs_as_status_shows_them(tmp_path: Path) -> None:
    # 10:00 UTC, the dashboard due by 07:00 and no sweep judged it: overdue, in red.
    dashboard = Deadline(A, time(7, 0), name="dashboard")
    elsewhere = Deadline(B, time(23, 0), name="ledger")
    out = Terminal()
    assert command(tmp_path, out, deadlines=(dashboard, elsewhere)) == 0
    lines = ANSI.sub("", out.getvalue()).splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("deadline ")] == [
        "deadline dashboard by 07",
        "deadline ledger by 23",
    ]
    assert "overdue" in next(line for line in lines if "dashboard" in line)

    out = io.StringIO()
    assert command(tmp_path, out, "--json", "--app", A, deadlines=(dashboard, elsewhere)) == 0
    answer = json.loads(out.getvalue())
    assert [(d["app_id"], d["state"]) for d in answer["deadlines"]] == [(A, "overdue")]

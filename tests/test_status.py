"""``reload-chain status``: rich tables on a terminal, JSON otherwise, never a crash when empty."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from jobs.sweep import run_sweep
from qlik.times import format_time
from scheduler.settings import Settings
from scheduler.status import render_status, show_status
from state.database import open_database
from state.history import read_history
from state.store import LedgerRow, Store, SweepCommit
from tests.fake_tenant import TENANT, FakeTenant
from tests.sweeping import NO_SLEEP, sweep_context

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
KEYS = {
    "database",
    "cursor",
    "sweeps",
    "decisions",
    "repeatedly_skipped",
    "late_events",
    "unsettled",
    "deadlines",
}
DENIED = httpx.Response(403, json={"errors": [{"code": "HTTP-403", "title": "Forbidden"}]})


class Terminal(io.StringIO):
    """Standard output as a terminal would be."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "xterm-256color")


def on_terminal(database: Path) -> str:
    out = Terminal()
    assert show_status(read_history(database), out, as_json=False) == 0
    return ANSI.sub("", out.getvalue())


def as_json(database: Path, *, flag: bool = True) -> dict[str, Any]:
    out = io.StringIO()
    assert show_status(read_history(database), out, as_json=flag) == 0
    payload: dict[str, Any] = json.loads(out.getvalue())
    return payload


def sweeps(tenant: FakeTenant, database: Path, times: int) -> tuple[str, str]:
    """``times`` sweeps, each after a new reload of the source; the successor always refuses."""
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.post_answers[b] = DENIED
    settings = Settings(
        tenant_url=TENANT, api_key="key", database=database, auto_resolve_access=False
    )
    with sweep_context(settings, database, sender_options=NO_SLEEP) as ctx:
        for _ in range(times):
            tenant.finish(a, at=tenant.now - timedelta(minutes=1))
            run_sweep(ctx, tenant.now)
            tenant.now += timedelta(minutes=15)
    return a, b


def test_fresh_machine_says_no_sweep_yet_and_creates_nothing(tmp_path: Path) -> None:
    database = tmp_path / "data" / "state.db"

    text = on_terminal(database)

    assert f"database {database}" in text
    assert "cursor   none" in text
    assert "no sweep yet" in text
    assert not database.parent.exists()


def test_fresh_machine_json_is_empty_not_an_error(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    status = as_json(database)
    assert status == {
        "database": str(database),
        "cursor": None,
        "sweeps": [],
        "decisions": [],
        "repeatedly_skipped": [],
        "late_events": {"events": 0, "worst_lag_s": None, "last_seen": None},
        "unsettled": [],
        "deadlines": [],
    }
    assert not database.exists()


def test_terminal_shows_sweeps_decisions_and_repeated_skips(
    tenant: FakeTenant, tmp_path: Path
) -> None:
    database = tmp_path / "state.db"
    _, b = sweeps(tenant, database, 3)

    text = on_terminal(database)

    for title in ("Last sweeps", "Recent decisions", "Skipped again and again"):
        assert title in text
    assert "started" in text and "API calls" in text and "exit" in text
    assert "access_denied 1" in text  # decisions by reason, in the sweeps table
    decision_rows = [line for line in text.splitlines() if b in line and "skipped" in line]
    assert len(decision_rows) == 3
    (repeated,) = [line for line in text.splitlines() if b in line and " 3 " in line]
    assert "access_denied" in repeated
    assert "{" not in text  # tables, not JSON


def test_terminal_output_is_styled_for_a_terminal(tenant: FakeTenant, tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    sweeps(tenant, database, 1)
    out = Terminal()
    show_status(read_history(database), out, as_json=False)
    assert ANSI.search(out.getvalue())


def test_json_has_the_old_keys_and_the_repeated_skips(tenant: FakeTenant, tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    _, b = sweeps(tenant, database, 4)

    status = as_json(database)

    assert set(status) == KEYS
    assert status["database"] == str(database)
    assert status["cursor"] is not None
    assert len(status["sweeps"]) == 4
    assert status["sweeps"][0]["decisions"] == {"access_denied": 1}
    assert [d["reason"] for d in status["decisions"]] == ["access_denied"] * 4
    (skip,) = status["repeatedly_skipped"]
    assert skip["app_id"] == b
    assert (skip["decision"], skip["reason"], skip["times"]) == ("skipped", "access_denied", 4)
    assert skip["since"] == status["decisions"][-1]["updated_at"]
    assert skip["last"] == status["decisions"][0]["updated_at"]


def test_two_skips_are_not_yet_repeated(tenant: FakeTenant, tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    sweeps(tenant, database, 2)
    assert as_json(database)["repeatedly_skipped"] == []
    assert "Skipped again and again" not in on_terminal(database)


def test_not_a_terminal_gets_json_even_without_the_flag(tenant: FakeTenant, tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    sweeps(tenant, database, 1)
    assert as_json(database, flag=False) == as_json(database, flag=True)


def test_json_flag_wins_on_a_terminal(tmp_path: Path) -> None:
    out = Terminal()
    show_status(read_history(tmp_path / "state.db"), out, as_json=True)
    assert set(json.loads(out.getvalue())) == KEYS


def test_a_failed_sweep_shows_its_exit_code(tenant: FakeTenant, tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    tenant.audits_answer = httpx.Response(503)
    sweeps(tenant, database, 1)
    (sweep,) = as_json(database)["sweeps"]
    assert sweep["exit_code"] == 1
    (row,) = [line for line in on_terminal(database).splitlines() if "0.0s" in line]
    assert row.rstrip(" │").endswith("1")


# --- issue 14 item 5: names beside ids, 80 columns, every sweep with its exit code -------------

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LONG_NAME = "Accounts Payable and Receivable Reconciliation (EMEA)"
PAYABLES = "a281c98c-fa79-516a-8b66-1d91e2762055"
LEDGER = "12d5511a-7425-5e02-8619-fc5e6740a040"
NAMELESS = "0f0f0f0f-1234-4abc-8def-0123456789ab"
RELOAD = "65a1b2c3d4e5f60718293a4b"


def rendered(database: Path, width: int, **console: Any) -> str:
    """``status`` as a terminal ``width`` columns wide shows it, styles left out unless asked."""
    out = io.StringIO()
    options = {"force_terminal": True, "color_system": None} | console
    render_status(read_history(database), Console(width=width, file=out, **options))
    return out.getvalue()


def record(minutes: int, exit_code: int | None, **fields: Any) -> dict[str, Any]:
    """A sweep record ``minutes`` after START; the counts only when given (an aborted sweep's
    record may have none)."""
    at = START + timedelta(minutes=minutes)
    return {
        "sweep_id": f"{at:%Y%m%dT%H%M%SZ}-{minutes:04x}",
        "started_at": format_time(at),
        "exit_code": exit_code,
    } | fields


def worst_case(database: Path) -> None:
    """Sweeps that ended 0, 1, 2 and 3 (two with no counts at all), long names, a nameless
    app, a decision of each kind and an app skipped again and again."""
    db = open_database(database)
    store = Store(db)
    counts = {"events_read": 1234, "events_new": 12, "events_invalid": 3, "duration_s": 12.5}
    decisions = {"access_denied": 3, "not_found": 1, "tolerance": 2, "triggered": 4}
    calls = {"GET /api/v1/audits": 1, "POST /api/v1/reloads": 4}
    names = [
        {"app_id": PAYABLES, "name": LONG_NAME, "updated_at": format_time(START)},
        {"app_id": LEDGER, "name": "General Ledger", "updated_at": format_time(START)},
    ]
    sweeps = [
        record(0, 0, **counts, decisions=decisions, api_calls=calls),
        record(1, 1, **counts, decisions={}, api_calls={"GET /api/v1/audits": 4}),
        record(2, 2),
        record(3, 3),
        record(4, None),
    ]
    for minute, sweep in enumerate(sweeps):
        rows = [
            LedgerRow(sweep["sweep_id"], PAYABLES, "skipped", "access_denied", ("s",), ("r",)),
            LedgerRow(sweep["sweep_id"], NAMELESS, "skipped", "not_found", ("s",), ("r",)),
        ]
        if minute == 0:
            rows.append(
                LedgerRow(
                    sweep["sweep_id"], LEDGER, "triggered", "triggered", ("s",), ("r",), RELOAD
                )
            )
        commit = SweepCommit(sweep=sweep, ledger=rows, app_names=names)
        store.commit_sweep(commit, START + timedelta(minutes=minute))
    db.close()


def sweep_rows(text: str) -> list[str]:
    """The rows of the sweeps table: the lines that start with a sweep's time."""
    return [line for line in text.splitlines() if re.match(r"\d\d-\d\d \d\d:\d\d:\d\d  ", line)][:5]


def test_every_table_fits_80_columns_with_names_and_exit_codes(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    worst_case(database)

    text = ANSI.sub("", rendered(database, 80))

    assert max(len(line) for line in text.splitlines()) <= 80
    for title in ("Last sweeps", "Recent decisions", "Skipped again and again"):
        assert title in text
    assert f"Accounts Payab… ({PAYABLES[:8]})" in text  # clipped to the room left
    assert f"General Ledger ({LEDGER[:8]})" in text
    assert PAYABLES not in text  # whole ids are for --json and wide terminals
    assert f"…{RELOAD[-8:]}" in text
    # Each sweep a row of its own, newest first, its exit code whole at the end.
    ends = [row.split()[-1] for row in sweep_rows(text)]
    assert ends == ["-", "3", "2", "1", "0"]
    assert "1,234/12/3" in text and "12.5s" in text
    assert "exit 1: left for the next sweep, 2: needs a fix, 3: lock held" in text


def test_a_sweep_without_counts_is_a_row_of_dashes(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    worst_case(database)

    (row,) = [line for line in sweep_rows(ANSI.sub("", rendered(database, 80))) if "08:02" in line]

    assert row.split() == ["11-23", "08:02:00", "-", "-", "-", "-", "2"]


def test_exit_codes_1_and_2_are_red_and_3_is_marked(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    worst_case(database)

    text = rendered(database, 80, color_system="standard")

    for code, colour in (("1", "1;31"), ("2", "1;31"), ("3", "33")):
        assert re.search(rf"\x1b\[{colour}m *{code}\x1b\[0m *$", text, re.MULTILINE)
    assert re.search(r" 0$", text, re.MULTILINE)  # 0 is left plain


def test_a_wide_terminal_shows_whole_ids_and_longer_names(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    worst_case(database)

    text = rendered(database, 160)

    assert max(len(line) for line in text.splitlines()) <= 160
    assert f"General Ledger ({LEDGER})" in text
    assert NAMELESS in text and RELOAD in text
    assert "Accounts Payable and Receivable" in text


def test_json_adds_app_names_and_changes_nothing_else(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    worst_case(database)

    status = as_json(database)

    assert set(status) == KEYS
    assert [sweep["exit_code"] for sweep in status["sweeps"]] == [None, 3, 2, 1, 0]
    assert status["sweeps"][1]["events_read"] is None and status["sweeps"][1]["decisions"] is None
    names = {row["app_id"]: row["app_name"] for row in status["decisions"]}
    assert names == {PAYABLES: LONG_NAME, NAMELESS: None, LEDGER: "General Ledger"}
    (ledger,) = [row for row in status["decisions"] if row["app_id"] == LEDGER]
    assert (ledger["decision"], ledger["reason"], ledger["reload_id"]) == (
        "triggered",
        "triggered",
        RELOAD,
    )
    skips = {skip["app_id"]: skip for skip in status["repeatedly_skipped"]}
    assert skips[PAYABLES]["app_name"] == LONG_NAME and skips[NAMELESS]["app_name"] is None
    assert set(skips[PAYABLES]) == {
        "app_id", "decision", "reason", "times", "since", "last", "detail", "app_name"
    }  # fmt: skip


def test_names_come_from_the_sweeps_that_looked_the_apps_up(
    tenant: FakeTenant, tmp_path: Path
) -> None:
    database = tmp_path / "state.db"
    _, b = sweeps(tenant, database, 3)

    text = ANSI.sub("", rendered(database, 80))

    assert max(len(line) for line in text.splitlines()) <= 80
    decision_rows = [line for line in text.splitlines() if f"App 2 ({b[:8]})" in line]
    assert len(decision_rows) == 4  # three decisions and the repeated skip
    assert {skip["app_name"] for skip in as_json(database)["repeatedly_skipped"]} == {"App 2"}


def test_unsettled_apps_are_named(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    worst_case(database)
    db = open_database(database)
    intent = LedgerRow("s-9", LEDGER, "triggered", "triggered", ("s",), ("r",), state="intent")
    Store(db).record_intent(intent, START + timedelta(minutes=9))
    db.close()

    text = ANSI.sub("", rendered(database, 80))

    assert f"not started until checked: General Ledger ({LEDGER[:8]})" in text
    assert as_json(database)["unsettled"] == [LEDGER]

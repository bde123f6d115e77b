"""``reload-chain status``: rich tables on a terminal, JSON otherwise, never a crash when empty."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.sweep import run_sweep
from scheduler.settings import Settings
from scheduler.status import show_status
from state.history import read_history
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

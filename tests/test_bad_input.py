"""Bad input (issue 4 item 4): each gets a clear error naming what and where, the sweep goes on
wherever it safely can, and nothing already recorded is lost.

The program runs through ``main()`` against the respx ``FakeTenant`` (answers bent per test), on
a real database file. Invalid settings are covered by tests/test_settings.py and test_cli.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

import state.database
from jobs.sweep import SweepContext, run_sweep
from qlik.client import connect
from qlik.clock import SYSTEM_CLOCK
from scheduler.cli import main
from scheduler.settings import Settings
from state.database import StateError, open_database
from state.store import Store
from tests.fake_tenant import TENANT, FakeTenant

API_KEY = "bad-input-key-0000"


@dataclass
class Live:
    """A fake tenant on the real clock, a chain source -> target, and the database path."""

    tenant: FakeTenant
    router: respx.MockRouter
    db: Path
    source: str
    target: str

    def install(self) -> None:
        """Serve the tenant; call after bending its answers."""
        self.tenant.install(self.router)


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    db = tmp_path / "state" / "state.db"
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", API_KEY)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(db))
    tenant = FakeTenant(now=SYSTEM_CLOCK.now())
    target = tenant.add_app(2)
    source = tenant.add_app(1, tags=[f"next-{target}"])
    with respx.mock(base_url=TENANT, assert_all_called=False) as router:
        yield Live(tenant, router, db, source, target)


def sweep(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any] | None, list[str]]:
    """``reload-chain sweep --json``: exit code, report (None if none), stderr lines."""
    code = main(["sweep", "--json"])
    out, err = capsys.readouterr()
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    return code, report, err.strip().splitlines()


def rows(db: Path, table: str) -> list[dict[str, Any]]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(f"SELECT * FROM {table}")]
    finally:
        connection.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def page(events: list[Any]) -> httpx.Response:
    return httpx.Response(200, json={"data": events, "links": {"self": {"href": "x"}}})


def assert_one_clear_line(err: list[str], *names: str) -> None:
    """The program's last word is one log line naming every one of ``names``, no traceback."""
    assert err, "nothing on stderr"
    assert not any("Traceback" in line for line in err), "\n".join(err)
    for name in names:
        assert name in err[-1], f"{name!r} not in {err[-1]!r}"


# --- malformed and unknown audit events ---------------------------------------------------------


def test_malformed_events_among_good_ones_are_kept_as_invalid_and_counted_once(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    good = live.tenant.events[0]
    bad: dict[str, Any] = {
        "data: missing": {k: v for k, v in good.items() if k != "data"} | {"id": "bad-1"},
        "eventTime": good | {"id": "bad-2", "eventTime": "yesterday"},
        "data.status": good | {"id": "bad-3", "data": good["data"] | {"status": "exploded"}},
        "data.reloadId": good | {"id": "bad-4", "data": {"status": "ok"}},
        "extensions.topLevelResourceId": good | {"id": "bad-5", "extensions": {}},
        "eventType": good | {"id": "bad-6", "eventType": "com.qlik.v1.app.reload.exploded"},
    }
    live.tenant.audits_answer = page([bad["data: missing"], good, *list(bad.values())[1:]])
    live.install()

    code, report, err = sweep(capsys)

    assert code == 0, err
    assert report is not None
    assert report["events"] == {"read": 7, "new": 1, "invalid": 6}
    assert [(d["app_id"], d["reason"]) for d in report["decisions"]] == [(live.target, "triggered")]
    assert live.tenant.started == [live.target]
    invalid = {row["key"]: row for row in rows(live.db, "invalid_events")}
    assert len(invalid) == 6
    for n, field in enumerate(bad, start=1):
        row = invalid[f"bad-{n}"]
        assert field.split(":")[0] in row["reason"], row
        assert json.loads(row["raw"])["id"] == f"bad-{n}"  # kept for inspection
        assert any(f"bad-{n}" in line and "invalid audit event" in line for line in err)

    live.tenant.now += timedelta(minutes=2)
    code, again, err = sweep(capsys)

    assert code == 0, err
    assert again is not None
    assert again["events"] == {"read": 7, "new": 0, "invalid": 0}
    assert again["decisions"] == []
    assert not any("invalid audit event" in line for line in err)
    assert len(rows(live.db, "invalid_events")) == 6
    assert [row["events_invalid"] for row in rows(live.db, "sweeps")] == [6, 0]
    assert live.tenant.started == [live.target]


def test_a_non_object_entry_in_an_audits_page_does_not_block_the_good_events(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    # One entry of ``data`` that is not an object (a string, null) must be kept as an invalid
    # event like any other malformed one; rejecting the whole page would block every event on
    # it, and on every page after it, for good: each sweep would read the same page and stop.
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    good = live.tenant.events[0]
    live.tenant.audits_answer = page(["com.qlik.v1.app.reload.finished", good, None])
    live.install()

    code, report, err = sweep(capsys)

    assert code == 0, err
    assert report is not None
    assert report["events"] == {"read": 3, "new": 1, "invalid": 2}
    assert live.tenant.started == [live.target]
    reasons = sorted(row["reason"] for row in rows(live.db, "invalid_events"))
    assert reasons == ["event is a NoneType, not an object", "event is a str, not an object"]


def test_unknown_event_type_version_is_read_when_it_has_every_field_needed(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    # Decision: forward-compatible. eventTypeVersion is not checked; an event of any version
    # is processed when every field the program reads is there (extensions.topLevelResourceId,
    # eventTime, data.status, data.reloadId), and is kept as invalid, with the field named,
    # when one is missing. A new minor/major version that adds fields then costs nothing, and
    # one that moves a field cannot trigger anything by mistake.
    other = live.tenant.add_app(3, tags=[f"next-{live.target}"])
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    live.tenant.finish(other, at=live.tenant.now - timedelta(minutes=4))
    complete, incomplete = live.tenant.events
    complete |= {"eventTypeVersion": "2.0.0", "newField": {"anything": [1, 2]}}
    incomplete |= {"eventTypeVersion": "2.0.0", "data": {"status": "ok", "endTime": "x"}}
    live.install()

    code, report, err = sweep(capsys)

    assert code == 0, err
    assert report is not None
    assert report["events"] == {"read": 2, "new": 1, "invalid": 1}
    (decision,) = report["decisions"]
    assert (decision["app_id"], decision["reason"]) == (live.target, "triggered")
    assert decision["sources"] == [live.source]
    (row,) = rows(live.db, "invalid_events")
    assert row["key"] == incomplete["id"]
    assert "data.reloadId" in row["reason"]
    assert json.loads(row["raw"])["eventTypeVersion"] == "2.0.0"


# --- answers the program cannot read -------------------------------------------------------------


def test_html_answer_from_items_exits_1_commits_nothing_handled_and_next_sweep_triggers(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    html = "<html><body>Service temporarily unavailable</body></html>"
    served = live.tenant._items
    answers = iter([httpx.Response(200, text=html, headers={"content-type": "text/html"})])

    def items(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or served(request)

    live.tenant._items = items  # type: ignore[method-assign]
    live.install()

    code, report, err = sweep(capsys)

    assert code == 1
    assert report is not None and report["decisions"] == []
    assert any("GET /api/v1/items" in line and "not JSON" in line for line in err), err
    assert rows(live.db, "handled_events") == []
    assert rows(live.db, "settled_edges") == []
    (cursor,) = [row for row in rows(live.db, "cursor") if row["name"] == "audit_events"]
    assert cursor["position"] <= live.tenant.events[0]["eventTime"]
    assert live.tenant.started == []

    live.tenant.now += timedelta(minutes=2)
    code, report, err = sweep(capsys)

    assert code == 0, err
    assert report is not None
    assert [(d["app_id"], d["reason"]) for d in report["decisions"]] == [(live.target, "triggered")]
    assert live.tenant.started == [live.target]
    assert len(rows(live.db, "handled_events")) == 1


def test_reloads_row_without_id_exits_1_naming_the_field(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    served = live.tenant._list_reloads
    broken = iter([True])

    def reloads(request: httpx.Request) -> httpx.Response:
        answer = served(request)
        if next(broken, False):
            body = answer.json()
            body["data"] = [{k: v for k, v in row.items() if k != "id"} for row in body["data"]]
            return httpx.Response(200, json=body)
        return answer

    live.tenant._list_reloads = reloads  # type: ignore[method-assign]
    live.install()

    code, _, err = sweep(capsys)

    assert code == 1
    (line,) = [line for line in err if "GET /api/v1/reloads" in line]
    assert "unexpected answer at" in line and "id" in line.split("unexpected answer at")[1]
    assert live.tenant.started == []
    assert rows(live.db, "handled_events") == []

    code, _, err = sweep(capsys)
    assert code == 0, err
    assert live.tenant.started == [live.target]


# --- the database --------------------------------------------------------------------------------


def test_database_from_a_newer_version_exits_2_and_is_left_unchanged(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    live.install()
    db = open_database(live.db)
    db.table("migrations").insert({"name": "9999_from_the_future", "applied_at": "2030"})
    db.close()
    before = digest(live.db)

    code, report, err = sweep(capsys)

    assert code == 2
    assert report is None
    assert_one_clear_line(
        err, str(live.db), "newer reload-chain", "upgrade", "9999_from_the_future"
    )
    assert digest(live.db) == before
    assert live.tenant.started == []
    assert main(["status"]) == 2
    assert digest(live.db) == before


def test_corrupt_database_file_gives_one_line_naming_it_and_is_never_overwritten(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    live.install()
    live.db.parent.mkdir(parents=True)
    garbage = bytes(range(256)) * 16
    live.db.write_bytes(garbage)

    code, report, err = sweep(capsys)

    assert code == 2  # it will not mend itself: an administrator must act
    assert report is None
    assert_one_clear_line(err, str(live.db), "not a database", "left as it is")
    assert len(err) == 1
    assert live.db.read_bytes() == garbage
    assert sorted(p.name for p in live.db.parent.iterdir()) == ["state.db", "state.db.lock"]
    assert live.tenant.started == []
    assert main(["status"]) == 2
    assert live.db.read_bytes() == garbage


@pytest.fixture
def read_only(live: Live) -> Iterator[Path]:
    """The database file made read-only in a way that holds even for root (chattr +i)."""
    db = open_database(live.db)
    db.close()
    if os.geteuid() != 0:
        live.db.chmod(0o444)
        yield live.db
        live.db.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(live.db)], check=False).returncode:
        pytest.skip("root ignores file modes and chattr +i is not available here")
    try:
        yield live.db
    finally:
        subprocess.run([chattr, "-i", str(live.db)], check=True)


def test_read_only_database_starts_nothing_and_says_so_naming_the_file(
    live: Live, read_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    live.install()
    before = digest(read_only)

    code, _, err = sweep(capsys)

    assert code == 1
    assert_one_clear_line(err, str(read_only), "readonly", "read-only")
    # No intent row could be written, so no start was requested.
    assert live.tenant.started == []
    assert digest(read_only) == before
    # Reading it still works.
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["database"] == str(read_only)


def test_database_whose_folder_is_a_file_is_a_state_error_naming_both(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")

    with pytest.raises(StateError) as raised:
        open_database(blocker / "state.db")

    message = str(raised.value)
    assert str(blocker / "state.db") in message
    assert f"{blocker} is a file, not a folder" in message
    assert blocker.read_text() == "a file where the database folder should be"


def test_status_on_a_database_whose_folder_is_a_file_exits_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(blocker / "state.db"))

    assert main(["status"]) == 1

    err = capsys.readouterr().err.strip().splitlines()
    assert_one_clear_line(err, str(blocker / "state.db"), "is a file, not a folder")
    assert len(err) == 1


def test_sweep_on_a_database_whose_folder_is_a_file_exits_with_one_line(
    live: Live, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What fails for root too: a non-writable location. The sweep lock beside the database is
    # taken before the database is opened, so the lock must fail as clearly as the database.
    live.install()
    blocker = live.db.parent
    blocker.write_text("x")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(blocker / "state.db"))

    code, report, err = sweep(capsys)

    assert report is None
    assert code in (1, 2)
    assert_one_clear_line(err, str(blocker))
    assert len(err) == 1
    assert live.tenant.started == []


# --- a database locked by another process -------------------------------------------------------


def hold_write_lock(db: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN IMMEDIATE")
    return connection


def test_sweep_waits_for_a_write_lock_held_one_second_then_succeeds(
    live: Live, tmp_path: Path
) -> None:
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    live.install()
    open_database(live.db).close()
    holder = hold_write_lock(live.db)
    releaser = threading.Timer(1.0, holder.rollback)
    settings = Settings(tenant_url=TENANT, api_key=API_KEY, database=live.db)
    db = open_database(live.db)
    client = connect(TENANT, SecretStr(API_KEY), sender_options={"sleep": lambda _s: None})
    try:
        releaser.start()
        started = time.monotonic()
        report = run_sweep(SweepContext(client, Store(db, str(live.db)), settings), live.tenant.now)
        waited = time.monotonic() - started
    finally:
        releaser.join()
        client.close()
        db.close()
        holder.close()

    assert waited >= 0.9, "the sweep never met the lock"
    assert report.exit_code == 0
    assert [(o.app_id, o.reason) for o in report.outcomes] == [(live.target, "triggered")]
    assert live.tenant.started == [live.target]
    assert len(rows(live.db, "handled_events")) == 1


def test_lock_held_past_the_busy_timeout_starts_nothing_loses_nothing_and_names_the_file(
    live: Live, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state.database, "BUSY_TIMEOUT_MS", 300)
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    live.install()
    assert main(["sweep"]) == 0  # an earlier sweep recorded something: it must survive
    capsys.readouterr()
    recorded = rows(live.db, "sweeps")
    live.tenant.age_reloads(timedelta(minutes=30))
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=1))
    holder = hold_write_lock(live.db)
    try:
        code, _, err = sweep(capsys)
    finally:
        holder.rollback()
        holder.close()

    assert code == 1
    assert_one_clear_line(err, str(live.db), "database is locked", "another program")
    assert live.tenant.started == [live.target], "a start went out without its intent row"
    assert rows(live.db, "sweeps") == recorded

    code, report, err = sweep(capsys)
    assert code == 0, err
    assert report is not None
    assert [(d["app_id"], d["reason"]) for d in report["decisions"]] == [(live.target, "triggered")]
    assert live.tenant.started == [live.target, live.target]


def test_an_emptied_database_exits_2_in_one_line_until_new_database_is_given(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    live.tenant.finish(live.source, at=live.tenant.now - timedelta(minutes=5))
    live.install()
    assert sweep(capsys)[0] == 0
    assert live.tenant.started == [live.target]
    live.db.write_bytes(b"")  # emptied under the program

    code, report, err = sweep(capsys)

    assert (code, report) == (2, None)
    assert_one_clear_line(err, str(live.db), "0 bytes", "--new-database")
    assert live.db.read_bytes() == b""
    assert main(["sweep", "--json", "--new-database"]) == 0
    assert live.tenant.started == [live.target]  # the reload after its source counts as handled


def test_run_on_a_damaged_database_exits_2_in_one_line(
    live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_database import damaged_database

    live.install()
    live.db.parent.mkdir(parents=True)
    damaged_database(live.db)

    code = main(["run"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert_one_clear_line(err, str(live.db), "damaged", "quick_check")


# --- issue 16: end to end, the bad inputs whose test stopped short of the command line ---------


def test_a_misspelt_setting_stops_the_command_in_one_line_naming_file_line_and_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "reload-chain.toml"
    config.write_text(
        'tenant_url = "https://t.example.com"\ntolerence_minutes = 5\n', encoding="utf-8"
    )

    assert main(["--config", str(config), "status"]) == 2

    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith(
        f"unknown setting 'tolerence_minutes' in {config}:2; did you mean 'tolerance_minutes'?"
    )

"""``reload-chain report --html FILE`` and ``report_file`` (``scheduler.report``): written
atomically, after each committed sweep at no API call, never changing a sweep's exit code.

(``tests/test_report.py`` is about ``jobs/report.py``, the sweep's report.)
"""

from __future__ import annotations

import os
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.sweep import run_sweep
from scheduler import report as report_module
from scheduler.cli import main
from scheduler.config import load_settings
from scheduler.report import report_after_sweep, write_atomically
from scheduler.runtime import Runtime
from scheduler.settings import Settings
from state.database import open_database
from tests.clocks import ManualClock
from tests.conftest import NOW
from tests.fake_tenant import TENANT, FakeTenant, app_id
from tests.native_rows import task_json
from tests.sweeping import finish_started

CODE = "CONSECUTIVE-FAILURES"


@pytest.fixture(autouse=True)
def _logging(fresh_logging: None) -> None:
    """main() replaces the log sinks; fresh_logging puts them back."""


def chain(tenant: FakeTenant) -> tuple[str, str]:
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    return a, b


def swept(tenant: FakeTenant, tmp_path: Path, **settings: Any) -> tuple[Runtime, Path]:
    """One runtime's sweep of A -> B on the fake tenant, B started and then seen finished."""
    database = tmp_path / "state.db"
    runtime = Runtime(
        Settings(tenant_url=TENANT, api_key="key", database=database, **settings),
        clock=ManualClock(NOW),
    )
    a, b = chain(tenant)
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    with runtime:
        ctx = runtime.sweep_context(runtime.database())
        run_sweep(ctx, tenant.now)
        finish_started(tenant, b)
        run_sweep(ctx, tenant.now)
    return runtime, database


def test_each_committed_sweep_rewrites_the_report_file(tenant: FakeTenant, tmp_path: Path) -> None:
    path = tmp_path / "share" / "report.html"
    swept(tenant, tmp_path, report_file=path)
    page = path.read_text(encoding="utf-8")
    assert "App 1" in page and "App 2" in page
    assert 'class="hop succeeded"' in page
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left


def test_the_report_after_a_sweep_draws_the_native_tasks_the_sweep_listed(
    tenant: FakeTenant, tmp_path: Path
) -> None:
    tenant.tasks = [
        task_json("t-b", app_id(2)),
        task_json(
            "t-c", app_id(3), after="t-b", after_app=app_id(2), enabled=False, disabled_code=CODE
        ),
    ]
    path = tmp_path / "report.html"
    swept(tenant, tmp_path, report_file=path)
    page = path.read_text(encoding="utf-8")
    assert 'class="edge native-task on-success disabled"' in page
    assert f"disabled: {CODE}" in page and app_id(3) in page
    assert "the native tasks a sweep listed at 2026-11-22 10:00 UTC." in page


def test_the_report_after_a_sweep_asks_the_tenant_nothing(
    tenant: FakeTenant, tmp_path: Path, logged: list[str]
) -> None:
    _, database = swept(tenant, tmp_path)
    path = tmp_path / "report.html"
    # No tenant in these settings: any API call would fail, and be a WARNING.
    runtime = Runtime(Settings(database=database, report_file=path), clock=ManualClock(NOW))
    with runtime:
        report_after_sweep(runtime.database(), runtime)
    assert not [line for line in logged if line.startswith("WARNING")]
    assert "App 2" in path.read_text(encoding="utf-8")


def test_a_report_that_cannot_be_written_is_one_warning(tmp_path: Path, logged: list[str]) -> None:
    directory = tmp_path / "report.html"
    directory.mkdir()
    runtime = Runtime(Settings(database=tmp_path / "state.db", report_file=directory))
    report_after_sweep(open_database(":memory:"), runtime)
    warnings = [line for line in logged if line.startswith("WARNING")]
    assert len(warnings) == 1 and str(directory) in warnings[0]


def test_no_report_file_set_writes_nothing(tmp_path: Path) -> None:
    report_after_sweep(open_database(":memory:"), Runtime(Settings(database=tmp_path / "s.db")))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_page_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "report.html"
    write_atomically(path, "old")
    os.chmod(path, 0o640)

    def broken(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(report_module.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, "new")
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    write_atomically(path, "new")
    assert path.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the old file's permissions kept


def test_the_setting_comes_from_the_environment_or_the_file(tmp_path: Path) -> None:
    environ = {"RELOAD_CHAIN_REPORT_FILE": "~/www/reload-chain.html"}
    assert load_settings(environ=environ).report_file == Path.home() / "www" / "reload-chain.html"
    config = tmp_path / "reload-chain.toml"
    config.write_text('report_file = "www/report.html"\n', encoding="utf-8")
    assert load_settings(config, environ={}).report_file == tmp_path / "www" / "report.html"
    assert load_settings(environ={}).report_file is None


def report(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    code = main(["report", *flags], clock=ManualClock(NOW))
    return code, capsys.readouterr().out


def test_the_command_draws_the_tenants_graph_and_prints_the_path(
    tenant: FakeTenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, database = swept(tenant, tmp_path)
    c = tenant.add_app(3)  # tagged after the sweeps: only the tenant's graph has it
    tenant.apps[app_id(2)].tags.append(f"next-{c}")
    for name, value in {"QLIK_TENANT_URL": TENANT, "QLIK_API_KEY": "key"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(database))
    path = tmp_path / "out" / "report.html"
    assert report(capsys, "--html", str(path)) == (0, f"{path.resolve()}\n")
    assert "App 3" in path.read_text(encoding="utf-8")
    assert "tenant&#x27;s tags" in path.read_text(encoding="utf-8")
    assert report(capsys, "--offline", "--html", str(path)) == (0, f"{path.resolve()}\n")
    assert "App 3" not in path.read_text(encoding="utf-8")


def test_the_tenants_graph_says_when_the_native_tasks_could_not_be_listed(
    tenant: FakeTenant,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chain(tenant)
    tenant.tasks_answer = httpx.Response(403, json={"errors": [{"code": "HTTP-403"}]})
    for name, value in {"QLIK_TENANT_URL": TENANT, "QLIK_API_KEY": "key"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    path = tmp_path / "report.html"
    assert report(capsys, "--html", str(path))[0] == 0
    page = path.read_text(encoding="utf-8")
    assert "native reload tasks not shown: this identity may not list them" in page
    assert "App 2" in page


def test_offline_without_a_database_writes_an_empty_report_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "data" / "state.db"
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(database))
    path = tmp_path / "report.html"
    assert report(capsys, "--offline", "--html", str(path))[0] == 0
    assert "no chain runs yet" in path.read_text(encoding="utf-8")
    assert not database.parent.exists()


def test_the_tenants_graph_needs_a_tenant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    assert report(capsys, "--html", str(tmp_path / "r.html"))[0] == 2
    assert not (tmp_path / "r.html").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["report"])
    assert exit_.value.code == 2

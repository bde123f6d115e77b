"""The command line through ``main()``: exit codes, JSON shape, dry run, lock, settings errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from scheduler import commands
from scheduler.cli import main
from scheduler.lock import sweep_lock
from state.database import open_database
from tests.contract import SWEEP_JSON_KEYS
from tests.fake_tenant import TENANT, FakeTenant

SPEC_KEYS = set(SWEEP_JSON_KEYS)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state.db"
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", "secret-key-123")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(path))
    return path


@pytest.fixture
def chain(tenant: FakeTenant) -> tuple[str, str]:
    """App 1 tagged next-<app 2>; app 1 finished five minutes before the real clock's now."""
    from qlik.clock import SYSTEM_CLOCK

    tenant.now = SYSTEM_CLOCK.now()
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    return a, b


def dump(path: Path) -> list[str]:
    db = open_database(path)
    try:
        return list(db.conn.iterdump())
    finally:
        db.close()


def test_sweep_json_is_the_spec_object(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = chain
    assert main(["sweep", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == SPEC_KEYS
    assert set(report["window"]) == {"from", "to"}
    assert report["events"] == {"read": 1, "new": 1, "invalid": 0}
    assert report["sources"] == 1
    (decision,) = report["decisions"]
    assert decision["app_id"] == b and decision["decision"] == "triggered"
    assert decision["reason"] == "triggered" and decision["sources"] == [a]
    assert decision["reload_id"].startswith("rld-")
    assert report["api_calls"]["POST /api/v1/reloads"] == 1
    assert tenant.started == [b]


def test_dry_run_leaves_the_database_unchanged(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = chain
    assert main(["sweep"]) == 0
    tenant.age_reloads(timedelta(minutes=30))
    tenant.finish(a, at=tenant.now - timedelta(minutes=1))
    before = dump(database)
    capsys.readouterr()

    assert main(["sweep", "--dry-run", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True
    assert [(d["app_id"], d["decision"]) for d in report["decisions"]] == [(b, "triggered")]
    assert dump(database) == before
    assert tenant.started == [b]


def test_bad_settings_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", "http://tenant.example.com")
    assert main(["sweep"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "tenant_url" in err[0] and "QLIK_TENANT_URL" in err[0]


def test_missing_tenant_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep"]) == 2
    assert "missing setting tenant_url" in capsys.readouterr().err


def test_rejected_api_key_exits_2_and_changes_nothing(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.unauthorized = True
    assert main(["sweep"]) == 2
    captured = capsys.readouterr()
    assert "401" in captured.err
    assert "secret-key-123" not in captured.err + captured.out
    db = open_database(database)
    # SPEC 5: the sweep is recorded with its exit code; nothing else changed.
    assert [row["exit_code"] for row in db.table("sweeps").rows] == [2]
    assert db.table("cursor").count == 0 and db.table("ledger").count == 0
    db.close()


def test_second_sweep_while_one_holds_the_lock_exits_3(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sweep_lock(database):
        assert main(["sweep"]) == 3
    assert "another reload-chain sweep is running" in capsys.readouterr().err


def test_work_left_for_next_sweep_exits_1(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.post_answers[chain[1]] = httpx.Response(502)
    assert main(["sweep", "--json"]) == 1
    (decision,) = json.loads(capsys.readouterr().out)["decisions"]
    assert (decision["decision"], decision["reason"]) == ("failed", "transient")


def test_since_reads_from_the_given_time(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    since = (tenant.now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tenant.finish(chain[0], at=tenant.now - timedelta(hours=2))
    assert main(["sweep", "--since", since, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["window"]["from"].startswith(since[:19])
    assert report["events"]["read"] == 2


def test_invalid_since_exits_2(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err


def test_status_json_after_a_sweep(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["sweep"])
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["cursor"] is not None
    assert [d["app_id"] for d in status["decisions"]] == [chain[1]]
    assert status["sweeps"][0]["exit_code"] == 0


def test_python_dash_m_scheduler_is_the_same_program() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scheduler", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("reload-chain ")


def test_run_sweeps_at_start_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The real background process: first sweep at start, SIGTERM ends it with exit 0."""
    import os
    import signal
    import time

    env = os.environ | {
        "QLIK_TENANT_URL": "http://127.0.0.1:9",  # nothing listens: the sweep fails and is logged
        "QLIK_API_KEY": "secret-key-123",
        "RELOAD_CHAIN_DB": str(tmp_path / "state.db"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "scheduler", "run", "--interval-minutes", "5"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    lines: list[str] = []
    assert process.stderr is not None
    while time.monotonic() < deadline:
        lines.append(process.stderr.readline())
        # The summary line: "sweep <id> done in <secs>s: ...; exit <code>".
        if "sweep " in lines[-1] and " done in " in lines[-1]:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=20)[1]
    log = "".join(lines) + rest
    assert process.returncode == 0
    assert "sweeping every 5 min" in log
    assert "exit 1" in log  # the first sweep ran at start and left its work for later
    assert "SIGTERM received" in log and "stopped" in log
    assert "secret-key-123" not in log


def test_first_sweep_looks_back_one_hour_from_the_clock(
    database: Path, tenant: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI reads the clock once; frozen here, the first-run window is exactly [now-60m, now].

    With no events, only the tenant's times could move the cursor, so the second window starts
    where the first one did.
    """
    from freezegun import freeze_time

    with freeze_time("2026-11-22T10:00:00Z"):
        assert main(["sweep", "--json"]) == 0
    window = json.loads(capsys.readouterr().out)["window"]
    assert window == {"from": "2026-11-22T09:00:00.000Z", "to": "2026-11-22T10:00:00.000Z"}

    with freeze_time("2026-11-22T10:02:00Z"):
        assert main(["sweep", "--json"]) == 0
    window = json.loads(capsys.readouterr().out)["window"]
    assert window == {"from": "2026-11-22T09:00:00.000Z", "to": "2026-11-22T10:02:00.000Z"}


def test_400_from_audits_exits_2(
    database: Path, tenant: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = [{"code": "AUDITS-400", "title": "Invalid eventTime"}]
    tenant.audits_answer = httpx.Response(400, json={"errors": errors})
    assert main(["sweep"]) == 2
    assert "AUDITS-400" in capsys.readouterr().err


def test_dry_run_does_not_create_the_database(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [d["decision"] for d in report["decisions"]] == ["triggered"]
    assert not database.exists()
    assert tenant.started == []


def test_locked_first_sweep_exits_3_before_creating_the_database(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two first-ever sweeps at once: the second stops at the lock, not in a migration."""
    with sweep_lock(database):
        assert main(["sweep"]) == 3
    assert not database.exists()


@pytest.mark.parametrize("before_command", [True, False])
def test_config_and_log_level_work_before_and_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], before_command: bool
) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'database = "{(tmp_path / "from-config.db").as_posix()}"\n')
    options = ["--config", str(config), "--log-level", "debug"]
    argv = [*options, "status", "--json"] if before_command else ["status", "--json", *options]

    assert main(argv) == 0

    assert json.loads(capsys.readouterr().out)["database"] == str(tmp_path / "from-config.db")


def test_global_options_keep_their_defaults_and_earlier_values() -> None:
    from scheduler.cli import build_parser

    parser = build_parser()
    plain = parser.parse_args(["status"])
    # No level given: main() picks INFO, or WARNING for the narrating demo and sim commands.
    assert (plain.config, plain.log_level) == (None, None)
    before = parser.parse_args(["--log-level", "debug", "--config", "x.toml", "sweep"])
    assert (before.config, before.log_level) == (Path("x.toml"), "DEBUG")
    after = parser.parse_args(["sweep", "--log-level", "error"])
    assert after.log_level == "ERROR"


def test_an_invalid_chain_file_stops_every_command_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "reload-chain.toml"
    config.write_text(
        f'database = "{(tmp_path / "state.db").as_posix()}"\n'
        '[apps]\nsales = "00000000-0000-4000-8000-000000000001"\n'
        '[[edge]]\nfrom = "sales"\nto = "finance"\n'
    )
    assert main(["--config", str(config), "status"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"{config}:6: 'finance' is neither an alias in [apps] nor an app id" in line


def test_status_json_shows_decoded_lists_and_counts(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["sweep"])
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    (sweep,) = status["sweeps"]
    assert sweep["decisions"] == {"triggered": 1}
    assert sweep["api_calls"]["POST /api/v1/reloads"] == 1
    (decision,) = status["decisions"]
    assert decision["sources"] == [chain[0]]
    assert decision["source_reloads"][0].startswith("rld-")


def broken_pipe(args: object, settings: object) -> int:
    raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_ends_the_command_with_exit_0(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # main() builds its parser on each call, binding commands.cmd_status then.
    from scheduler import commands

    monkeypatch.setattr(commands, "cmd_status", broken_pipe)
    assert main(["status"]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipe semantics")
def test_after_a_closed_pipe_stdout_writes_go_nowhere(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interpreter's final flush must not fail again on the same pipe."""
    import os

    from scheduler import commands

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    stdout = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    monkeypatch.setattr(sys, "stdout", stdout)

    def print_a_lot(args: object, settings: object) -> int:
        print("x" * 100_000, flush=True)  # the real BrokenPipeError, from the write
        return 0

    monkeypatch.setattr(commands, "cmd_status", print_a_lot)
    try:
        assert main(["status"]) == 0
        assert os.path.samestat(os.fstat(write_end), os.stat(os.devnull))
        print("more", file=stdout, flush=True)  # no BrokenPipeError any more
    finally:
        stdout.close()


def pipe_closed_before_output(tmp_path: Path, buffered: bool) -> subprocess.CompletedProcess[str]:
    """``reload-chain status --json`` writing into a pipe whose reader has already exited."""
    import os

    env = os.environ | {
        "QLIK_TENANT_URL": TENANT,
        "QLIK_API_KEY": "secret-key-123",
        "RELOAD_CHAIN_DB": str(tmp_path / "state.db"),
    }
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "scheduler", "status", "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
            timeout=60,
        )
    finally:
        os.close(write_end)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipe semantics")
def test_status_into_a_closed_pipe_exits_0_without_traceback(tmp_path: Path) -> None:
    # Unbuffered: the write fails inside the command, where main() catches it.
    result = pipe_closed_before_output(tmp_path, buffered=False)
    assert "Traceback" not in result.stderr
    assert "BrokenPipeError" not in result.stderr
    assert result.returncode == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipe semantics")
def test_buffered_status_into_a_closed_pipe_exits_0_without_traceback(tmp_path: Path) -> None:
    result = pipe_closed_before_output(tmp_path, buffered=True)
    assert "BrokenPipeError" not in result.stderr
    assert result.returncode == 0


def test_output_the_stdout_encoding_lacks_is_replaced_not_fatal(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from scheduler import commands

    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stdout)

    def print_app_name(args: object, settings: object) -> int:
        print("Ventes é → ✓")
        return 0

    monkeypatch.setattr(commands, "cmd_status", print_app_name)
    assert main(["status"]) == 0
    print("après")  # still the same stream, still forgiving
    stdout.flush()
    assert raw.getvalue() == b"Ventes ? ? ?\napr?s\n"


def test_an_ascii_stream_without_main_would_fail() -> None:
    """The check above is meaningful: such a stream is strict until main() reconfigures it."""
    import io

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    with pytest.raises(UnicodeEncodeError):
        print("é", file=stdout)


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone: flushing what was written fails."""

    def flush(self) -> None:
        if self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_keeps_the_sweeps_exit_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "s.db"))

    def sweep_with_work_left(args: object, settings: object) -> int:
        sys.stdout.write('{"sweep_id": "x"}\n')  # printed, still buffered
        return 1  # some work failed: retried next sweep

    monkeypatch.setattr(commands, "cmd_sweep", sweep_with_work_left)
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["sweep", "--json"]) == 1


def test_since_in_the_future_exits_2_in_one_line(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "--since", "2099-01-01T00:00:00Z"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "--since 2099-01-01T00:00:00Z is in the future (now is " in line
    assert not database.exists()


def test_a_sweep_aborted_by_the_tenant_says_so_once(
    database: Path, tenant: FakeTenant, chain: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.unauthorized = True
    assert main(["sweep"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    (line,) = errors
    assert "aborted" in line and "401" in line

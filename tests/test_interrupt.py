"""Ctrl+C and SIGTERM in a one-shot ``sweep`` or ``start``: one line, nothing lost, 130 or 143."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.runner import Interrupted

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def hanging_tenant() -> Iterator[tuple[str, threading.Event]]:
    """A tenant that reads each request and never answers; the event is set at the first."""
    server = socket.create_server(("127.0.0.1", 0))
    asked = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            conn.recv(4096)
            asked.set()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", asked
    server.close()
    for conn in held:
        conn.close()


def interrupted_run(
    args: list[str], tenant: tuple[str, threading.Event], tmp_path: Path, signum: int
) -> subprocess.CompletedProcess[str]:
    url, asked = tenant
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QLIK_", "RELOAD_CHAIN_"))}
    env |= {
        "QLIK_TENANT_URL": url,
        "QLIK_API_KEY": "key",
        "RELOAD_CHAIN_DB": str(tmp_path / "state.db"),
        "RELOAD_CHAIN_HTTP_TIMEOUT_SECONDS": "600",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "scheduler", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert asked.wait(timeout=30), "the command never called the tenant"
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)  # a hung call ends within seconds
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(args, process.returncode, out, err)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_sweep_says_so_in_one_line_and_exits_128_plus_the_signal(
    hanging_tenant: tuple[str, threading.Event], tmp_path: Path, signum: int, code: int
) -> None:
    done = interrupted_run(["sweep"], hanging_tenant, tmp_path, signum)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
    name = signal.Signals(signum).name
    (line,) = [line for line in done.stderr.splitlines() if f"{name} received" in line]
    assert "the sweep stopped early and committed what it did" in line
    # Recorded as a sweep whose read stopped: its events are read again by the next sweep.
    db = sqlite3.connect(tmp_path / "state.db")
    try:
        assert db.execute("select exit_code from sweeps").fetchall() == [(1,)]
    finally:
        db.close()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_start_says_so_once_and_exits_128_plus_the_signal(
    hanging_tenant: tuple[str, threading.Event], tmp_path: Path, signum: int, code: int
) -> None:
    app = "00000000-0000-4000-8000-000000000001"
    done = interrupted_run(["start", "--app", app], hanging_tenant, tmp_path, signum)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    said = f"{signal.Signals(signum).name} received"
    assert len([line for line in done.stderr.splitlines() if said in line]) == 1


def test_the_exit_code_is_the_shells() -> None:
    assert Interrupted("SIGINT", 2).exit_code == 130
    assert Interrupted("SIGTERM", 15).exit_code == 143

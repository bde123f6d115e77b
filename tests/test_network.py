"""Network errors that say what to fix: the host and the setting, exit 2 for a bad address."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qlik.network import unreachable_reason
from scheduler.cli import main
from state.database import open_database

NO_SUCH_HOST = "https://no-such-tenant.invalid"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    database = tmp_path / "state.db"
    monkeypatch.setenv("QLIK_API_KEY", "key")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(database))
    monkeypatch.setenv("RELOAD_CHAIN_HTTP_TIMEOUT_SECONDS", "5")
    return database


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]


def test_a_host_that_does_not_resolve_is_a_setting_to_fix(
    environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", NO_SUCH_HOST)
    assert main(["sweep"]) == 2
    (line,) = error_lines(capsys)
    assert "cannot reach no-such-tenant.invalid: the name does not resolve" in line
    assert "check tenant_url" in line


def test_the_same_failure_after_it_worked_is_retried_next_sweep(
    environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = open_database(environment)
    db.table("sweeps").insert(
        {"sweep_id": "s0", "started_at": "2026-12-01T00:00:00Z", "exit_code": 0}
    )
    db.close()
    monkeypatch.setenv("QLIK_TENANT_URL", NO_SUCH_HOST)
    assert main(["sweep"]) == 1
    (line,) = error_lines(capsys)
    assert "the name does not resolve" in line and "(it worked before)" in line


@pytest.fixture
def untrusted_tls_server(tmp_path: Path) -> Iterator[int]:
    """A TLS server on loopback whose self-signed certificate no trust store holds."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*request, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass  # the client refused our certificate, as it should

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_a_refused_certificate_is_a_setting_to_fix(
    environment: Path,
    untrusted_tls_server: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", f"https://127.0.0.1:{untrusted_tls_server}")
    assert main(["sweep"]) == 2
    (line,) = error_lines(capsys)
    assert "cannot reach 127.0.0.1: its TLS certificate was refused" in line
    assert "certificate store" in line


def test_a_url_copied_from_the_browser_is_refused_with_the_fix(
    environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", "https://acme.eu.qlikcloud.com/hub/home")
    assert main(["sweep"]) == 2
    (line,) = error_lines(capsys)
    assert "tenant_url" in line and "QLIK_TENANT_URL" in line
    assert "without a path: use https://acme.eu.qlikcloud.com" in line
    assert not environment.exists()


def test_a_refused_connection_may_pass() -> None:
    assert unreachable_reason(ConnectionRefusedError(111, "refused"), "host") is None

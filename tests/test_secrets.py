"""Secrets (issue 4 item 5): the API key never reaches logs, JSON output, messages or the database.

Full sweeps of the installed program against the simulated tenant, at the most verbose log
level, through a failing source, a 503 on a start, a 401 on a start and a 401 on a read; then
every byte written (stdout, stderr, the log files, the database and its journals) is scanned.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from qlik.client import connect
from scheduler.settings import Settings
from simulator.scenario import AppSpec, FaultRule, ReloadSpec, Scenario, SpaceSpec, UserSpec
from simulator.server import SimulatorServer

SECRET = "sk-SECRET-1234567890abcdef"
# Pieces that would betray a truncated or re-encoded key as well.
FRAGMENTS = (SECRET, "SECRET-1234567890", "1234567890abcdef")
CONSOLE_SCRIPT = str(Path(sys.executable).parent / "reload-chain")


def leaks(data: bytes | str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [fragment for fragment in FRAGMENTS if fragment in text]


def test_the_scan_finds_a_planted_key(tmp_path: Path) -> None:
    planted = tmp_path / "planted.log"
    planted.write_bytes(b"\x00binary\xff Authorization: Bearer " + SECRET.encode() + b"\n")
    assert leaks(planted.read_bytes()) == list(FRAGMENTS)
    assert leaks(SECRET[:-3]) == ["SECRET-1234567890"]


def scenario() -> Scenario:
    def app(key: str, **fields: object) -> AppSpec:
        return AppSpec(key=key, space="dev", queue_seconds=0.05, duration_seconds=0.2, **fields)  # type: ignore[arg-type]

    return Scenario(
        name="secrets",
        users=[UserSpec(id="admin", name="Admin", api_key=SECRET)],
        spaces=[SpaceSpec(id="dev", name="Dev", type="shared", members={"admin": ["producer"]})],
        apps=[
            app("ok", next=["a", "b"]),
            app("broken", outcome="failure", next_onfail=["alerts"]),
            app("a"),
            app("b"),
            app("alerts"),
        ],
        reloads=[
            ReloadSpec(app="ok", ended_minutes_ago=2),
            ReloadSpec(app="broken", ended_minutes_ago=1),
        ],
    )


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CONSOLE_SCRIPT, *args], env=env, capture_output=True, timeout=60, check=False
    )


def test_a_verbose_sweep_through_every_error_path_writes_the_key_nowhere(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    log_file = tmp_path / "logs" / "reload-chain.log"
    outputs: list[bytes] = []
    with SimulatorServer(scenario()) as sim:
        env = os.environ | {
            "QLIK_TENANT_URL": sim.url,
            "QLIK_API_KEY": SECRET,
            "RELOAD_CHAIN_DB": str(db),
            "RELOAD_CHAIN_LOG_FILE": str(log_file),
        }
        faults = sim.app.faults
        steps: list[tuple[FaultRule | None, str, set[int]]] = [
            # One start answers 503 (left for later), the others go through.
            (FaultRule(path="/api/v1/reloads", method="POST", status=503), "TRACE", {1}),
            # The retried start is refused with 401: exit 2.
            (FaultRule(path="/api/v1/reloads", method="POST", status=401), "TRACE", {2}),
            # A read refused with 401: exit 2.
            (FaultRule(path="/api/v1/audits", status=401), "TRACE", {2}),
            # Clean, at DEBUG too (httpx logs its requests at DEBUG).
            (None, "DEBUG", {0}),
            (None, "TRACE", {0}),
        ]
        codes = []
        for rule, level, allowed in steps:
            if rule is not None:
                faults.add_rule(rule)
            done = run(["sweep", "--json", "--log-level", level], env)
            codes.append(done.returncode)
            outputs += [done.stdout, done.stderr]
            assert done.returncode in allowed, done.stderr.decode()
        status = run(["status", "--json", "--log-level", "TRACE"], env)
        outputs += [status.stdout, status.stderr]
        assert status.returncode == 0
        started = dict(sim.tenant.reload_log())

    # The runs really went through the paths they were meant to, with the key in use.
    assert codes == [1, 2, 2, 0, 0]
    assert sum(started.values()) == 3, started  # a, b and alerts, each once
    assert faults.injected["status"] == 3
    assert any(b"TRACE" in out or b"DEBUG" in out for out in outputs)
    written = [*outputs]
    files = [p for p in [*log_file.parent.iterdir(), *tmp_path.glob("state.db*")] if p.is_file()]
    assert log_file in files and db in files
    written += [path.read_bytes() for path in files]
    assert log_file.stat().st_size > 0 and db.stat().st_size > 0
    for number, data in enumerate(written):
        assert leaks(data) == [], f"the API key leaked into output #{number}"


def test_settings_and_the_http_client_never_show_the_key(tmp_path: Path) -> None:
    settings = Settings(
        tenant_url="https://tenant.example.com", api_key=SECRET, client_secret=SECRET
    )
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())]
    client = connect("https://tenant.example.com", SecretStr(SECRET))
    try:
        http = client._sender.http
        auth = http.auth
        shown += [repr(auth), str(auth), repr(http), repr(http.headers), repr(vars(auth))]
        # The key is sent, in the request's header only.
        request = next(auth.auth_flow(httpx.Request("GET", "https://tenant.example.com/x")))
        assert request.headers["Authorization"] == f"Bearer {SECRET}"
        shown += [repr(request), str(request.url)]
    finally:
        client.close()
    for text in shown:
        assert leaks(text) == [], text


@pytest.mark.parametrize("status", [401, 403])
def test_refusal_messages_never_carry_the_key(status: int) -> None:
    body = {"errors": [{"code": f"HTTP-{status}", "title": "Unauthorized"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    client = connect(
        "https://tenant.example.com",
        SecretStr(SECRET),
        transport=httpx.MockTransport(handler),
        sender_options={"sleep": lambda _s: None},
    )
    try:
        with pytest.raises(Exception) as raised:
            client.latest_reload("00000000-0000-4000-8000-000000000001")
    finally:
        client.close()
    # The error names the endpoint and the answer, never the request's headers.
    assert "/api/v1/reloads" in str(raised.value)
    message = f"{raised.value!s} {raised.value!r}"
    assert leaks(message) == [], message

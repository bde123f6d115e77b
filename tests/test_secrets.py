"""Secrets (issue 4 item 5, issue 11 item 6): no secret in logs, output, messages or the database.

Full sweeps of the installed program against the simulated tenant, at the most verbose log
level, through a failing source, a 503 on a start, a 401 on a start and a 401 on a read; then
every byte written (stdout, stderr, the log files, the database and its journals) is scanned.
Then ``sweep`` and ``doctor`` against a loopback tenant whose every error answer echoes the
``Authorization`` header, and secrets with a trailing CR/LF, refused at load without being shown.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from loguru import logger
from pydantic import SecretStr

from qlik.client import connect
from qlik.errors import QlikError
from scheduler.cli import main
from scheduler.logs import configure_logging
from scheduler.scrub import Scrubber
from scheduler.settings import ENVIRONMENT, Settings
from simulator.scenario import FaultRule, ReloadSpec, Scenario, UserSpec
from simulator.server import SimulatorServer
from tests.fake_tenant import age_intents
from tests.program import CONSOLE_SCRIPT, app, dev_space, environment

SECRET = "sk-SECRET-1234567890abcdef"
# Pieces that would betray a truncated or re-encoded key as well.
FRAGMENTS = (SECRET, "SECRET-1234567890", "1234567890abcdef")


def leaks(data: bytes | str) -> list[str]:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [fragment for fragment in FRAGMENTS if fragment in text]


def test_the_scan_finds_a_planted_key(tmp_path: Path) -> None:
    planted = tmp_path / "planted.log"
    planted.write_bytes(b"\x00binary\xff Authorization: Bearer " + SECRET.encode() + b"\n")
    assert leaks(planted.read_bytes()) == list(FRAGMENTS)
    assert leaks(SECRET[:-3]) == ["SECRET-1234567890"]


def scenario() -> Scenario:
    return Scenario(
        name="secrets",
        users=[UserSpec(id="admin", name="Admin", api_key=SECRET)],
        spaces=[dev_space()],
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
    """The installed program; its output as the bytes it wrote, not decoded."""
    return subprocess.run(
        [*CONSOLE_SCRIPT, *args], env=env, capture_output=True, timeout=60, check=False
    )


def test_a_verbose_sweep_through_every_error_path_writes_the_key_nowhere(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    log_file = tmp_path / "logs" / "reload-chain.log"
    outputs: list[bytes] = []
    with SimulatorServer(scenario()) as sim:
        env = environment(sim, db, QLIK_API_KEY=SECRET, RELOAD_CHAIN_LOG_FILE=str(log_file))
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
            if db.exists():
                age_intents(db)  # a lost answer's in-flight window, not waited out here
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


# Issue 11 item 6: a tenant that echoes the Authorization header, and keys with CR/LF.
ECHOED_TOKEN = "at-TOKEN-5566778899aabbcc"
# Where a key that got through would be sent: loopback, nothing listening.
CLOSED_PORT = "http://127.0.0.1:9"
CLIENT_SECRET = "cs-SECRET-0987654321fedcba"


class EchoingTenant(BaseHTTPRequestHandler):
    """Answers each request with an error quoting its Authorization header and its body.

    The first request of each method and path gets a 500 (plain text), the later ones a 403
    (a Qlik ``errors`` body), so both the retried and the refused paths print what they got.
    ``POST /oauth/token`` hands out ``ECHOED_TOKEN`` after one 500.
    """

    server: EchoServer

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        echo = f"you sent Authorization: {self.headers.get('Authorization')} and {body}"
        first = self.server.first_time(f"{self.command} {self.path}")
        if first:
            self._send(500, "text/plain", f"upstream failed; {echo}")
        elif self.path.startswith("/oauth/token"):
            token = {"access_token": ECHOED_TOKEN, "token_type": "bearer", "expires_in": 3600}
            self._send(200, "application/json", json.dumps(token))
        else:
            errors = {"errors": [{"code": "ECHO-403", "title": echo, "detail": echo}]}
            self._send(403, "application/json", json.dumps(errors))

    def _send(self, status: int, kind: str, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test reads the program's output, not the server's


class EchoServer(ThreadingHTTPServer):
    """The echoing tenant on a free loopback port."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EchoingTenant)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def first_time(self, request: str) -> bool:
        with self._lock:
            first = request not in self._seen
            self._seen.add(request)
            return first


@pytest.fixture
def echoing_tenant() -> Iterator[EchoServer]:
    server = EchoServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def echo_leaks(text: str) -> list[str]:
    return [s for s in (*FRAGMENTS, ECHOED_TOKEN, CLIENT_SECRET, "0987654321") if s in text]


@pytest.mark.usefixtures("fresh_logging")
@pytest.mark.parametrize(
    "options", [["sweep"], ["sweep", "--log-json"], ["doctor"], ["doctor", "--log-json"]]
)
def test_an_echoing_tenant_never_gets_the_key_shown(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    echoing_tenant: EchoServer,
    options: list[str],
) -> None:
    log_file = tmp_path / "logs" / "reload-chain.log"
    monkeypatch.setenv("QLIK_TENANT_URL", echoing_tenant.url)
    monkeypatch.setenv("QLIK_API_KEY", SECRET)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("RELOAD_CHAIN_LOG_FILE", str(log_file))
    argv = [*options, "--log-level", "DEBUG"]
    code = main(argv)
    out, err = capfd.readouterr()
    logger.remove()  # closes the log file
    logged = log_file.read_text(encoding="utf-8")
    assert code in (1, 2), err
    # The echo went through, redacted: the tenant's answer is shown, the key is not. The
    # doctor prints its findings on stdout; a sweep logs its error.
    assert "you sent Authorization: Bearer [redacted]" in out + err
    assert "HTTP Request" in logged  # the DEBUG lines of httpx reached the file
    if options[0] == "sweep":
        assert "you sent Authorization: Bearer [redacted]" in logged
    for number, text in enumerate((out, err, logged)):
        assert echo_leaks(text) == [], f"output #{number} of {argv}: {text}"


@pytest.mark.usefixtures("fresh_logging")
def test_an_oauth_client_secret_and_its_bearer_token_are_never_shown(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    echoing_tenant: EchoServer,
) -> None:
    log_file = tmp_path / "reload-chain.log"
    monkeypatch.setenv("QLIK_TENANT_URL", echoing_tenant.url)
    monkeypatch.setenv("QLIK_CLIENT_ID", "rc-client")
    monkeypatch.setenv("QLIK_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    monkeypatch.setenv("RELOAD_CHAIN_LOG_FILE", str(log_file))
    assert main(["doctor", "--log-level", "TRACE"]) == 1
    out, err = capfd.readouterr()
    logger.remove()
    logged = log_file.read_text(encoding="utf-8")
    assert "Bearer [redacted]" in out  # the token was fetched and used, then echoed
    for text in (out, err, logged):
        assert echo_leaks(text) == [], text


def run_with_bad_key(capfd: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    out, err = capfd.readouterr()
    return code, out + err


@pytest.mark.usefixtures("fresh_logging")
@pytest.mark.parametrize("tail", ["\r", "\n", "\r\n", " "])
@pytest.mark.parametrize("name", ["api_key", "client_secret"])
def test_a_secret_with_trailing_whitespace_in_the_environment_is_refused_unseen(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    name: str,
    tail: str,
) -> None:
    variable = ENVIRONMENT[name]
    monkeypatch.setenv("QLIK_TENANT_URL", CLOSED_PORT)
    monkeypatch.setenv("QLIK_CLIENT_ID", "rc-client")
    monkeypatch.setenv(variable, SECRET + tail)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    for command in ("sweep", "doctor", "status"):
        code, shown = run_with_bad_key(capfd, [command])
        assert code == 2, shown
        (line,) = shown.strip().splitlines()
        assert name in line and variable in line
        assert leaks(line) == [], line
    assert not (tmp_path / "state.db").exists()


@pytest.mark.usefixtures("fresh_logging")
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_key_from_a_toml_multiline_string_is_refused_unseen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], newline: str
) -> None:
    config = tmp_path / "reload-chain.toml"
    lines = [
        f'tenant_url = "{CLOSED_PORT}"',
        f'database = "{(tmp_path / "state.db").as_posix()}"',
        'api_key = """',
        SECRET,
        '"""',
        "",
    ]
    config.write_bytes(newline.join(lines).encode())
    for command in ("sweep", "doctor"):
        code, shown = run_with_bad_key(capfd, ["--config", str(config), command])
        assert code == 2, shown
        (line,) = shown.strip().splitlines()
        assert "api_key" in line and str(config) in line
        assert leaks(line) == [], line


@pytest.mark.usefixtures("fresh_logging")
def test_httpx_quoting_a_header_with_a_newline_is_scrubbed_from_the_log(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], echoing_tenant: EchoServer
) -> None:
    # The settings refuse such a key; were one to get through, httpx's own error quotes the
    # whole header in the retry warnings, and the log shows none of it.
    log_file = tmp_path / "rc.log"
    configure_logging("INFO", log_file, scrubber=Scrubber([SECRET + "\r\n"]))
    client = connect(
        echoing_tenant.url, SecretStr(SECRET + "\r\n"), sender_options={"sleep": lambda _s: None}
    )
    try:
        with pytest.raises(QlikError) as raised:
            client.latest_reload("00000000-0000-4000-8000-000000000001")
    finally:
        client.close()
    assert leaks(str(raised.value)) != []  # what httpx said: the key, quoted
    logger.warning("sweep failed: {}", raised.value)
    logger.remove()
    err = capfd.readouterr().err
    for text in (err, log_file.read_text(encoding="utf-8")):
        assert "Illegal header value b'Bearer [redacted]" in text
        assert leaks(text) == [], text


def test_a_refusal_echoing_the_key_is_stored_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger keeps each refusal's detail; the database must not keep the key with it."""
    from datetime import timedelta

    import httpx
    import respx

    from qlik.clock import SYSTEM_CLOCK
    from tests.fake_tenant import TENANT, FakeTenant

    db = tmp_path / "state.db"
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", SECRET)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(db))
    tenant = FakeTenant(now=SYSTEM_CLOCK.now())
    target = tenant.add_app(2)
    source = tenant.add_app(1, tags=[f"next-{target}"])
    tenant.finish(source, at=tenant.now - timedelta(minutes=5))
    echo = {"errors": [{"code": "X-1", "title": f"bad request, you sent Bearer {SECRET}"}]}
    tenant.post_answers[target] = httpx.Response(400, json=echo)
    with respx.mock(base_url=TENANT, assert_all_called=False) as router:
        tenant.install(router)
        assert main(["sweep", "--log-level", "ERROR"]) == 0

    stored = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*") if p.is_file())
    assert SECRET.encode() not in stored
    assert b"you sent Bearer [redacted]" in stored  # the detail itself is kept

"""Re-capture every example output of README.md and docs/*.md from the current code.

    python docs/capture.py            # rewrite the blocks whose output changed (make docs)
    python docs/capture.py --check    # exit 1, listing the blocks that differ; write nothing
    python docs/capture.py NAME ...   # only the sessions that produce these blocks

**Markers.** An example output in the docs is a fenced block between two comments; the name
says which recipe below produces it:

    <!-- capture: sweep-first -->
    ```text
    ...output...
    ```
    <!-- /capture -->

**How an output is made.** By really running the program: ``reload-chain`` beside this Python
(``.venv/bin/reload-chain``), as a subprocess with none of this shell's ``QLIK_`` or
``RELOAD_CHAIN_`` variables, in a scratch folder. Most recipes run against the built-in
simulated finance tenant, served by ``reload-chain sim --port 0`` (a session: the sim, then
sweeps, each made once the tenant is quiet, so that every sweep moves the chain one hop, then
the commands that read what they left); ``demo`` runs ``reload-chain demo``; the rest need no
tenant (settings errors, ``--help``, ``schedule-task``, ``health`` on an empty database). The
environment is fixed: ``TZ=UTC`` (log lines show UTC), ``COLUMNS=100``, and the keyring
backend that fails (``keyring.backends.fail.Keyring``: a server without a desktop session).
``status`` and ``runs`` are run on a pseudo-terminal 80 columns wide (``TERM=dumb``: no
colour), as an administrator sees them; everything else with stdout piped.

**Normalised when written** (always the same, whatever machine or run):

- the scratch folder is shown as ``/srv/reload-chain`` and the folder of this Python (the
  virtual environment's ``bin``) as ``/opt/reload-chain/bin``, the paths of the README's
  Linux install;
- the simulator's loopback port is shown as 8080 (``reload-chain sim``'s default), the demo's
  alert receiver's as 8090;
- carriage returns, colour codes and trailing spaces are removed.

**Masked when compared.** Times, durations, sweep ids (``20261205T073607Z-3c2d``) and sizes
differ from run to run while the behaviour stays the same. A block is compared with a fresh
capture after both are masked (``mask()``: each such value replaced by a placeholder, runs of
spaces and of ``─`` squeezed); a block whose masked text did not change is left exactly as it
is, so re-running rewrites nothing. ``--check`` lists the blocks whose masked text differs.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SHOWN_FOLDER = "/srv/reload-chain"
SHOWN_BIN = "/opt/reload-chain/bin"
SHOWN_SIM_PORT = "8080"
SHOWN_RECEIVER_PORT = "8090"
TIMEOUT_S = 90.0
TTY_COLUMNS = 80
# How long the simulated tenant must stay unchanged, nothing active, before a sweep: more than
# the second it waits before a native task fires (simulator/tasks.py).
QUIET_S = 2.5
# Sweeps after the second before the chain must have come to rest.
MAX_HOPS = 8

# A marked block, possibly indented (inside a list item): its comments and fences share the
# indentation, and so does each line of the body.
MARKER = re.compile(
    r"^(?P<indent>[ ]*)<!-- capture: (?P<name>[\w.-]+) -->\n"
    r"(?P=indent)(?P<fence>```[^\n]*)\n"
    r"(?P<body>(?:[^\n]*\n)*?)"
    r"(?P=indent)```\n"
    r"(?P=indent)<!-- /capture -->$",
    re.M,
)
OPENING = re.compile(r"^[ ]*<!-- capture: [^\n]*-->$", re.M)
CLOSING = re.compile(r"^[ ]*<!-- /capture -->$", re.M)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


# --- the documents and their blocks ------------------------------------------------------------


def documents() -> list[Path]:
    """README.md and every docs/*.md: the files whose blocks are captured."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    """One marked block: its file, recipe name, line and text (without the fences)."""

    path: Path
    name: str
    line: int
    body: str

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} {self.name}"


def blocks(path: Path) -> list[Block]:
    """The marked blocks of one document, in order."""
    text = path.read_text(encoding="utf-8")
    return [
        Block(
            path,
            match["name"],
            text.count("\n", 0, match.start()) + 1,
            dedent(match["body"], match["indent"]),
        )
        for match in MARKER.finditer(text)
    ]


def dedent(body: str, indent: str) -> str:
    """A block's lines without the indentation of its markers."""
    return "".join(line.removeprefix(indent) for line in body.splitlines(keepends=True))


def indent_lines(text: str, indent: str) -> str:
    """``text`` with ``indent`` before each line that is not empty."""
    return "".join(
        indent + line if line.strip() else line for line in text.splitlines(keepends=True)
    )


def stray_markers(path: Path) -> list[str]:
    """Marker lines that do not frame a fenced block (a typo would hide a block)."""
    text = path.read_text(encoding="utf-8")
    framed = sum(1 for _ in MARKER.finditer(text))
    opened, closed = len(OPENING.findall(text)), len(CLOSING.findall(text))
    if framed == opened == closed:
        return []
    return [
        f"{path.relative_to(ROOT)}: {opened} opening and {closed} closing marker lines, "
        f"but {framed} marked blocks"
    ]


# --- normalising and masking -------------------------------------------------------------------


def tidy(text: str) -> str:
    """No carriage returns, colour codes or trailing spaces; one final newline."""
    text = ANSI.sub("", text.replace("\r\n", "\n").replace("\r", ""))
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


MASKS: tuple[tuple[str, str], ...] = (
    # Sweep and start ids: a time and random hex.
    (r"\b\d{8}T\d{6}Z-[0-9a-f]{4}\b", "<sweep>"),
    (r"\bstart-\d{8}T\d{6}Z-[0-9a-f]+\b", "<start>"),
    # Times: ISO with or without T, fractions, zone; the short 12-05 07:08:23 of tables.
    (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?(Z|[+-]\d\d:?\d\d)?", "<time>"),
    (r"\b\d\d-\d\d \d\d:\d\d(:\d\d)?Z?", "<time>"),
    (r"\b\d{4}-\d\d-\d\d\b", "<date>"),
    (r"\b\d\d:\d\d(:\d\d)?\b", "<clock>"),
    # Log file lines name the code's line: jobs.sweep:_read_events:186.
    (r"(:\w+):\d+ ", r"\1:<line> "),
    # Durations and ages: 12.3s, 3m04s, 2h05m, 250 ms, 15 min.
    (r"\b\d+m\d\ds\b|\b\d+h\d\dm\b", "<duration>"),
    (r"[+-]?\d+(\.\d+)?\s?(ms|s|min)\b", "<duration>"),
    (r'"(duration_s|hop_latency_s|max_age_minutes)": [\d.]+', r'"\1": <n>'),
    # An alert's id: a hash of its sweep (among others), the same on every retry.
    (r"(Alert id: )[0-9a-f]+", r"\1<id>"),
    # Metrics that are times or sums of durations; database sizes.
    (r"(_timestamp_seconds|_sum) [\d.e+-]+", r"\1 <n>"),
    (r"\(\d+ pages, [\d.]+ MB\)", "(<size>)"),
)


def mask(text: str) -> str:
    """``text`` with what differs from run to run replaced, for comparing two captures."""
    for pattern, placeholder in MASKS:
        text = re.sub(pattern, placeholder, text)
    text = re.sub(r"─+", "─", text)
    return "\n".join(re.sub(r" +", " ", line).strip() for line in text.splitlines())


def same(written: str, captured: str) -> bool:
    """Whether a block's text and a fresh capture show the same behaviour."""
    return mask(written) == mask(captured)


# --- running the program -----------------------------------------------------------------------


def program() -> list[str]:
    """The console script beside this Python, else this Python with ``-m scheduler``."""
    script = BIN / "reload-chain"
    return [str(script)] if script.exists() else [sys.executable, "-m", "scheduler"]


def base_environment() -> dict[str, str]:
    """This process's environment without reload-chain's variables, made deterministic."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("QLIK_", "RELOAD_CHAIN_", "PYTHON_KEYRING"))
        and name not in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
    }
    return kept | {
        "TZ": "UTC",
        "COLUMNS": "100",
        "LC_ALL": "C.UTF-8",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "NO_COLOR": "1",
    }


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@dataclass
class Workspace:
    """A scratch folder, the environment the program runs with, and what to show instead."""

    folder: Path
    env: dict[str, str] = field(default_factory=base_environment)
    shown: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shown.setdefault(str(self.folder), SHOWN_FOLDER)
        self.shown.setdefault(str(BIN), SHOWN_BIN)

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        stdin: str | None = None,
        tty: bool = False,
        env: Mapping[str, str] | None = None,
        **variables: str,
    ) -> Result:
        """``reload-chain <args>`` to its end, with ``env`` and ``variables`` added to the
        environment."""
        env = self.env | dict(env or {}) | variables
        command = [*program(), *args]
        where = cwd or self.folder
        if tty:
            return _run_on_terminal(command, env, where)
        done = subprocess.run(
            command,
            env=env,
            cwd=where,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def show(self, text: str) -> str:
        """``text`` tidied, with the scratch paths and ports as the docs show them."""
        # Longest first: a folder inside another is replaced before its parent.
        for real in sorted(self.shown, key=len, reverse=True):
            text = text.replace(real, self.shown[real])
        return tidy(text)


def _run_on_terminal(command: list[str], env: dict[str, str], cwd: Path) -> Result:
    """Run with stdout on a pseudo-terminal ``TTY_COLUMNS`` wide; stderr to a file."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, TTY_COLUMNS, 0, 0))
    env = env | {"TERM": "dumb", "COLUMNS": str(TTY_COLUMNS)}
    with tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=slave, stderr=err, stdin=subprocess.DEVNULL
        )
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the program closed its end
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        code = process.wait(timeout=TIMEOUT_S)
        err.seek(0)
        return Result(code, b"".join(chunks).decode("utf-8", "replace"), err.read())


@contextmanager
def workspace() -> Iterator[Workspace]:
    with tempfile.TemporaryDirectory(prefix="rc-capture-") as folder:
        yield Workspace(Path(folder).resolve())


def prompt(args: Sequence[str], *, before: str = "", after: str = "") -> str:
    """The shell line a block starts with: ``$ reload-chain <args>``."""
    return f"$ {before}reload-chain {' '.join(args)}{after}\n"


def log_lines(text: str) -> str:
    """The log lines of a stderr (a terminal's progress bar would not be there anyway)."""
    return "\n".join(line for line in text.splitlines() if line.strip()) + "\n"


def with_exit(result: Result) -> str:
    """stdout then ``exit N``, as ``...; echo "exit $?"`` shows it."""
    return result.out + f"exit {result.code}\n"


def write_settings(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reload-chain.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


# --- sessions: each runs the program and returns its named outputs ------------------------------


@dataclass(frozen=True)
class Session:
    """A recipe group: the block names it produces, and how.

    ``cheap`` sessions need no tenant and take about a second: the tests re-run them.
    """

    names: tuple[str, ...]
    run: Callable[[], dict[str, str]]
    cheap: bool = False


def _help() -> dict[str, str]:
    with workspace() as ws:
        result = ws.run(["--help"])
        return {"help": ws.show(prompt(["--help"]) + result.out)}


def _version() -> dict[str, str]:
    with workspace() as ws:
        return {"version": ws.show(prompt(["--version"]) + ws.run(["--version"]).out)}


def _unknown_setting() -> dict[str, str]:
    """A misspelt setting in the settings file: its line, and the likely one."""
    with workspace() as ws:
        write_settings(
            ws.folder,
            'tenant_url = "https://acme.eu.qlikcloud.com"\ntolerence_minutes = 5\n',
        )
        result = ws.run(["status"])
        return {
            "error-unknown-setting": ws.show(prompt(["status"]) + result.err)
            + f"exit {result.code}\n"
        }


def _tenant_url_with_path() -> dict[str, str]:
    """A tenant URL copied from the browser, refused before anything starts."""
    with workspace() as ws:
        url = "https://acme.eu.qlikcloud.com/hub/home"
        result = ws.run(["sweep"], QLIK_TENANT_URL=url, QLIK_API_KEY="x")
        return {"error-tenant-url-path": ws.show(result.err)}


def _invalid_settings() -> dict[str, str]:
    """One line per invalid value, naming the setting and where it came from."""
    tenant = "https://acme.eu.qlikcloud.com"
    cases: list[dict[str, str]] = [
        {"QLIK_TENANT_URL": tenant, "RELOAD_CHAIN_TOLERANCE_MINUTES": "1O"},
        {"QLIK_TENANT_URL": tenant.replace("https", "http")},
        {"QLIK_TENANT_URL": tenant, "RELOAD_CHAIN_MAX_CONCURRENCY": "17"},
        {"QLIK_TENANT_URL": tenant, "QLIK_API_KEY": "eyJhbGciOi\n"},
        {},
    ]
    with workspace() as ws:
        lines = [ws.run(["sweep"], env=case).err for case in cases]
        return {"error-settings": ws.show("".join(lines))}


def _unreachable() -> dict[str, str]:
    """A typo in the tenant's domain: the name does not resolve (needs this machine's DNS)."""
    with workspace() as ws:
        result = ws.run(
            ["sweep"],
            QLIK_TENANT_URL="https://acme.eu.qlikclud.com",
            QLIK_API_KEY="x",
            RELOAD_CHAIN_DB=str(ws.folder / "state.db"),
        )
        errors = "".join(line + "\n" for line in result.err.splitlines() if "ERROR" in line)
        return {"error-dns": ws.show(errors) + f"exit {result.code}\n"}


def _health_empty() -> dict[str, str]:
    with workspace() as ws:
        env = {"RELOAD_CHAIN_DB": str(ws.folder / "state.db")}
        line = prompt(["health"], after='; echo "exit $?"')
        result = ws.run(["health"], env=env)
        (ws.folder / "bad").mkdir()
        damaged = ws.folder / "bad" / "state.db"
        damaged.write_text("not a database\n" * 100, encoding="utf-8")
        broken = ws.run(["health"], RELOAD_CHAIN_DB=str(damaged))
        return {
            "health-empty": ws.show(line + with_exit(result)),
            "health-damaged": ws.show(
                prompt(["health"], before=f"RELOAD_CHAIN_DB={damaged} ", after='; echo "exit $?"')
                + with_exit(broken)
            ),
        }


def _cron() -> dict[str, str]:
    with workspace() as ws:
        write_settings(ws.folder, 'tenant_url = "https://acme.eu.qlikcloud.com"\n')
        args = ["schedule-task", "--format", "cron", "--every", "15"]
        result = ws.run(args)
        refused = ws.run(["schedule-task", "--format", "cron", "--every", "7"])
        return {
            "schedule-cron": ws.show(prompt(args) + result.out + result.err),
            "schedule-cron-every-7": ws.show(refused.err) + f"exit {refused.code}\n",
        }


def _systemd() -> dict[str, str]:
    with workspace() as ws:
        write_settings(ws.folder, 'tenant_url = "https://acme.eu.qlikcloud.com"\n')
        args = ["schedule-task", "--format", "systemd", "--every", "5"]
        result = ws.run(args)
        units = {
            name: ws.show((ws.folder / name).read_text(encoding="utf-8"))
            for name in (
                "reload-chain-sweep.service",
                "reload-chain-sweep.timer",
                "reload-chain.service",
            )
        }
        return {
            "schedule-systemd": ws.show(prompt(args) + result.out + result.err),
            "systemd-sweep-service": units["reload-chain-sweep.service"],
            "systemd-sweep-timer": units["reload-chain-sweep.timer"],
            "systemd-run-service": units["reload-chain.service"],
        }


def _windows() -> dict[str, str]:
    with workspace() as ws:
        write_settings(ws.folder, 'tenant_url = "https://acme.eu.qlikcloud.com"\n')
        args = ["schedule-task", "--format", "windows", "--every", "15"]
        result = ws.run(args)
        xml = (ws.folder / "reload-chain-task.xml").read_bytes().decode("utf-16")
        return {
            "schedule-windows": ws.show(prompt(args) + result.out + result.err),
            "windows-task-xml": ws.show(xml),
        }


def _refusals() -> dict[str, str]:
    """Bad option values and bad tables of the settings file: one line each, exit 2."""
    with workspace() as ws:
        tenant = {"QLIK_TENANT_URL": "https://acme.eu.qlikcloud.com", "QLIK_API_KEY": "x"}
        db = {"RELOAD_CHAIN_DB": str(ws.folder / "state" / "state.db")}
        runs = ws.run(["runs", "--limit", "0"], env=tenant | db)
        backup = ws.run(["backup", str(ws.folder / "backups" / "state.db")], env=tenant | db)
        alerts = [
            '[[alert]]\nurl = "json://127.0.0.1:8599/alerts"\non = ["failed"]\n',
            '[[alert]]\nurl = "nosuchscheme://host/path"\n',
        ]
        deadlines = [
            '[apps]\ndash = "93703a9e-67a2-5939-abc8-485ad8cae6dc"\n\n'
            '[[deadline]]\napp = "dash"\nby = "07:00"\ntimezone = "Europe/Pari"\n',
            '[[deadline]]\napp = "93703a9e-67a2-5939-abc8-485ad8cae6dc"\nby = "00:00"\n',
        ]
        table_errors = []
        for text in [*alerts, *deadlines]:
            write_settings(ws.folder, text)
            table_errors.append(ws.run(["status"], env=tenant | db).err)
        return {
            "error-runs-limit": ws.show(runs.err),
            "error-backup-nothing": ws.show(backup.err),
            "error-alert-tables": ws.show("".join(table_errors[:2])),
            "error-deadline-tables": ws.show("".join(table_errors[2:])),
        }


def _lock_held() -> dict[str, str]:
    """A sweep while another one holds the lock: exit 3 at once."""
    from filelock import FileLock

    with workspace() as ws:
        database = ws.folder / "state.db"
        env = {
            "QLIK_TENANT_URL": "https://acme.eu.qlikcloud.com",
            "QLIK_API_KEY": "x",
            "RELOAD_CHAIN_DB": str(database),
        }
        with FileLock(str(database) + ".lock"):
            result = ws.run(["sweep"], env=env)
        return {"error-lock-held": ws.show(result.err) + f"exit {result.code}\n"}


def _secrets() -> dict[str, str]:
    """``secrets set`` on a machine without a keyring backend (a server without a desktop)."""
    with workspace() as ws:
        url = {"QLIK_TENANT_URL": "https://acme.eu.qlikcloud.com"}
        args = ["secrets", "set", "api_key"]
        missing = ws.run(args, stdin="eyJhbGciOi\n", env=url)
        return {
            "secrets-no-keyring": ws.show(prompt(args, before="echo eyJhbGciOi | ") + missing.err)
            + f"exit {missing.code}\n"
        }


def _doctor_credentials() -> dict[str, str]:
    with workspace() as ws:
        write_settings(ws.folder, 'tenant_url = "https://acme.eu.qlikcloud.com"\n')
        result = ws.run(["doctor"], RELOAD_CHAIN_DB=str(ws.folder / "state.db"))
        return {"doctor-no-credentials": ws.show(prompt(["doctor"]) + result.out)}


class Simulator:
    """``reload-chain sim --port 0`` in the background, until ``stop``."""

    def __init__(self, ws: Workspace) -> None:
        self.process = subprocess.Popen(
            [*program(), "sim", "--port", "0"],
            env=ws.env,
            cwd=ws.folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.banner = "".join(self.process.stdout.readline() for _ in range(3))
        found = re.search(r"http://127\.0\.0\.1:(\d+)", self.banner)
        if not found:
            self.stop()
            raise RuntimeError(f"reload-chain sim did not start: {self.banner!r}")
        self.url, self.port = found[0], found[1]
        ws.shown[f"127.0.0.1:{self.port}"] = f"127.0.0.1:{SHOWN_SIM_PORT}"

    def reloads(self) -> list[dict[str, object]]:
        import httpx

        answer = httpx.get(
            self.url + "/api/v1/reloads",
            params={"limit": 100},
            headers={"Authorization": "Bearer sim-api-key"},
            timeout=10,
        )
        answer.raise_for_status()
        data = answer.json()["data"]
        assert isinstance(data, list)
        return data

    def quiet(self) -> None:
        """Wait until the tenant has reloaded something and nothing more is going on.

        The reloads must stay the same, none active, for ``QUIET_S``: longer than the
        simulator waits before Qlik's own event-based tasks start a reload after another.
        """
        deadline = time.monotonic() + TIMEOUT_S
        since, last = time.monotonic(), -1
        while time.monotonic() < deadline:
            listed = self.reloads()
            active = any(r["status"] in ("QUEUED", "RELOADING", "CANCELING") for r in listed)
            now = time.monotonic()
            if active or not listed or len(listed) != last:
                since, last = now, -1 if active else len(listed)
            elif now - since >= QUIET_S:
                return
            time.sleep(0.25)
        raise RuntimeError("the simulated tenant never came to rest")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# The chain file of README "In the chain file", used for the graph and doctor examples.
CHAIN_FILE = """\
tenant_url = "https://your-tenant.eu.qlikcloud.com"

[apps]                                            # readable aliases
transform   = "dd8ce13ad1ba5d660b1c242d"          # a script
ledger      = "12d5511a-7425-5e02-8619-fc5e6740a040"
receivables = "b911664e-b277-5d44-9314-b1d8a4429591"
dashboard   = "93703a9e-67a2-5939-abc8-485ad8cae6dc"
board_pack  = "5c0f9b1e-3a2d-4c8b-9e7f-0a1b2c3d4e5f"

[[edge]]                       # what tags cannot say: a failure branch, several targets
from = "ledger"
to   = ["dashboard"]
on   = "any"                   # success | failure | any

[[edge]]
from = "dashboard"
to   = ["transform"]           # closes a loop: the cycle guard runs it once per external start

[[join]]                       # fan-in: board_pack after BOTH succeeded, within 6 hours
target = "board_pack"
after  = ["ledger", "receivables"]
within_minutes = 360
"""

DASHBOARD = "93703a9e-67a2-5939-abc8-485ad8cae6dc"
NO_SUCH_APP = "0f0f0f0f-1234-4abc-8def-0123456789ab"


def _finance() -> dict[str, str]:
    """The finance tenant swept hop by hop, then every command that reads what that left."""
    out: dict[str, str] = {}
    with workspace() as ws, Receiver() as receiver:
        ws.shown[f"127.0.0.1:{receiver.port}"] = f"127.0.0.1:{SHOWN_RECEIVER_PORT}"
        sim = Simulator(ws)
        try:
            _finance_steps(ws, sim, receiver, out)
        finally:
            sim.stop()
        out["sim"] = ws.show(prompt(["sim", "--port", "0"]) + sim.banner)
    return out


# The session's settings file: alerts to a local receiver, a deadline the chain meets.
FINANCE_SETTINGS = """\
tenant_url = "{tenant_url}"
database = "state.db"
metrics_file = "metrics/reload_chain.prom"
log_file = "logs/reload-chain.log"
tolerance_minutes = 15

[apps]
finance_dashboard = "93703a9e-67a2-5939-abc8-485ad8cae6dc"

[[deadline]]
app = "finance_dashboard"
by = "23:59"

[[alert]]
url = "{alert_url}"
on = ["reload_failed", "sweep_failing"]
"""


def _finance_steps(ws: Workspace, sim: Simulator, receiver: Receiver, out: dict[str, str]) -> None:
    settings = FINANCE_SETTINGS.format(tenant_url=sim.url, alert_url=receiver.url)
    write_settings(ws.folder, settings)
    ws.env["QLIK_API_KEY"] = "sim-api-key"

    def sweep(args: Sequence[str] = (), **variables: str) -> Result:
        return ws.run(["sweep", *args], env=variables)

    # The schedule reloads the extract script; each sweep, made once the tenant is at rest,
    # then moves the chain one hop, until a sweep finds nothing new.
    sim.quiet()
    dry = sweep(["--dry-run"])
    out["sweep-dry-run"] = ws.show(prompt(["sweep", "--dry-run"]) + dry.out)
    first = sweep()
    out["sweep-first"] = ws.show(prompt(["sweep"]) + first.out)
    out["sweep-first-log"] = ws.show(log_lines(first.err))
    sim.quiet()
    second = sweep(["--json"])
    out["sweep-json"] = ws.show(prompt(["sweep", "--json"]) + second.out)
    logs = [first.err, second.err]
    for _ in range(MAX_HOPS):
        sim.quiet()
        idle = sweep()
        logs.append(idle.err)
        if re.search(r"\b0 new\b", idle.out) and "no successors to decide" in idle.out:
            break
    else:
        raise RuntimeError(f"the chain still moved after {MAX_HOPS} sweeps")
    out["sweep-idle"] = ws.show(prompt(["sweep"]) + idle.out)
    out["log-idle"] = ws.show(log_lines(idle.err))
    alerted = next(err for err in logs if "alert sent to" in err)
    out["sweep-alert-log"] = ws.show(log_lines(alerted))
    out["alert-json-reload-failed"] = ws.show(receiver.body("Reload failed"))
    sweep_id = idle.out.split()[1]
    log_file = (ws.folder / "logs" / "reload-chain.log").read_text(encoding="utf-8")
    out["log-file"] = ws.show(
        "".join(line + "\n" for line in log_file.splitlines() if sweep_id in line)
    )
    logged = ws.run(["--log-json", "sweep"])
    out["log-json"] = ws.show(prompt(["--log-json", "sweep"]) + log_lines(logged.err))
    out["run"] = ws.show(_run_until_one_sweep(ws))
    health_prompt = prompt(["health"], after='; echo "exit $?"')
    out["health-ok"] = ws.show(health_prompt + with_exit(ws.run(["health"])))
    out["runs"] = ws.show(prompt(["runs"]) + ws.run(["runs"], tty=True).out)
    out["runs-json"] = ws.show(prompt(["runs", "--json"]) + ws.run(["runs", "--json"]).out)
    out["graph-text"] = ws.show(
        prompt(["graph", "--format", "text"]) + ws.run(["graph", "--format", "text"]).out
    )
    doctor = ws.run(["doctor"], RELOAD_CHAIN_TOLERANCE_MINUTES="20")
    out["doctor"] = ws.show(
        prompt(["doctor"], before="RELOAD_CHAIN_TOLERANCE_MINUTES=20 ")
        + doctor.out
        + f"exit {doctor.code}\n"
    )
    _backups(ws, out)
    report = ws.folder / "www" / "reload-chain.html"
    out["report"] = ws.show(
        prompt(["report", "--html", str(report)]) + ws.run(["report", "--html", str(report)]).out
    )
    _start(ws, out)
    _revoked(ws, receiver, out)
    _chains(ws, sim, out)
    _file_mode(ws, sim, out)
    _lost_state(ws, out)


def _backups(ws: Workspace, out: dict[str, str]) -> None:
    backup_to = ws.folder / "backups" / "state.db"
    out["backup"] = ws.show(
        prompt(["backup", str(backup_to)]) + ws.run(["backup", str(backup_to)]).out
    )
    itself = ws.run(["backup", "state.db"])
    out["error-backup-itself"] = ws.show(itself.err) + f"exit {itself.code}\n"


def _revoked(ws: Workspace, receiver: Receiver, out: dict[str, str]) -> None:
    """The API key revoked: three sweeps exit 2, then health, status, metrics and doctor."""
    revoked = {"QLIK_API_KEY": "a-revoked-key"}
    refused = [ws.run(["sweep"], env=revoked) for _ in range(3)]
    out["sweep-401"] = ws.show(log_lines(refused[0].err)) + f"exit {refused[0].code}\n"
    out["alert-json-sweep-failing"] = ws.show(receiver.body("Sweeps are failing"))
    health_prompt = prompt(["health"], after='; echo "exit $?"')
    out["health-failing"] = ws.show(health_prompt + with_exit(ws.run(["health"])))
    out["health-json"] = ws.show(
        prompt(["health", "--json"], after='; echo "exit $?"')
        + with_exit(ws.run(["health", "--json"]))
    )
    out["status"] = ws.show(prompt(["status"]) + ws.run(["status"], tty=True).out)
    metrics = (ws.folder / "metrics" / "reload_chain.prom").read_text(encoding="utf-8")
    out["metrics"] = ws.show(metrics)
    # The README's excerpt: the counters a monitoring rule reads first.
    wanted = (
        "reload_chain_sweeps_total",
        "reload_chain_decisions_total",
        "reload_chain_reload_outcomes_total",
    )
    out["metrics-head"] = ws.show(
        "\n".join(line for line in metrics.splitlines() if line.startswith(wanted)) + "\n"
    )
    doctor = ws.run(["doctor"], env=revoked)
    failures = [
        line
        for line in doctor.out.splitlines()
        if line.startswith(("FAIL", "     ->")) or "check(s)" in line
    ]
    out["doctor-401"] = ws.show("\n".join(failures)) + f"exit {doctor.code}\n"


class Receiver:
    """A loopback HTTP server keeping the body of every POST: Apprise's ``json://`` alerts."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        bodies: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                bodies.append(self.rfile.read(length).decode("utf-8"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Silent."""

        self.bodies = bodies
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = str(self.server.server_address[1])
        self.url = f"json://127.0.0.1:{self.port}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def body(self, title: str) -> str:
        """The first alert received whose title holds ``title``."""
        return next(body for body in self.bodies if title in json.loads(body)["title"])

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _run_until_one_sweep(ws: Workspace) -> str:
    """``reload-chain run`` until its first sweep is done, then SIGTERM: its whole log."""
    args = ["run", "--interval-minutes", "5"]
    process = subprocess.Popen(
        [*program(), *args],
        env=ws.env,
        cwd=ws.folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        for line in process.stderr:
            lines.append(line)
            if " done in " in line:
                time.sleep(0.5)
                process.send_signal(signal.SIGTERM)
                break
        lines += process.stderr.readlines()
        code = process.wait(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return prompt(args) + "".join(lines) + f"exit {code}\n"


def _start(ws: Workspace, out: dict[str, str]) -> None:
    """``start`` on the dashboard the chain just reloaded: guarded, then forced."""
    asked = ["start", "--app", DASHBOARD, "--app", NO_SUCH_APP]
    result = ws.run(asked)
    out["start"] = ws.show(prompt(asked) + result.out + f"exit {result.code}\n")
    dry = ["start", "--dry-run", "--force", "--app", DASHBOARD]
    out["start-dry-run"] = ws.show(prompt(dry) + ws.run(dry).out)
    forced = ["start", "--force", "--json", "--app", DASHBOARD]
    out["start-force-json"] = ws.show(prompt(forced) + ws.run(forced).out)


def _chains(ws: Workspace, sim: Simulator, out: dict[str, str]) -> None:
    """The graph and doctor with the chain file: a join to a missing app, a loop."""
    folder = ws.folder / "chains"
    write_settings(folder, CHAIN_FILE.replace("https://your-tenant.eu.qlikcloud.com", sim.url))
    env = {"RELOAD_CHAIN_DB": str(folder / "state.db")}
    out["graph-mermaid"] = ws.show(prompt(["graph"]) + ws.run(["graph"], cwd=folder, env=env).out)
    dot = ws.run(["graph", "--format", "dot"], cwd=folder, env=env).out.splitlines()
    out["graph-dot-head"] = ws.show(
        prompt(["graph", "--format", "dot"]) + "\n".join(dot[:5]) + "\n  ...\n"
    )
    graph_text = ws.run(["graph", "--format", "text"], cwd=folder, env=env).out
    out["graph-text-chains"] = ws.show(prompt(["graph", "--format", "text"]) + graph_text)
    doctor = ws.run(["doctor"], cwd=folder, env=env)
    out["doctor-chains"] = ws.show(prompt(["doctor"]) + doctor.out + f"exit {doctor.code}\n")


def _file_mode(ws: Workspace, sim: Simulator, out: dict[str, str]) -> None:
    """doctor on a settings file that holds the API key and everyone may read."""
    folder = ws.folder / "readable"
    path = write_settings(
        folder, f'tenant_url = "{sim.url}"\ndatabase = "state.db"\napi_key = "sim-api-key"\n'
    )
    path.chmod(0o644)
    env = ws.env.copy()
    del env["QLIK_API_KEY"]
    saved, ws.env = ws.env, env
    try:
        doctor = ws.run(["doctor"], cwd=folder)
    finally:
        ws.env = saved
    out["doctor-file-mode"] = ws.show(prompt(["doctor"]) + doctor.out + f"exit {doctor.code}\n")


def _lost_state(ws: Workspace, out: dict[str, str]) -> None:
    """A database emptied to zero bytes beside the watermark of the sweeps it once made."""
    folder = ws.folder / "emptied"
    folder.mkdir()
    (folder / "state.db").write_bytes(b"")
    shutil.copy(ws.folder / "state.db.watermark", folder / "state.db.watermark")
    env = {"RELOAD_CHAIN_DB": str(folder / "state.db")}
    result = ws.run(["sweep"], env=env)
    out["error-emptied-database"] = ws.show(result.err) + f"exit {result.code}\n"
    afresh = ws.run(["sweep", "--new-database"], env=env)
    out["lost-state-new-database"] = ws.show(
        prompt(["sweep", "--new-database"]) + afresh.out + log_lines(afresh.err)
    )


def _demo() -> dict[str, str]:
    """``reload-chain demo``, whole; and the alert it received, on its own."""
    with workspace() as ws:
        result = ws.run(["demo"])
        if result.code != 0:
            raise RuntimeError(f"reload-chain demo exited {result.code}: {result.err}")
        for pattern, shown in (
            (r"tenant at http://127\.0\.0\.1:(\d+)", SHOWN_SIM_PORT),
            (r"json://127\.0\.0\.1:(\d+)/alerts", SHOWN_RECEIVER_PORT),
        ):
            found = re.search(pattern, result.out)
            if found:
                ws.shown[f"127.0.0.1:{found[1]}"] = f"127.0.0.1:{shown}"
        text = ws.show(result.out)
        # The reload_failed alert: it names an app, the chain's root and the reason.
        alerts = re.findall(r"\n  (alert received: .*?)\n\n", text, re.S)
        alert = next((found for found in alerts if "Reload failed" in found), None)
        if alert is None:
            raise RuntimeError("the demo received no reload_failed alert")
        lines = [line.removeprefix("  ") for line in alert.splitlines()]
        return {"demo": text, "demo-alert": "\n".join(lines) + "\n"}


def _chain_file() -> dict[str, str]:
    """Not an output: the chain file the graph and doctor examples were captured with."""
    return {"chain-file-example": CHAIN_FILE}


SESSIONS: tuple[Session, ...] = (
    Session(("help",), _help, cheap=True),
    Session(("version",), _version, cheap=True),
    Session(("error-unknown-setting",), _unknown_setting, cheap=True),
    Session(("error-tenant-url-path",), _tenant_url_with_path, cheap=True),
    Session(("error-settings",), _invalid_settings, cheap=True),
    Session(("error-dns",), _unreachable),
    Session(("health-empty", "health-damaged"), _health_empty, cheap=True),
    Session(("schedule-cron", "schedule-cron-every-7"), _cron, cheap=True),
    Session(
        (
            "schedule-systemd",
            "systemd-sweep-service",
            "systemd-sweep-timer",
            "systemd-run-service",
        ),
        _systemd,
        cheap=True,
    ),
    Session(("schedule-windows", "windows-task-xml"), _windows, cheap=True),
    Session(
        (
            "error-runs-limit",
            "error-backup-nothing",
            "error-alert-tables",
            "error-deadline-tables",
        ),
        _refusals,
    ),
    Session(("error-lock-held",), _lock_held, cheap=True),
    Session(("secrets-no-keyring",), _secrets, cheap=True),
    Session(("doctor-no-credentials",), _doctor_credentials, cheap=True),
    Session(("chain-file-example",), _chain_file, cheap=True),
    Session(
        (
            "sim",
            "sweep-dry-run",
            "sweep-first",
            "sweep-first-log",
            "sweep-json",
            "sweep-alert-log",
            "alert-json-reload-failed",
            "log-json",
            "sweep-idle",
            "log-idle",
            "log-file",
            "run",
            "health-ok",
            "runs",
            "runs-json",
            "graph-text",
            "doctor",
            "backup",
            "error-backup-itself",
            "report",
            "start",
            "start-dry-run",
            "start-force-json",
            "sweep-401",
            "alert-json-sweep-failing",
            "health-failing",
            "health-json",
            "status",
            "metrics",
            "metrics-head",
            "doctor-401",
            "graph-mermaid",
            "graph-dot-head",
            "graph-text-chains",
            "doctor-chains",
            "doctor-file-mode",
            "error-emptied-database",
            "lost-state-new-database",
        ),
        _finance,
    ),
    Session(("demo", "demo-alert"), _demo),
)


def recipe_names() -> set[str]:
    """Every block name some session produces."""
    return {name for session in SESSIONS for name in session.names}


def session_of(name: str) -> Session:
    for session in SESSIONS:
        if name in session.names:
            return session
    raise KeyError(name)


def capture(session: Session) -> dict[str, str]:
    """Run one session; its outputs, checked against the names it declares."""
    outputs = session.run()
    if set(outputs) != set(session.names):
        raise RuntimeError(f"session produced {sorted(outputs)}, declared {session.names}")
    return outputs


# --- the command -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="list differing blocks; exit 1")
    parser.add_argument("--print", action="store_true", help="print the captures; write nothing")
    parser.add_argument("names", nargs="*", help="only the sessions producing these blocks")
    args = parser.parse_args(argv)

    found = [block for path in documents() for block in blocks(path)]
    problems = [problem for path in documents() for problem in stray_markers(path)]
    known = recipe_names()
    problems += [f"{b.where()}: no recipe of that name" for b in found if b.name not in known]
    wanted = set(args.names) or {b.name for b in found if b.name in known}
    unknown = wanted - known
    if unknown:
        parser.error(f"no recipe named {', '.join(sorted(unknown))}")
    sessions = [s for s in SESSIONS if wanted & set(s.names)]
    captured: dict[str, str] = {}
    for session in sessions:
        started = time.monotonic()
        captured |= capture(session)
        print(
            f"captured {', '.join(session.names)} ({time.monotonic() - started:.1f}s)",
            file=sys.stderr,
        )

    if args.print:
        for name, text in captured.items():
            print(f"===== {name}\n{text}", end="")
        return 0
    differing = [b for b in found if b.name in captured and not same(b.body, captured[b.name])]
    if args.check:
        for block in differing:
            print(f"differs: {block.where()}")
        for problem in problems:
            print(problem)
        return 1 if differing or problems else 0
    for path in documents():
        _rewrite(path, captured)
    for block in differing:
        print(f"rewritten: {block.where()}")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def _rewrite(path: Path, captured: dict[str, str]) -> None:
    """Write each captured block whose masked text changed; leave the others untouched."""
    text = path.read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        new = captured.get(match["name"])
        indent = match["indent"]
        if new is None or same(dedent(match["body"], indent), new):
            return match[0]
        return (
            f"{indent}<!-- capture: {match['name']} -->\n{indent}{match['fence']}\n"
            f"{indent_lines(new, indent)}{indent}```\n{indent}<!-- /capture -->"
        )

    updated = MARKER.sub(replace, text)
    if updated != text:
        path.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())

"""Sweeps in forked processes for the soak: killed, doubled, spied on, or left alone.

fork, not a new interpreter: a sweep starts in milliseconds, so 500 runs fit in minutes.
Each child drops inherited reload-chain settings, works in the run's folder, applies the run's
planted bug (if any), and runs ``reload-chain sweep`` in-process.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from scheduler.cli import build_parser
from scheduler.cli import main as reload_chain
from tests.chaos_plants import apply_plant

HUNG_S = 60.0  # a sweep still running after this is a failure of its own


@dataclass(frozen=True)
class Span:
    """When one sweep process ran (``time.monotonic()``), and whether it was SIGKILLed."""

    start: float
    end: float
    killed: bool

    def covers(self, at: float) -> bool:
        """Was this sweep running at ``at``?"""
        return self.start <= at <= self.end


@dataclass(frozen=True)
class Sweeper:
    """Starts sweeps of one run: its settings, its folder, its planted bug; when each ran."""

    env: dict[str, str]
    folder: Path
    plant: str | None = None
    spans: list[Span] = field(default_factory=list)
    _started: dict[int, float] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        """The run's state database."""
        return self.folder / "state.db"

    def sweep(self) -> int:
        """One sweep to its end: its exit code (-1 if it hung and was killed)."""
        (code,) = self._reap([self._fork()], HUNG_S)
        return -1 if code is None else code

    def sweep_or_kill(self, kill_after_s: float) -> int:
        """A sweep SIGKILLed if still running after ``kill_after_s``; 1 if it was killed."""
        (code,) = self._reap([self._fork()], kill_after_s)
        return int(code is None)

    def two_at_once(self, gap_s: float, kill_after_s: float | None) -> int:
        """A sweep, its lock file deleted ``gap_s`` later, a second sweep; how many killed.

        An administrator "cleaning up a stale lock": the second sweep locks a new file.
        """
        first = self._fork()
        time.sleep(gap_s)
        self.db.with_name(self.db.name + ".lock").unlink(missing_ok=True)
        second = self._fork()
        codes = self._reap([first, second], HUNG_S if kill_after_s is None else kill_after_s)
        return sum(code is None for code in codes)

    def secret_sweep(self, suffix: str) -> int:
        """A sweep whose API key ends in ``suffix`` (CR/LF), its output kept in the folder."""
        env = self.env | {
            "QLIK_API_KEY": self.env["QLIK_API_KEY"] + suffix,
            "RELOAD_CHAIN_LOG_FILE": str(self.folder / "secret-sweep.log"),
        }
        pid = self._fork(env, self.folder / "secret-sweep.out", level="DEBUG")
        (code,) = self._reap([pid], HUNG_S)
        return -1 if code is None else code

    def _fork(
        self, env: dict[str, str] | None = None, output: Path | None = None, level: str = "ERROR"
    ) -> int:
        args = ["sweep", "--log-level", level]
        # An emptied database is refused unless the operator says it is meant to be new.
        if self.db.exists() and self.db.stat().st_size == 0 and supports_new_database():
            args.append("--new-database")
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(env or self.env, args, self.folder, output, self.plant)
        self._started[pid] = started
        return pid

    def _reap(self, pids: list[int], timeout_s: float) -> list[int | None]:
        """Exit codes; None for a child still running after ``timeout_s`` (then killed)."""
        codes: dict[int, int] = {}
        deadline = time.monotonic() + timeout_s
        while len(codes) < len(pids) and time.monotonic() < deadline:
            for pid in set(pids) - set(codes):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
                    self._ended(pid, killed=codes[pid] == -signal.SIGKILL)
            time.sleep(0.005)
        for pid in set(pids) - set(codes):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self._ended(pid, killed=True)
        return [codes.get(pid) for pid in pids]

    def kill_running(self) -> None:
        """SIGKILL every sweep running now (the alert receiver's kill, from its thread)."""
        for pid in list(self._started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _ended(self, pid: int, *, killed: bool) -> None:
        self.spans.append(Span(self._started.pop(pid), time.monotonic(), killed))


def _child(
    env: dict[str, str], args: list[str], folder: Path, output: Path | None, plant: str | None
) -> NoReturn:
    code = 70
    try:
        for name in [n for n in os.environ if n.startswith(("QLIK_", "RELOAD_CHAIN_"))]:
            del os.environ[name]
        os.environ.update(env)
        os.chdir(folder)  # no stray reload-chain.toml from where the soak was started
        target = os.open(output or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(target, 1)
        os.dup2(target, 2)
        # Whatever stood for them (pytest's capture) may not write to fds 1 and 2.
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        if plant:
            apply_plant(plant)
        code = reload_chain(args)
    finally:
        with contextlib.suppress(Exception):  # os._exit does not flush: the secret check reads it
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


@functools.cache
def supports_new_database() -> bool:
    """Does this reload-chain know ``sweep --new-database`` (issue 11)?"""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(["sweep", "--new-database"])
    except SystemExit:
        return False
    return True


def leaked_into(folder: Path, secret: str) -> list[str]:
    """The files of a run's folder (output, log, database) that hold ``secret``."""
    found = secret.encode()
    return sorted(p.name for p in folder.iterdir() if p.is_file() and found in p.read_bytes())


# --- the state lost ---------------------------------------------------------------------------

_FILES = ("", "-journal")  # the database and its rollback journal (a hot one after a kill)


def back_up(db: Path, to: Path) -> None:
    """Copy the database aside, as an administrator's backup would."""
    for suffix in _FILES:
        _copy(Path(f"{db}{suffix}"), Path(f"{to}{suffix}"))


def restore(db: Path, backup: Path) -> None:
    """Put an older copy back in place, as the corrupt-database message advises."""
    for suffix in _FILES:
        _copy(Path(f"{backup}{suffix}"), Path(f"{db}{suffix}"))


def empty(db: Path) -> None:
    """Truncate the database to zero bytes (and drop its journal): the state is gone."""
    db.write_bytes(b"")
    Path(f"{db}-journal").unlink(missing_ok=True)


def _copy(source: Path, target: Path) -> None:
    if source.exists():
        shutil.copyfile(source, target)
    else:
        target.unlink(missing_ok=True)

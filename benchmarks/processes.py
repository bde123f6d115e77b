"""`reload-chain` itself in separate processes against a simulator, as a user runs it.

``python -m scheduler`` is the ``reload-chain`` console script; each process gets its settings
from the environment (as a Task Scheduler task or a service would) and runs in an empty folder,
so no ``reload-chain.toml`` and no setting of the user's own environment leaks in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from benchmarks.simulated import API_KEY

CLI = (sys.executable, "-m", "scheduler")
CLI_TIMEOUT_S = 600.0
# The line each sweep ends with (jobs.summary.log_summary).
SUMMARY = re.compile(
    r"done in [\d.]+s: (?P<read>\d+) events read, (?P<new>\d+) new.*?; "
    r"(?P<calls>\d+) API calls; exit (?P<exit>\d+)"
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def cli_env(url: str, database: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``reload-chain`` process: the tenant, the database, ``settings``
    (``first_run_lookback_minutes="90"`` becomes ``RELOAD_CHAIN_FIRST_RUN_LOOKBACK_MINUTES``)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("QLIK_", "RELOAD_CHAIN_"))
    }
    env |= {"QLIK_TENANT_URL": url, "QLIK_API_KEY": API_KEY, "RELOAD_CHAIN_DB": str(database)}
    env |= {f"RELOAD_CHAIN_{name.upper()}": value for name, value in settings.items()}
    env["NO_COLOR"] = "1"
    return env


@dataclass
class CliSweep:
    """One ``reload-chain sweep --json`` process: its exit code, decisions and calls."""

    exit_code: int
    reasons: dict[str, int]
    api_calls: int
    wall_s: float

    def count(self, reason: str) -> int:
        """How many successors got ``reason`` (``triggered``, ``deferred``, ...)."""
        return self.reasons.get(reason, 0)


def run_cli_sweep(env: dict[str, str], folder: Path) -> CliSweep:
    """``reload-chain sweep --json`` in its own process, to the end."""
    began = time.monotonic()
    done = subprocess.run(
        [*CLI, "sweep", "--json"],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    wall_s = time.monotonic() - began
    if not done.stdout.strip():
        raise RuntimeError(f"reload-chain sweep printed no report: {done.stderr[-2000:]}")
    return parse_sweep_json(done.stdout, done.returncode, wall_s)


def parse_sweep_json(text: str, exit_code: int, wall_s: float) -> CliSweep:
    """A ``sweep --json`` report, counted by decision reason."""
    report = json.loads(text)
    reasons = Counter(str(decision["reason"]) for decision in report["decisions"])
    return CliSweep(exit_code, dict(reasons), sum(report["api_calls"].values()), wall_s)


@dataclass(frozen=True)
class SweepLine:
    """What one sweep of ``reload-chain run`` logged in its last line."""

    events_read: int
    events_new: int
    api_calls: int
    exit_code: int


def sweep_lines(log: str) -> list[SweepLine]:
    """Every sweep summary line of a ``reload-chain`` log, in order."""
    return [
        SweepLine(int(m["read"]), int(m["new"]), int(m["calls"]), int(m["exit"]))
        for m in SUMMARY.finditer(ANSI.sub("", log))
    ]

"""The installed program run against a ``SimulatorServer``, as Task Scheduler or cron would.

The simulated tenants are built from fast apps in one shared space, "dev"; the program runs as
a subprocess that inherits none of this process's ``QLIK_`` or ``RELOAD_CHAIN_`` variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from simulator.scenario import AppSpec, SpaceSpec
from simulator.server import SimulatorServer

BIN = Path(sys.executable).parent
CONSOLE_SCRIPT = [str(BIN / "reload-chain")]
PYTHON_MODULE = [sys.executable, "-m", "scheduler"]
SUBPROCESS_TIMEOUT_S = 60


def app(key: str, **fields: Any) -> AppSpec:
    """An app (or script) in the shared space with fast reloads unless told otherwise."""
    values: dict[str, Any] = {"space": "dev", "queue_seconds": 0.05, "duration_seconds": 0.2}
    return AppSpec(key=key, **(values | fields))


def dev_space(user: str = "admin") -> SpaceSpec:
    """The shared space "dev", where ``user`` (the program's identity) is a producer."""
    return SpaceSpec(id="dev", name="Dev", type="shared", members={user: ["producer"]})


def environment(sim: SimulatorServer, db: Path, **variables: str) -> dict[str, str]:
    """The program's environment: the simulator's URL, the database and ``variables``."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("QLIK_", "RELOAD_CHAIN_"))
    }
    return inherited | {"QLIK_TENANT_URL": sim.url, "RELOAD_CHAIN_DB": str(db)} | variables


def run_program(
    args: list[str], env: dict[str, str], program: list[str] = CONSOLE_SCRIPT
) -> subprocess.CompletedProcess[str]:
    """``<program> <args>`` to its end: exit code, stdout and stderr as text."""
    return subprocess.run(
        [*program, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )

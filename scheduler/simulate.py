"""``reload-chain sim``: serve the simulated tenant alone on loopback until Ctrl+C or SIGTERM."""

from __future__ import annotations

import threading
from pathlib import Path
from types import FrameType
from typing import TextIO

from scheduler.runner import WAKE_S, on_stop_signals
from simulator.scenario import Scenario, builtin_scenario, load_scenario
from simulator.server import SimulatorServer


def serve(port: int, scenario_path: Path | None, out: TextIO) -> int:
    """Serve until stopped; a bad scenario file is a settings error (exit 2)."""
    scenario = _scenario(scenario_path)
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    with on_stop_signals(stop), SimulatorServer(scenario, port=port) as sim:
        out.write(
            f"simulated tenant {scenario.name!r} at {sim.url}\n"
            f"  QLIK_TENANT_URL={sim.url} QLIK_API_KEY={scenario.api_key}\n"
            "Ctrl+C stops it.\n"
        )
        out.flush()
        # Waiting in slices: on Windows before Python 3.14 Ctrl+C cannot end a plain wait.
        while not stopped.wait(WAKE_S):
            pass
    return 0


def _scenario(path: Path | None) -> Scenario:
    return builtin_scenario("finance") if path is None else load_scenario(path)

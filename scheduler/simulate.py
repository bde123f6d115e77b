"""``reload-chain sim``: serve the simulated tenant alone on loopback until Ctrl+C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TextIO

from scheduler.settings import SettingsError
from simulator.scenario import Scenario, ScenarioError, builtin_scenario, load_scenario
from simulator.server import SimulatorServer


def serve(port: int, scenario_path: Path | None, out: TextIO) -> int:
    """Serve until stopped; a bad scenario file is a settings error (exit 2)."""
    scenario = _scenario(scenario_path)
    stopped = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopped.set()

    # SIGBREAK: Ctrl+Break on Windows, where SIGTERM is never sent.
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    signals = [getattr(signal, name) for name in names if hasattr(signal, name)]
    previous = {sig: signal.signal(sig, stop) for sig in signals}
    try:
        with SimulatorServer(scenario, port=port) as sim:
            out.write(
                f"simulated tenant {scenario.name!r} at {sim.url}\n"
                f"  QLIK_TENANT_URL={sim.url} QLIK_API_KEY={scenario.api_key}\n"
                "Ctrl+C stops it.\n"
            )
            out.flush()
            # Waiting in slices: on Windows before Python 3.14 Ctrl+C cannot end a plain wait.
            while not stopped.wait(1.0):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _scenario(path: Path | None) -> Scenario:
    if path is None:
        return builtin_scenario("finance")
    try:
        return load_scenario(path)
    except ScenarioError as error:
        raise SettingsError(str(error)) from None

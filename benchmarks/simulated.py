"""The simulated tenant in a process of its own, with Qlik Cloud's 5-minute budgets.

Its own process, so its work neither shares the measured process's GIL nor shows in its
memory. The budgets run on a faster clock for the sizes (``TIME_SCALE``: a 5-second window),
so pacing costs seconds, not hours; ``time_scale=1`` is Qlik's real clock.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loguru import logger

from simulator.scenario import FaultSpec, Scenario

if TYPE_CHECKING:
    from simulator.server import SimulatorServer

API_KEY = "bench-api-key"
SPAWN = multiprocessing.get_context("spawn")
# Qlik's 5-minute budgets on a clock 60 times faster: a 5-second window.
TIME_SCALE = 60
QLIK_WINDOW_S = 300.0
# Qlik Cloud's budgets per user over any 5 minutes (SPEC section 2), as the tenant counts them;
# written out here, not taken from qlik.limits, so the client's own numbers are checked.
TENANT_BUDGETS = {"tier1": 5000, "audits": 5000, "tier2": 500, "reload_start": 250}


def tenant_faults(latency_ms: float, time_scale: float = TIME_SCALE) -> FaultSpec:
    """The simulator's latency, and Qlik's budgets on a clock ``time_scale`` times faster."""
    return FaultSpec(
        latency_ms=latency_ms,
        rate_window_seconds=QLIK_WINDOW_S / time_scale,
        tier1_limit=TENANT_BUDGETS["tier1"],
        audits_limit=TENANT_BUDGETS["audits"],
        tier2_limit=TENANT_BUDGETS["tier2"],
        reload_start_limit=TENANT_BUDGETS["reload_start"],
    )


@dataclass(frozen=True)
class ReloadTimes:
    """A reload created while the simulator ran: whose (the app's key), when (epoch seconds)."""

    app: str
    created: float
    ended: float
    by_api: bool  # started through POST /api/v1/reloads (not scheduled in the scenario)


def _snapshot(sim: SimulatorServer, born: datetime) -> dict[str, Any]:
    """What the simulator saw so far: its counts, and the reloads created since ``born``."""
    tenant = sim.tenant
    with tenant.lock:
        tenant.refresh()  # scheduled reloads whose time has come exist from now on
        by_api = {reload.id for reload in tenant.api_starts}
        reloads = [
            ReloadTimes(
                tenant.apps[r.app_id].key,
                r.created.timestamp(),
                r.ended.timestamp(),
                r.id in by_api,
            )
            for r in tenant.reloads.values()
            if r.created >= born
        ]
    stats = {
        "reloads_started": len(by_api),
        "rate_limited": sim.app.faults.injected["rate_limited"],
    }
    return {"stats": stats, "reloads": reloads}


def _serve(scenario: Scenario, conn: Connection) -> None:
    """Child process: serve the scenario, answer ``peek``s, and report all it saw at ``stop``."""
    from simulator.server import SimulatorServer

    logger.remove()
    born = datetime.now(UTC)  # every past reload of the scenario was created before this
    with SimulatorServer(scenario) as sim:
        conn.send(sim.url)
        while conn.recv() != "stop":
            conn.send(_snapshot(sim, born))
        conn.send(_snapshot(sim, born))


class Simulator:
    """A ``SimulatorServer`` for one scenario in a child process.

    After the ``with`` block: ``stats`` (reloads started through the API, 429s of the tier
    limits) and ``reloads`` (every reload created while it ran).
    """

    def __init__(self, scenario: Scenario) -> None:
        self._conn, child = SPAWN.Pipe()
        self._process = SPAWN.Process(target=_serve, args=(scenario, child), daemon=True)
        self.url = ""
        self.stats: dict[str, int] = {}
        self.reloads: list[ReloadTimes] = []

    def __enter__(self) -> Simulator:
        self._process.start()
        if not self._conn.poll(120):
            self._process.kill()
            raise RuntimeError("the simulator did not start within 120 s")
        self.url = str(self._conn.recv())
        return self

    def peek(self) -> list[ReloadTimes]:
        """The reloads created so far, while it runs."""
        self._conn.send("peek")
        reloads: list[ReloadTimes] = self._conn.recv()["reloads"]
        return reloads

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._conn.send("stop")
            if self._conn.poll(30):
                snapshot = self._conn.recv()
                self.stats, self.reloads = dict(snapshot["stats"]), list(snapshot["reloads"])
        except (BrokenPipeError, EOFError, OSError):
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

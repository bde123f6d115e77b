"""What every benchmark run needs: the simulator in its own process, and one real sweep in another.

Both run with Qlik Cloud's tier limits on a faster clock (``TIME_SCALE``): the simulator
answers 429 past them, and the sweep's own rate limiter paces its calls under them, so a run
shows both that the sweep never provokes a 429 and what the pacing costs, in seconds not hours.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

from loguru import logger

from qlik.limits import RateLimits
from simulator.scenario import Scenario

API_KEY = "bench-api-key"
SPAWN = multiprocessing.get_context("spawn")
# Qlik's per-minute limits applied per second: 60 times faster than real time.
TIME_SCALE = 60
RATE_WINDOW_S = 60.0 / TIME_SCALE


# --- the simulator, in its own process --------------------------------------------------------


def _serve(scenario: Scenario, conn: Connection) -> None:
    """Child process: serve the scenario until told to stop, then report what it saw."""
    from simulator.server import SimulatorServer

    logger.remove()
    with SimulatorServer(scenario) as sim:
        conn.send(sim.url)
        conn.recv()
        conn.send(
            {
                "reloads_started": sum(sim.tenant.reload_log().values()),
                "rate_limited": sim.app.faults.injected["rate_limited"],
            }
        )


class Simulator:
    """A ``SimulatorServer`` for one scenario in a child process."""

    def __init__(self, scenario: Scenario) -> None:
        self._conn, child = SPAWN.Pipe()
        self._process = SPAWN.Process(target=_serve, args=(scenario, child), daemon=True)
        self.url = ""
        self.stats: dict[str, int] = {}

    def __enter__(self) -> Simulator:
        self._process.start()
        if not self._conn.poll(120):
            self._process.kill()
            raise RuntimeError("the simulator did not start within 120 s")
        self.url = str(self._conn.recv())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._conn.send("stop")
            if self._conn.poll(30):
                self.stats = dict(self._conn.recv())
        except (BrokenPipeError, EOFError, OSError):
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


# --- our sweep, in its own process ------------------------------------------------------------


@dataclass
class SweepResult:
    """One real sweep: what it read, decided and cost."""

    events_read: int
    events_new: int
    sources: int
    triggered: int
    reasons: dict[str, int]
    exit_code: int
    api_calls: dict[str, int]
    wall_s: float
    tracemalloc_peak_bytes: int
    ru_maxrss_bytes: int | None
    phases_s: dict[str, float]
    rss_before_bytes: int | None  # resident memory just before run_sweep (imports, client, db)


def phase_line(phases: dict[str, float]) -> str:
    """``read 12.1 s, facts 3.0 s, ...``: where a sweep's time went."""
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())


def _proc_status_bytes(field: str) -> int | None:
    """A ``/proc/self/status`` memory field (``VmHWM``, ``VmRSS``) in bytes; None off Linux."""
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return None


def _max_rss_bytes() -> int | None:
    """This process's peak resident set size (None where neither source exists).

    On Linux, ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` would also count the parent's
    memory at the fork that spawned this process (it survives the exec), and the parent
    holds the whole benchmark scenario.
    """
    peak_here = _proc_status_bytes("VmHWM")
    if peak_here is not None:
        return peak_here
    if sys.platform == "win32":
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _sweep_child(
    url: str, database: str, lookback_minutes: int, trace: bool, conn: Connection
) -> None:
    """Child process: one real sweep; tracemalloc on around ``run_sweep`` when ``trace``."""
    from jobs.sweep import run_sweep
    from scheduler.commands import sweep_context
    from scheduler.settings import Settings
    from state.database import open_database

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    settings = Settings(
        tenant_url=url,
        api_key=API_KEY,
        database=Path(database),
        first_run_lookback_minutes=lookback_minutes,
    )
    limits = RateLimits(period_s=RATE_WINDOW_S)
    with sweep_context(settings, open_database(settings.database), rate_limits=limits) as ctx:
        rss_before = _proc_status_bytes("VmRSS")
        if trace:
            tracemalloc.start()
        began = time.monotonic()
        report = run_sweep(ctx, datetime.now(UTC))
        wall_s = time.monotonic() - began
        _, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
        tracemalloc.stop()
    result = SweepResult(
        events_read=report.events_read,
        events_new=report.events_new,
        sources=report.sources,
        triggered=sum(1 for outcome in report.outcomes if outcome.decision == "triggered"),
        reasons=dict(report.reason_counts()),
        exit_code=report.exit_code,
        api_calls=dict(report.api_calls),
        wall_s=wall_s,
        tracemalloc_peak_bytes=peak,
        ru_maxrss_bytes=_max_rss_bytes(),
        phases_s=dict(report.phases_s),
        rss_before_bytes=rss_before,
    )
    conn.send(asdict(result))


def run_ours(url: str, lookback_minutes: int, *, trace: bool = True) -> SweepResult:
    """One real sweep in a fresh process with a fresh database."""
    receive, send = SPAWN.Pipe(duplex=False)
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        database = str(Path(folder) / "state.db")
        process = SPAWN.Process(
            target=_sweep_child, args=(url, database, lookback_minutes, trace, send)
        )
        process.start()
        send.close()
        try:
            payload = receive.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"the sweep process died (exit {process.exitcode})") from None
        process.join()
    return SweepResult(**payload)

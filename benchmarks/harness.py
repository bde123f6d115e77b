"""What every benchmark size needs: one real sweep in a process of its own.

It runs with Qlik Cloud's 5-minute budgets on the simulator's clock (``TIME_SCALE`` times
faster for the sizes): the simulator answers 429 past them, and the sweep's own rate limiter
paces its calls under them, so a run shows both that the sweep never provokes a 429 and what
the pacing costs, in seconds not hours.
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

from loguru import logger

from benchmarks.memory import max_rss_bytes, proc_status_bytes
from benchmarks.simulated import API_KEY, SPAWN, TIME_SCALE
from qlik.limits import RateLimits


def client_limits(time_scale: float = TIME_SCALE) -> RateLimits:
    """The sweep's own limits (Qlik's, with its margin) on the same faster clock."""
    return RateLimits().scaled(1 / time_scale)


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
    started_at: float = 0.0  # when run_sweep was called, epoch seconds

    def decided_at(self) -> float:
        """When the sweep had decided (epoch seconds): its reconcile, read and facts are done."""
        before = ("reconcile", "read", "facts")
        return self.started_at + sum(self.phases_s.get(phase, 0.0) for phase in before)


def phase_line(phases: dict[str, float]) -> str:
    """``read 12.1 s, facts 3.0 s, ...``: where a sweep's time went."""
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())


@dataclass(frozen=True)
class _SweepJob:
    url: str
    database: str
    lookback_minutes: int
    trace: bool
    time_scale: float


def _sweep_child(job: _SweepJob, conn: Connection) -> None:
    """Child process: one real sweep; tracemalloc on around ``run_sweep`` when ``job.trace``."""
    from jobs.sweep import run_sweep
    from scheduler.runtime import Runtime
    from scheduler.settings import Settings

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    settings = Settings(
        tenant_url=job.url,
        api_key=API_KEY,
        database=Path(job.database),
        first_run_lookback_minutes=job.lookback_minutes,
    )
    limits = client_limits(job.time_scale)
    with Runtime(settings, rate_limits=limits) as runtime:
        ctx = runtime.sweep_context(runtime.database())
        rss_before = proc_status_bytes("VmRSS")
        if job.trace:
            tracemalloc.start()
        started_at, began = time.time(), time.monotonic()
        report = run_sweep(ctx, datetime.now(UTC))
        wall_s = time.monotonic() - began
        _, peak = tracemalloc.get_traced_memory() if job.trace else (0, 0)
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
        ru_maxrss_bytes=max_rss_bytes(),
        phases_s=dict(report.phases_s),
        rss_before_bytes=rss_before,
        started_at=started_at,
    )
    conn.send(asdict(result))


def run_ours(
    url: str, lookback_minutes: int, *, trace: bool = True, time_scale: float = TIME_SCALE
) -> SweepResult:
    """One real sweep in a fresh process with a fresh database, under Qlik's limits on a clock
    ``time_scale`` times faster."""
    receive, send = SPAWN.Pipe(duplex=False)
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        database = str(Path(folder) / "state.db")
        job = _SweepJob(url, database, lookback_minutes, trace, time_scale)
        process = SPAWN.Process(target=_sweep_child, args=(job, send))
        process.start()
        send.close()
        try:
            payload = receive.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"the sweep process died (exit {process.exitcode})") from None
        process.join()
    return SweepResult(**payload)

"""``reload-chain run``: APScheduler sweeps every N minutes until Ctrl+C or SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, datetime
from threading import TIMEOUT_MAX
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

# Ctrl+C, SIGTERM, and Ctrl+Break where it exists (a Windows console's other stop key).
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGBREAK") if hasattr(signal, name)
)
WAKE_S = 1.0


class _WakefulScheduler(BlockingScheduler):  # type: ignore[misc]
    """A ``BlockingScheduler`` whose idle wait wakes every second to let signal handlers run.

    Python runs a signal handler in the main thread only between bytecodes. On Windows before
    Python 3.14 a lock wait cannot be interrupted (CPython gh-80116, fixed by gh-125541), so the
    stock scheduler, waiting for the next sweep, would hear Ctrl+C only minutes later.
    """

    def _main_loop(self) -> None:
        wait_seconds = TIMEOUT_MAX
        while self.state != STATE_STOPPED:
            self._wait(wait_seconds)
            self._event.clear()
            wait_seconds = self._process_jobs()

    def _wait(self, seconds: float | None) -> None:
        remaining = TIMEOUT_MAX if seconds is None else seconds
        while remaining > 0 and not self._event.wait(min(remaining, WAKE_S)):
            remaining -= WAKE_S


def build_scheduler(
    job: Callable[[], object], interval_minutes: float, first_run: datetime
) -> BlockingScheduler:
    """A scheduler with one sweep job: never two at once, missed runs coalesced into one."""
    scheduler = _WakefulScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone=UTC)
    scheduler.add_job(
        job,
        IntervalTrigger(seconds=interval_minutes * 60, timezone=UTC),
        id="sweep",
        name="sweep",
        next_run_time=first_run,
        max_instances=1,
        coalesce=True,
        # A run later than one interval is dropped: the next sweep covers its events anyway.
        # APScheduler wants whole seconds here.
        misfire_grace_time=max(1, round(interval_minutes * 60)),
    )
    scheduler.add_listener(_log_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def run_until_stopped(
    scheduler: BlockingScheduler, on_stop: Callable[[], None] | None = None
) -> None:
    """Block until SIGTERM or Ctrl+C; the running sweep ends before this returns.

    On the first signal ``on_stop`` runs first (in the signal handler, so it must only flip a
    switch, as ``Budget.stop`` does): the running sweep then makes no new call and its call in
    flight ends within about a second, so the sweep ends within seconds whatever it was doing.
    """

    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        name = signal.Signals(signum).name
        if stopping:
            logger.info("{} received: already stopping, waiting for the running sweep", name)
            return
        stopping = True
        if on_stop is None:
            logger.info("{} received: stopping after the running sweep", name)
        else:
            logger.info("{} received: stopping; the running sweep makes no new call", name)
            on_stop()
        scheduler.shutdown(wait=True)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        scheduler.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_job_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        logger.warning(
            "sweep due at {} was skipped: the previous one was still running",
            event.scheduled_run_time,
        )
    else:
        logger.opt(exception=event.exception).error("sweep crashed: {}", event.exception)

"""``reload-chain run``: APScheduler sweeps every N minutes until Ctrl+C or SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger


def build_scheduler(
    job: Callable[[], object], interval_minutes: int, first_run: datetime
) -> BlockingScheduler:
    """A scheduler with one sweep job: never two at once, missed runs coalesced into one."""
    scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone=UTC)
    scheduler.add_job(
        job,
        IntervalTrigger(minutes=interval_minutes, timezone=UTC),
        id="sweep",
        name="sweep",
        next_run_time=first_run,
        max_instances=1,
        coalesce=True,
        # A run later than one interval is dropped: the next sweep covers its events anyway.
        misfire_grace_time=interval_minutes * 60,
    )
    scheduler.add_listener(_log_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def run_until_stopped(scheduler: BlockingScheduler) -> None:
    """Block until SIGTERM or Ctrl+C; the running sweep finishes before this returns."""

    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        name = signal.Signals(signum).name
        if stopping:
            logger.info("{} received: already stopping, waiting for the running sweep", name)
            return
        stopping = True
        logger.info("{} received: stopping after the running sweep", name)
        scheduler.shutdown(wait=True)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
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

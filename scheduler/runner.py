"""``reload-chain run``: APScheduler sweeps every N minutes until Ctrl+C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
StopHandler = Callable[[int, FrameType | None], None]


@contextmanager
def on_stop_signals(handler: StopHandler) -> Iterator[None]:
    """Within the block, Ctrl+C, SIGTERM and Ctrl+Break call ``handler``; restored after."""
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class WakefulScheduler(BlockingScheduler):  # type: ignore[misc]
    """A ``BlockingScheduler`` whose idle wait wakes every second, and that stops from its loop.

    Python runs a signal handler in the main thread only between bytecodes. On Windows before
    Python 3.14 a lock wait cannot be interrupted (CPython gh-80116, fixed by gh-125541), so the
    stock scheduler, waiting for the next sweep, would hear Ctrl+C only minutes later.

    A signal handler may interrupt the main thread while it holds one of the scheduler's locks
    (say, the executor's, while it submits the sweep); a ``shutdown(wait=True)`` there waits
    for the sweep, whose thread waits for that lock: a deadlock. So the handler only sets
    ``stop_signal``, and the main loop shuts down at its next wake, holding no lock.
    """

    stop_signal: str | None = None
    on_stopping: Callable[[str], None] | None = None

    def _main_loop(self) -> None:
        wait_seconds = TIMEOUT_MAX
        while self.state != STATE_STOPPED:
            self._wait(wait_seconds)
            if self.stop_signal is not None:
                if self.on_stopping is not None:
                    self.on_stopping(self.stop_signal)
                self.shutdown(wait=True)
                return
            self._event.clear()
            wait_seconds = self._process_jobs()

    def _wait(self, seconds: float | None) -> None:
        remaining = TIMEOUT_MAX if seconds is None else seconds
        while (
            remaining > 0
            and self.stop_signal is None
            and not self._event.wait(min(remaining, WAKE_S))
        ):
            remaining -= WAKE_S


@dataclass
class Interrupted:
    """Which stop signal arrived during a one-shot command (None: none did)."""

    signal_name: str | None = None
    signal_number: int = 0

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal's number (Ctrl+C 130, SIGTERM 143)."""
        return 128 + self.signal_number


@contextmanager
def interruptible(stop: Callable[[], None]) -> Iterator[Interrupted]:
    """Within the block, Ctrl+C and SIGTERM call ``stop`` (``Budget.stop``) instead of killing.

    The command then ends its calls within a second, commits what it did, and says so: no
    traceback, no work lost. ``stop`` runs in the signal handler, so it must only flip a
    switch, as ``Budget.stop`` does.
    """
    interrupted = Interrupted()

    def handler(signum: int, _frame: FrameType | None) -> None:
        interrupted.signal_name = signal.Signals(signum).name
        interrupted.signal_number = signum
        stop()

    with on_stop_signals(handler):
        yield interrupted


def build_scheduler(
    job: Callable[[], object], interval_minutes: float, first_run: datetime
) -> WakefulScheduler:
    """A scheduler with one sweep job: never two at once, missed runs coalesced into one."""
    scheduler = WakefulScheduler(executors={"default": ThreadPoolExecutor(1)}, timezone=UTC)
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
    scheduler: WakefulScheduler, on_stop: Callable[[], None] | None = None
) -> None:
    """Block until SIGTERM or Ctrl+C; the running sweep ends before this returns.

    On the first signal ``on_stop`` runs first (in the signal handler, so it must only flip a
    switch, as ``Budget.stop`` does): the running sweep then makes no new call and its call in
    flight ends within about a second, so the sweep ends within seconds whatever it was doing.
    """

    def stop(signum: int, _frame: FrameType | None) -> None:
        # Nothing here may take a lock the interrupted main thread could hold: no logging,
        # no shutdown (see WakefulScheduler); a second signal's line is logged by a thread.
        name = signal.Signals(signum).name
        if scheduler.stop_signal is not None:
            _log_from_thread("{} received: already stopping, waiting for the running sweep", name)
            return
        if on_stop is not None:
            on_stop()
        scheduler.stop_signal = name

    def stopping(name: str) -> None:
        if on_stop is None:
            logger.info("{} received: stopping after the running sweep", name)
        else:
            logger.info("{} received: stopping; the running sweep makes no new call", name)

    scheduler.on_stopping = stopping
    with on_stop_signals(stop):
        scheduler.start()


def _log_from_thread(message: str, *args: object) -> None:
    """Log ``message`` at INFO from a new thread, which waits for any lock the caller holds."""
    threading.Thread(
        target=logger.info, args=(message, *args), name="signal-log", daemon=True
    ).start()


def _log_job_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        logger.warning(
            "sweep due at {} was skipped: the previous one was still running",
            event.scheduled_run_time,
        )
    else:
        logger.opt(exception=event.exception).error("sweep crashed: {}", event.exception)

"""APScheduler wiring of ``reload-chain run``: one job, never two at once, clean stop on signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.runner import _log_job_event, build_scheduler

FIRST_RUN = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from scheduler.runner import build_scheduler, run_until_stopped

marks = Path(sys.argv[1])

def job():
    with marks.open("a") as f:
        f.write("started\\n")
    print("job started", flush=True)
    time.sleep(1)
    with marks.open("a") as f:
        f.write("finished\\n")
    print("job finished", flush=True)

run_until_stopped(build_scheduler(job, 1, datetime.now(UTC)))
print("stopped", flush=True)
"""


# ``run`` whose sweep waits on a tenant that accepts the request and never answers.
HANGING_SCRIPT = """
import socket, threading
from datetime import UTC, datetime
from pydantic import SecretStr
from qlik.budget import Budget
from qlik.client import connect
from scheduler.runner import build_scheduler, run_until_stopped

server = socket.create_server(("127.0.0.1", 0))

def tenant():
    conn, _ = server.accept()
    conn.recv(4096)
    print("request received", flush=True)
    threading.Event().wait()

threading.Thread(target=tenant, daemon=True).start()
budget = Budget()
url = f"http://127.0.0.1:{server.getsockname()[1]}"
client = connect(url, SecretStr("key"), timeout_s=600, budget=budget)

def job():
    try:
        client.space("s1")
    except Exception as error:
        print(type(error).__name__, flush=True)

run_until_stopped(build_scheduler(job, 1, datetime.now(UTC)), on_stop=budget.stop)
print("stopped", flush=True)
"""


def noop() -> None:
    pass


def test_scheduler_has_one_sweep_job() -> None:
    scheduler = build_scheduler(noop, interval_minutes=3, first_run=FIRST_RUN)
    assert isinstance(scheduler, BlockingScheduler)
    jobs = scheduler.get_jobs()
    assert [job.id for job in jobs] == ["sweep"]
    job = jobs[0]
    assert job.func is noop
    assert job.max_instances == 1
    assert job.coalesce is True
    assert job.misfire_grace_time == 180
    assert job.next_run_time == FIRST_RUN


def test_trigger_is_every_interval_minutes() -> None:
    job = build_scheduler(noop, interval_minutes=3, first_run=FIRST_RUN).get_job("sweep")
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval == timedelta(minutes=3)
    following = job.trigger.get_next_fire_time(FIRST_RUN, FIRST_RUN)
    assert following - FIRST_RUN == timedelta(minutes=3)


def test_grace_time_follows_interval() -> None:
    job = build_scheduler(noop, interval_minutes=7, first_run=FIRST_RUN).get_job("sweep")
    assert job.misfire_grace_time == 420
    assert job.trigger.interval == timedelta(minutes=7)


@pytest.mark.parametrize(("minutes", "seconds"), [(0.25, 15), (0.5, 30), (1 / 3, 20), (0.001, 1)])
def test_a_fractional_interval_has_whole_seconds_of_grace(minutes: float, seconds: int) -> None:
    job = build_scheduler(noop, interval_minutes=minutes, first_run=FIRST_RUN).get_job("sweep")
    assert job.misfire_grace_time == seconds
    assert isinstance(job.misfire_grace_time, int)
    assert job.trigger.interval.total_seconds() == pytest.approx(minutes * 60)


def test_scheduler_is_not_started() -> None:
    assert not build_scheduler(noop, interval_minutes=3, first_run=FIRST_RUN).running


def test_listener_is_registered_for_errors_and_misses() -> None:
    scheduler = build_scheduler(noop, interval_minutes=3, first_run=FIRST_RUN)
    masks = dict(scheduler._listeners)
    assert masks[_log_job_event] & EVENT_JOB_ERROR
    assert masks[_log_job_event] & EVENT_JOB_MISSED


def test_crashed_sweep_is_logged_with_its_exception(logged: list[str]) -> None:
    try:
        raise RuntimeError("tenant unreachable")
    except RuntimeError as error:
        crash = error
    event = JobExecutionEvent(EVENT_JOB_ERROR, "sweep", "default", FIRST_RUN, exception=crash)
    _log_job_event(event)
    assert len(logged) == 1
    assert logged[0].startswith("ERROR sweep crashed: tenant unreachable\n")
    assert "RuntimeError: tenant unreachable" in logged[0]


def test_missed_sweep_is_logged_as_warning(logged: list[str]) -> None:
    event = JobExecutionEvent(EVENT_JOB_MISSED, "sweep", "default", FIRST_RUN)
    _log_job_event(event)
    assert len(logged) == 1
    assert logged[0].startswith("WARNING sweep due at 2026-11-22 10:00:00+00:00 was skipped")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_after_running_sweep_finishes(tmp_path: Path, signum: int) -> None:
    marks = tmp_path / "marks.txt"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(marks)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "job started\n"
        process.send_signal(signum)
        out, err = process.communicate(timeout=20)  # generous: a loaded machine
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    # The running sweep finished before run_until_stopped returned.
    assert out == "job finished\nstopped\n"
    assert marks.read_text() == "started\nfinished\n"
    assert f"{signal.Signals(signum).name} received" in err


# The signal lands while the main thread holds the executor's lock, just after it handed the
# sweep to its thread (found by 20 runs in a row: a stop there once deadlocked `run`).
SIGNAL_UNDER_LOCK_SCRIPT = """
import signal, sys, time
from datetime import UTC, datetime
from apscheduler.executors.pool import ThreadPoolExecutor
from scheduler.runner import build_scheduler, run_until_stopped

submit = ThreadPoolExecutor._do_submit_job

def submit_then_signal(self, job, run_times):
    submit(self, job, run_times)  # the caller holds self._lock
    signal.raise_signal(signal.SIGINT)
    time.sleep(0.5)  # the sweep ends meanwhile and wants the lock

ThreadPoolExecutor._do_submit_job = submit_then_signal

def job():
    print("job ran", flush=True)

run_until_stopped(build_scheduler(job, 1, datetime.now(UTC)))
print("stopped", flush=True)
"""


def test_a_signal_while_the_scheduler_holds_its_lock_still_stops() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SIGNAL_UNDER_LOCK_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,  # a deadlock fails here
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "job ran\nstopped\n"
    assert "SIGINT received: stopping after the running sweep" in result.stderr


def test_second_signal_while_stopping_still_exits_cleanly(tmp_path: Path) -> None:
    # Pressing Ctrl+C twice is common; SPEC 5 still wants a clean stop with exit 0.
    marks = tmp_path / "marks.txt"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(marks)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "job started\n"
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)  # generous: a loaded machine
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out == "job finished\nstopped\n"
    assert marks.read_text() == "started\nfinished\n"


def test_sigterm_ends_a_sweep_whose_call_hangs_within_seconds() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", HANGING_SCRIPT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "request received\n"
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)  # generous: a loaded machine
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    # The call in flight ended on the stop; its retry was refused: no new call.
    assert out == "StoppedError\nstopped\n"
    assert took < 10, f"took {took:.1f}s"

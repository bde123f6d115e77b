"""The sweep's budget: a deadline on an injected clock, and a stop that ends every wait."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from qlik.budget import Budget
from qlik.errors import NotSentError, OutOfTimeError, RetryableError
from qlik.limits import RateLimiter, RateLimits
from qlik.tiers import TierGate
from tests.clocks import FakeClock

# Generous for a loaded machine: the point is "ends at once", not "after the minutes asked".
PROMPT_S = 3.0


def test_out_of_time_is_a_not_sent_retryable_error() -> None:
    assert issubclass(OutOfTimeError, NotSentError)
    assert issubclass(NotSentError, RetryableError)
    assert OutOfTimeError("x").exit_code == 1


def test_without_a_deadline_nothing_runs_out() -> None:
    clock = FakeClock()
    budget = Budget(clock)
    budget.start(None)
    clock.now += 10**9
    budget.check("GET /api/v1/audits")
    assert budget.remaining() is None
    assert not budget.stopped


def test_the_deadline_refuses_calls_once_past() -> None:
    clock = FakeClock()
    budget = Budget(clock)
    budget.start(60)
    clock.now += 59.5
    budget.check("GET /api/v1/audits")
    assert budget.remaining() == pytest.approx(0.5)
    clock.now += 0.5
    assert budget.remaining() == 0.0
    with pytest.raises(OutOfTimeError, match="POST /api/v1/reloads: no new call: the sweep ran"):
        budget.check("POST /api/v1/reloads")


def test_a_new_sweep_gets_a_new_deadline() -> None:
    clock = FakeClock()
    budget = Budget(clock)
    budget.start(10)
    clock.now += 11
    budget.start(10)
    budget.check("GET /api/v1/audits")
    assert budget.remaining() == pytest.approx(10)


def test_a_stop_refuses_every_call_and_survives_a_new_sweep() -> None:
    budget = Budget(FakeClock())
    budget.stop()
    assert budget.stopped
    with pytest.raises(OutOfTimeError, match="stopping: no new call"):
        budget.check("GET /api/v1/items")
    budget.start(60)
    with pytest.raises(OutOfTimeError, match="stopping"):
        budget.check("GET /api/v1/items")


def test_a_wait_that_would_end_past_the_deadline_raises_at_once() -> None:
    clock = FakeClock()
    budget = Budget(clock)
    budget.start(5)
    with pytest.raises(OutOfTimeError, match=r"a wait of 30\.0s: no new call"):
        budget.sleep(30)  # a real wait of 30 s would fail the test by its duration
    assert clock.now == 1000.0


def test_a_short_wait_within_the_deadline_returns() -> None:
    budget = Budget(FakeClock())
    budget.start(5)
    budget.sleep(0)
    budget.sleep(0.01)


def test_a_wait_after_a_stop_raises_without_waiting() -> None:
    budget = Budget()
    budget.stop()
    with pytest.raises(OutOfTimeError):
        budget.sleep(3600)


def in_thread(work: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, failures


def waiting_on(budget: Budget) -> tuple[Callable[[float], None], threading.Event]:
    """``budget.sleep`` that also says when a wait has begun."""
    began = threading.Event()

    def sleep(seconds: float) -> None:
        began.set()
        budget.sleep(seconds)

    return sleep, began


def stop_while_waiting(budget: Budget, began: threading.Event, thread: threading.Thread) -> None:
    assert began.wait(PROMPT_S)
    budget.stop()
    thread.join(PROMPT_S)
    assert not thread.is_alive(), "the wait did not end on stop"


def test_stop_from_another_thread_ends_a_long_wait() -> None:
    budget = Budget()
    sleep, began = waiting_on(budget)
    thread, failures = in_thread(lambda: sleep(3600))
    stop_while_waiting(budget, began, thread)
    assert [isinstance(error, OutOfTimeError) for error in failures] == [True]


def test_stop_ends_a_rate_limiter_wait() -> None:
    budget = Budget()
    sleep, began = waiting_on(budget)
    limiter = RateLimiter(RateLimits(calls={"tier1": 1}, period_s=3600), sleep=sleep)
    limiter.acquire("tier1")
    limiter.release("tier1")
    thread, failures = in_thread(lambda: limiter.acquire("tier1"))  # waits an hour for a slot
    stop_while_waiting(budget, began, thread)
    assert [isinstance(error, OutOfTimeError) for error in failures] == [True]


def test_stop_ends_a_blocked_tier_wait() -> None:
    budget = Budget()
    sleep, began = waiting_on(budget)
    gate = TierGate(sleep=sleep)
    gate.block("tier1", 59)
    thread, failures = in_thread(lambda: gate.wait("tier1"))
    stop_while_waiting(budget, began, thread)
    assert [isinstance(error, OutOfTimeError) for error in failures] == [True]

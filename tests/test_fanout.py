"""fan_out: ``[call(arg) for arg in args]`` with a bounded number of calls at once."""

from __future__ import annotations

import threading
import time

import pytest

from qlik.fanout import fan_out

BARRIER_TIMEOUT_S = 5.0


class InFlight:
    """Counts the calls running at once and remembers the most."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.get_ident())

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


def test_results_keep_the_order_of_the_arguments() -> None:
    def slower_for_smaller(n: int) -> int:
        time.sleep((20 - n) * 0.001)  # later arguments finish first
        return n * n

    assert fan_out(slower_for_smaller, range(20), 4) == [n * n for n in range(20)]


def test_any_iterable_is_accepted_once() -> None:
    args = (f"a{n}" for n in range(5))
    assert fan_out(str.upper, args, 3) == ["A0", "A1", "A2", "A3", "A4"]


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_no_arguments_no_calls(max_concurrency: int) -> None:
    called: list[int] = []

    def call(n: int) -> int:
        called.append(n)
        return n

    assert fan_out(call, [], max_concurrency) == []
    assert called == []


@pytest.mark.parametrize("max_concurrency", [2, 3, 5])
def test_never_more_than_max_concurrency_calls_at_once_and_exactly_that_many(
    max_concurrency: int,
) -> None:
    # Every call waits at a barrier for max_concurrency - 1 others: the batch would time out
    # unless that many ran together, and the counter shows no more ever did.
    barrier = threading.Barrier(max_concurrency, timeout=BARRIER_TIMEOUT_S)
    flight = InFlight()

    def call(n: int) -> int:
        flight.enter()
        try:
            barrier.wait()
            time.sleep(0.002)
            return n
        finally:
            flight.leave()

    count = max_concurrency * 4
    assert fan_out(call, range(count), max_concurrency) == list(range(count))
    assert flight.most == max_concurrency
    assert flight.now == 0
    assert threading.get_ident() not in flight.threads
    assert len(flight.threads) == max_concurrency


def test_more_workers_than_arguments_still_bounds_by_the_arguments() -> None:
    flight = InFlight()

    def call(n: int) -> int:
        flight.enter()
        time.sleep(0.01)
        flight.leave()
        return n

    assert fan_out(call, range(3), 16) == [0, 1, 2]
    assert flight.most <= 3
    assert len(flight.threads) <= 3


@pytest.mark.parametrize(("max_concurrency", "count"), [(1, 5), (0, 5), (8, 1)])
def test_one_at_a_time_runs_inline_in_the_calling_thread(max_concurrency: int, count: int) -> None:
    threads: list[int] = []

    def call(n: int) -> int:
        threads.append(threading.get_ident())
        return -n

    assert fan_out(call, range(count), max_concurrency) == [-n for n in range(count)]
    assert threads == [threading.get_ident()] * count


def test_inline_stops_at_the_first_failure() -> None:
    called: list[int] = []

    def call(n: int) -> int:
        called.append(n)
        if n == 2:
            raise ValueError("two")
        return n

    with pytest.raises(ValueError, match="two"):
        fan_out(call, range(6), 1)
    assert called == [0, 1, 2]


def test_a_failure_propagates_itself() -> None:
    boom = LookupError("batch 3 failed")

    def call(n: int) -> int:
        if n == 3:
            raise boom
        return n

    with pytest.raises(LookupError) as raised:
        fan_out(call, range(8), 4)
    assert raised.value is boom


def test_the_failure_of_the_earliest_argument_wins_as_if_run_in_order() -> None:
    def call(n: int) -> int:
        if n == 1:
            time.sleep(0.05)  # fails last in time, first in order
            raise KeyError("one")
        if n == 3:
            raise ValueError("three")
        return n

    with pytest.raises(KeyError):
        fan_out(call, range(4), 4)


def test_a_failure_is_raised_once_calls_in_flight_ended_and_later_ones_are_not_begun() -> None:
    started: list[int] = []
    finished: list[int] = []
    lock = threading.Lock()

    def call(n: int) -> int:
        with lock:
            started.append(n)
        if n == 0:
            raise RuntimeError("first")
        time.sleep(0.05)
        with lock:
            finished.append(n)
        return n

    with pytest.raises(RuntimeError, match="first"):
        fan_out(call, range(40), 2)
    # Whatever had begun has ended before the error reached the caller ...
    assert sorted(finished) == sorted(n for n in started if n != 0)
    # ... and the queued rest was cancelled, not run.
    assert len(started) < 40


def test_after_a_failure_calls_not_yet_begun_are_not_made() -> None:
    made: list[int] = []
    first_may_end = threading.Event()

    def call(n: int) -> int:
        made.append(n)
        if n == 0:
            first_may_end.wait(2)  # a slow first call keeps the failure of call 1 unread
        elif n == 1:
            raise RuntimeError("boom")
        else:
            time.sleep(0.02)
        return n

    timer = threading.Timer(1.0, first_may_end.set)
    timer.start()
    with pytest.raises(RuntimeError, match="boom"):
        fan_out(call, range(50), 2)
    timer.cancel()
    # Waiting for call 0 first would let the other worker make all 48 others in that second;
    # stopping at the failure leaves a few at most (however slowly this thread is woken).
    assert len(made) <= 15, made

"""The client-side rate limiter: a call counts from acquire until one period after release.

Most tests drive ``RateLimiter`` with a fake clock whose ``sleep`` advances time (and lets
answers "arrive" meanwhile, as other threads would); one runs real threads on a real clock.
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass, field
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qlik.limits import IN_FLIGHT_POLL_S, QLIK_BUDGETS, QLIK_LIMITS, RateLimiter, RateLimits
from tests.clocks import START, FakeClock


def limiter_on(clock: FakeClock, calls: dict[str, int], period_s: float = 10.0) -> RateLimiter:
    return RateLimiter(RateLimits(calls=calls, period_s=period_s), clock=clock, sleep=clock.sleep)


def one_call(limiter: RateLimiter, clock: FakeClock, tier: str, latency: float = 0.0) -> float:
    """Acquire, answer after ``latency``, release; the time the call was sent."""
    limiter.acquire(tier)
    sent = clock.now
    clock.now += latency
    limiter.release(tier)
    return sent


# --- examples ---------------------------------------------------------------------------------


def test_the_defaults_are_qlik_cloud_budgets_per_five_minutes() -> None:
    limits = RateLimits()
    # Starts keep a margin of 10 under Qlik's 250 (see qlik.limits); the rest are Qlik's own.
    assert dict(limits.calls) == {"audits": 5000, "tier1": 5000, "tier2": 500, "reload_start": 240}
    assert dict(QLIK_BUDGETS) == {"audits": 5000, "tier1": 5000, "tier2": 500, "reload_start": 250}
    assert limits.calls is QLIK_LIMITS
    assert limits.period_s == 300.0
    assert RateLimiter().limits == limits


def test_calls_up_to_the_limit_never_wait() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, {"tier1": 5})
    sent = [one_call(limiter, clock, "tier1", latency=0.5) for _ in range(5)]
    assert sent == [1000.0, 1000.5, 1001.0, 1001.5, 1002.0]
    assert clock.sleeps == []
    assert limiter.waited_s == 0.0


def test_the_next_call_waits_until_one_period_after_the_first_answer() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, {"tier1": 3}, period_s=10.0)
    # Sent at 1000, 1001, 1002; answered half a second later each.
    for _ in range(3):
        one_call(limiter, clock, "tier1", latency=0.5)
        clock.now += 0.5
    assert clock.now == 1003.0
    limiter.acquire("tier1")
    # The first call was answered at 1000.5: it counts until 1010.5, not 1010.
    assert clock.sleeps == [7.5]
    assert clock.now == 1010.5
    assert limiter.waited_s == 7.5
    # The one after that waits for the second answer (1001.5) plus a period.
    limiter.acquire("tier1")
    assert clock.sleeps == [7.5, 1.0]
    assert clock.now == 1011.5


def test_calls_in_flight_count_and_are_polled_until_one_is_answered() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, {"tier1": 2}, period_s=10.0)
    limiter.acquire("tier1")
    limiter.acquire("tier1")  # both in flight, no answer yet: no end time to wait for

    released_at: list[float] = []

    def answer_on_third_poll(polls: int) -> None:
        if polls == 3:
            released_at.append(clock.now)
            limiter.release("tier1")  # another thread's answer arrives while this one sleeps

    clock.during_sleep = answer_on_third_poll
    limiter.acquire("tier1")
    assert clock.sleeps[:3] == [IN_FLIGHT_POLL_S] * 3
    # Then the answered call counts for one period after its answer.
    assert len(clock.sleeps) == 4
    assert clock.now == pytest.approx(released_at[0] + 10.0)


def test_a_call_still_in_flight_keeps_counting_while_later_short_ones_expire() -> None:
    """The slot freed first is the one answered first, not the one sent first."""
    clock = FakeClock()
    limiter = limiter_on(clock, {"tier1": 2}, period_s=10.0)
    limiter.acquire("tier1")  # a slow call: sent at 1000, answered much later
    one_call(limiter, clock, "tier1", latency=1.0)  # sent at 1000, answered at 1001
    limiter.acquire("tier1")
    assert clock.now == 1011.0  # the short call's answer + a period; the slow one still counts
    clock.now = 1012.0
    limiter.release("tier1")  # the slow call answers at 1012
    limiter.release("tier1")  # the call sent at 1011 answers at 1012 too
    limiter.acquire("tier1")
    assert clock.now == 1022.0


def test_tiers_are_limited_independently() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, {"tier1": 1, "tier2": 1, "reload_start": 1}, period_s=10.0)
    one_call(limiter, clock, "tier1")
    one_call(limiter, clock, "tier2")
    one_call(limiter, clock, "reload_start")
    assert clock.sleeps == []
    one_call(limiter, clock, "tier2")
    assert clock.sleeps == [10.0]


def test_a_tier_without_a_limit_is_not_limited() -> None:
    clock = FakeClock()
    limiter = limiter_on(clock, {"tier1": 1})
    for _ in range(100):
        limiter.acquire("audits")  # never released: still never waits
    limiter.release("audits")
    one_call(limiter, clock, "tier1")
    assert clock.sleeps == []
    assert limiter.waited_s == 0.0


def test_a_call_admitted_exactly_at_the_period_boundary_is_counted() -> None:
    clock = FakeClock(now=3.875658)  # 3.875658 + 0.2 - 0.2 rounds below 3.875658
    limiter = limiter_on(clock, {"tier1": 1}, period_s=0.2)
    one_call(limiter, clock, "tier1")
    limiter.acquire("tier1")  # waits exactly the period, then must be counted in flight
    assert clock.sleeps == [pytest.approx(0.2)]
    polls: list[int] = []

    def give_up(count: int) -> None:
        polls.append(count)
        if count > 3:
            raise TimeoutError("still waiting, as it should")

    clock.during_sleep = give_up
    # The limit is 1 and one call is in flight: another one must not be admitted.
    with pytest.raises(TimeoutError):
        limiter.acquire("tier1")


# --- the guarantee, for any sequence of sends and answers -------------------------------------

# Times on a 1/16 s grid, so the fake clock's arithmetic is exact (see the boundary test).
GRID = 16
PERIOD = 1.0


@dataclass
class Call:
    acquired: float
    released: float = float("inf")
    counted: float = 0.0  # when the tenant counted it: somewhere in [acquired, released]


@dataclass
class Simulation:
    """One sender after another; their answers arrive while later senders wait."""

    limit: int
    clock: FakeClock = field(default_factory=FakeClock)
    calls: list[Call] = field(default_factory=list)
    due: list[tuple[float, int]] = field(default_factory=list)  # (answer time, call index)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(
            RateLimits(calls={"tier1": self.limit}, period_s=PERIOD),
            clock=self.clock,
            sleep=self.sleep,
        )

    def advance_to(self, target: float) -> None:
        while self.due and self.due[0][0] <= target:
            when, index = heapq.heappop(self.due)
            self.clock.now = max(self.clock.now, when)
            self.calls[index].released = self.clock.now
            self.limiter.release("tier1")
        self.clock.now = max(self.clock.now, target)

    def sleep(self, seconds: float) -> None:
        self.clock.sleeps.append(seconds)
        self.advance_to(self.clock.now + seconds)

    def send(self, gap: float, latency: float) -> None:
        self.advance_to(self.clock.now + gap)
        self.limiter.acquire("tier1")
        self.calls.append(Call(self.clock.now))
        heapq.heappush(self.due, (self.clock.now + latency, len(self.calls) - 1))

    def finish(self) -> None:
        self.advance_to(float("inf"))


grid_times = st.integers(min_value=0, max_value=3 * GRID).map(lambda n: n / GRID)
fractions = st.integers(min_value=0, max_value=4).map(lambda n: n / 4)


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=5),
    sends=st.lists(st.tuples(grid_times, grid_times, fractions), min_size=1, max_size=40),
)
def test_no_window_the_tenant_could_see_holds_more_than_the_limit(
    limit: int, sends: list[tuple[float, float, float]]
) -> None:
    with patch("qlik.limits.IN_FLIGHT_POLL_S", 1 / GRID):
        sim = Simulation(limit)
        for gap, latency, _ in sends:
            sim.send(gap, latency)
        sim.finish()
    calls = sim.calls
    assert len(calls) == len(sends)
    # Each call is live from its acquire until one period after its answer; at every moment at
    # most ``limit`` calls are live (the count only rises at an acquire, so check those).
    for call in calls:
        live = [
            other for other in calls if other.acquired <= call.acquired < other.released + PERIOD
        ]
        assert len(live) <= limit, (call, live)
    # Hence wherever in [acquire, answer] the tenant counted each call, no window
    # (t - period, t] it looks at holds more than ``limit``.
    for call, (_, _, at) in zip(calls, sends, strict=True):
        call.counted = call.acquired + at * (call.released - call.acquired)
    for call in calls:
        seen = [o for o in calls if call.counted - PERIOD < o.counted <= call.counted]
        assert len(seen) <= limit, (call, seen)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=5),
    ages=st.lists(grid_times, max_size=8),
    sends=st.lists(st.tuples(grid_times, grid_times), min_size=1, max_size=20),
)
def test_calls_seeded_from_an_earlier_process_count_like_this_process_own(
    limit: int, ages: list[float], sends: list[tuple[float, float]]
) -> None:
    with patch("qlik.limits.IN_FLIGHT_POLL_S", 1 / GRID):
        sim = Simulation(limit)
        sim.limiter.seed("tier1", ages)
        for gap, latency in sends:
            sim.send(gap, latency)
        sim.finish()
    earlier = sorted(START - age for age in ages if age < PERIOD)  # their answers
    for call in sim.calls:
        live = [o for o in sim.calls if o.acquired <= call.acquired < o.released + PERIOD]
        still = [end for end in earlier if call.acquired < end + PERIOD]
        assert len(live) + len(still) <= limit, (call, live, still)
    # And no longer than it must: the first call goes once enough earlier calls have left.
    surplus = len(earlier) - limit
    freed = earlier[surplus] + PERIOD if surplus >= 0 else START
    assert sim.calls[0].acquired == max(START + sends[0][0], freed)


@settings(max_examples=100, deadline=None)
@given(limit=st.integers(min_value=1, max_value=5), count=st.integers(min_value=1, max_value=30))
def test_calls_answered_at_once_are_paced_at_exactly_the_limit_per_period(
    limit: int, count: int
) -> None:
    """The limiter waits no longer than it must: the k-th instant call goes at (k // limit)."""
    sim = Simulation(limit)
    for _ in range(count):
        sim.send(0.0, 0.0)
    sim.finish()
    assert [call.acquired - START for call in sim.calls] == [
        float(n // limit) * PERIOD for n in range(count)
    ]


# --- real threads -----------------------------------------------------------------------------


def test_real_threads_never_start_more_than_the_limit_in_any_period() -> None:
    limit, period = 3, 0.2
    limiter = RateLimiter(RateLimits(calls={"tier1": limit}, period_s=period))
    stamps: list[tuple[float, float]] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(3):
                limiter.acquire("tier1")
                sent = time.monotonic()
                time.sleep(0.005)
                answered = time.monotonic()  # before release: inside the counted span
                limiter.release("tier1")
                with lock:
                    stamps.append((sent, answered))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not failures
    assert not any(thread.is_alive() for thread in threads)
    assert len(stamps) == 12
    starts = sorted(sent for sent, _ in stamps)
    for start in starts:
        in_window = [other for other in starts if start - period < other <= start]
        assert len(in_window) <= limit
        live = [(s, a) for s, a in stamps if s <= start < a + period]
        assert len(live) <= limit
    # Twelve starts, at most three per period: the 10th is at least three periods after the 1st.
    assert starts[9] - starts[0] >= 3 * period
    assert limiter.waited_s > 0

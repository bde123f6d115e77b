"""Qlik's 5-minute budgets in the limiter: bursts, the bounded wait for a start, seeding.

Every test runs on a fake clock whose ``sleep`` only records and advances time.
"""

from __future__ import annotations

import pytest

from qlik.errors import NotSentError, SlotUnavailableError
from qlik.limits import (
    QLIK_BUDGETS,
    QLIK_LIMITS,
    START_SLOT_WAIT_S,
    RateLimiter,
    RateLimits,
)
from qlik.tiers import START_TIER
from tests.clocks import START, FakeClock

STARTS = QLIK_LIMITS[START_TIER]


def qlik_limiter(clock: FakeClock, limits: RateLimits | None = None) -> RateLimiter:
    return RateLimiter(limits or RateLimits(), clock=clock, sleep=clock.sleep)


def start(limiter: RateLimiter) -> None:
    """One start answered at once."""
    limiter.acquire(START_TIER)
    limiter.release(START_TIER)


def test_the_start_budget_keeps_a_margin_under_qlik_250_per_5_minutes() -> None:
    assert QLIK_BUDGETS[START_TIER] == 250
    assert STARTS == 240
    assert RateLimits().period_s == 300.0
    assert START_SLOT_WAIT_S == 60.0
    assert dict(RateLimits().slot_wait_s) == {START_TIER: 60.0}


def test_a_burst_of_200_starts_goes_through_without_waiting() -> None:
    clock = FakeClock(max_sleeps=0)
    limiter = qlik_limiter(clock)
    for _ in range(200):
        start(limiter)
    assert clock.now == START
    assert limiter.waited_s == 0.0


def test_5000_reads_go_at_once_and_the_next_waits_out_the_window() -> None:
    clock = FakeClock()
    limiter = qlik_limiter(clock)
    for _ in range(5000):
        limiter.acquire("tier1")
        limiter.release("tier1")
    assert clock.sleeps == []
    limiter.acquire("tier1")  # reads wait as long as it takes: 300 s here
    assert clock.sleeps == [300.0]


def spend_the_budget(clock: FakeClock, limiter: RateLimiter, then: float) -> None:
    """240 starts at START, then the clock moves on by ``then`` seconds."""
    for _ in range(STARTS):
        start(limiter)
    clock.now += then


def test_the_241st_start_is_refused_at_once_when_its_slot_is_over_60_s_away() -> None:
    clock = FakeClock()
    limiter = qlik_limiter(clock)
    spend_the_budget(clock, limiter, then=100.0)  # the first slot frees at START + 300
    with pytest.raises(SlotUnavailableError, match="no reload-start slot within 60 s") as caught:
        limiter.acquire(START_TIER)
    assert isinstance(caught.value, NotSentError)
    assert caught.value.wait_s == 200.0
    assert clock.sleeps == []
    assert limiter.waited_s == 0.0
    # Nothing was counted: once the window moved on, the budget is whole again.
    clock.now = START + 300.0
    for _ in range(STARTS):
        start(limiter)
    assert clock.sleeps == []


@pytest.mark.parametrize("then", [250.0, 240.0])  # 50 s and exactly 60 s from a slot
def test_the_241st_start_waits_when_its_slot_is_at_most_60_s_away(then: float) -> None:
    clock = FakeClock()
    limiter = qlik_limiter(clock)
    spend_the_budget(clock, limiter, then=then)
    limiter.acquire(START_TIER)
    assert clock.sleeps == [300.0 - then]
    assert clock.now == START + 300.0


def test_the_60_s_count_from_the_first_ask_not_from_each_try() -> None:
    """Another thread takes the slot this start waited for: the next one is too late."""
    clock = FakeClock()
    limiter = qlik_limiter(clock, RateLimits(calls={START_TIER: 2}))
    start(limiter)  # answered at 1000: counts until 1300
    clock.now += 30.0
    start(limiter)  # answered at 1030: counts until 1330
    clock.now = START + 250.0  # give up at 1310

    def another_thread_takes_the_freed_slot(sleeps: int) -> None:
        clock.now += 50.0
        limiter.acquire(START_TIER)
        clock.now -= 50.0

    clock.during_sleep = another_thread_takes_the_freed_slot
    with pytest.raises(SlotUnavailableError):
        limiter.acquire(START_TIER)
    assert clock.sleeps == [50.0]


def test_a_start_whose_slots_are_all_in_flight_gives_up_at_once() -> None:
    """An answer not yet arrived counts a whole period after it: at least 300 s away."""
    clock = FakeClock()
    limiter = qlik_limiter(clock, RateLimits(calls={START_TIER: 1}))
    limiter.acquire(START_TIER)
    with pytest.raises(SlotUnavailableError):
        limiter.acquire(START_TIER)
    assert clock.sleeps == []


def test_on_a_scaled_clock_the_slot_wait_scales_too() -> None:
    limits = RateLimits().scaled(0.25)
    assert (limits.period_s, limits.slot_wait_s[START_TIER]) == (75.0, 15.0)
    assert limits.calls == RateLimits().calls
    clock = FakeClock()
    limiter = qlik_limiter(clock, limits)
    spend_the_budget(clock, limiter, then=50.0)
    with pytest.raises(SlotUnavailableError):
        limiter.acquire(START_TIER)  # 25 s away, more than the scaled 15 s
    clock.now += 15.0
    limiter.acquire(START_TIER)
    assert clock.sleeps == [10.0]


# --- seeding: the budget spans processes ------------------------------------------------------


def test_a_second_process_seeded_with_the_first_ones_starts_respects_them() -> None:
    first_clock = FakeClock()
    first = qlik_limiter(first_clock)
    for _ in range(200):
        start(first)
    # A second process, 100 s later, seeded from the ledger: its starts are 100 s old.
    clock = FakeClock(now=START + 100.0)
    second = qlik_limiter(clock)
    second.seed(START_TIER, [100.0] * 200)
    for _ in range(STARTS - 200):
        start(second)
    assert clock.sleeps == []
    with pytest.raises(SlotUnavailableError):
        second.acquire(START_TIER)  # the next slot frees 200 s from now
    clock.now = START + 250.0
    second.acquire(START_TIER)
    assert clock.sleeps == [50.0]


def test_without_seeding_the_second_process_would_start_a_whole_budget_more() -> None:
    clock = FakeClock(now=START + 100.0)
    second = qlik_limiter(clock)
    for _ in range(STARTS):
        start(second)
    # With the first process's 200, 440 starts in 100 s: the 429s seeding prevents.
    assert clock.sleeps == []


def test_seeding_again_with_this_process_own_starts_counts_none_twice() -> None:
    """A long-running process seeds before every sweep from a ledger that holds its own starts."""
    clock = FakeClock()
    limiter = qlik_limiter(clock)
    for _ in range(100):
        start(limiter)
    clock.now += 10.0
    limiter.seed(START_TIER, [10.0] * 100)  # the ledger: the same 100 starts
    limiter.seed(START_TIER, [10.0] * 100 + [5.0] * 20)  # again, and 20 of another process
    for _ in range(STARTS - 120):
        start(limiter)
    assert clock.sleeps == []
    with pytest.raises(SlotUnavailableError):
        limiter.acquire(START_TIER)


def test_a_seed_over_the_budget_waits_until_enough_calls_leave() -> None:
    clock = FakeClock()
    limiter = qlik_limiter(clock, RateLimits(calls={"tier1": 3}, period_s=10.0))
    limiter.seed("tier1", [9.0, 8.0, 7.0, 6.0, 5.0])  # five in the window, three allowed
    limiter.acquire("tier1")
    assert clock.sleeps == [3.0]  # the third oldest leaves at 1003: two remain


def test_a_start_over_a_seeded_surplus_knows_at_once_it_would_wait_too_long() -> None:
    """Two of three seeded starts must leave, not one: the second leaves 100 s from now."""
    clock = FakeClock()
    limiter = qlik_limiter(clock, RateLimits(calls={START_TIER: 2}))
    limiter.seed(START_TIER, [250.0, 200.0, 100.0])  # they leave in 50, 100 and 200 s
    with pytest.raises(SlotUnavailableError) as caught:
        limiter.acquire(START_TIER)
    assert caught.value.wait_s == 100.0
    assert clock.sleeps == []


def test_seeding_ignores_what_cannot_count() -> None:
    clock = FakeClock()
    limiter = qlik_limiter(clock, RateLimits(calls={START_TIER: 2}))
    limiter.seed(START_TIER, [300.0, 1000.0, float("nan"), float("inf")])  # out of the window
    limiter.seed("audits", [1.0])  # a tier without a limit here
    start(limiter)
    start(limiter)
    assert clock.sleeps == []


def test_a_negative_age_counts_as_now() -> None:
    clock = FakeClock()
    limiter = qlik_limiter(clock, RateLimits(calls={"tier1": 1}, period_s=10.0))
    limiter.seed("tier1", [-5.0])  # another machine's clock runs ahead
    limiter.acquire("tier1")
    assert clock.sleeps == [10.0]

"""Rate limits per user and tier (with a fake clock), fault rules and seeded random faults."""

from __future__ import annotations

import pytest

from simulator.faults import Fault, Faults, RateLimiter
from simulator.scenario import FaultRule, FaultSpec
from tests.clocks import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def limiter(clock: FakeClock, tier1: int = 3, tier2: int = 2, window: float = 60.0) -> RateLimiter:
    return RateLimiter({"tier1": tier1, "tier2": tier2}, window, clock=clock)


def test_limit_calls_pass_then_retry_after(clock: FakeClock) -> None:
    limits = limiter(clock)
    assert [limits.retry_after("u", "tier1") for _ in range(3)] == [None, None, None]
    wait = limits.retry_after("u", "tier1")
    assert isinstance(wait, int)
    assert wait == 60


def test_retry_after_is_whole_seconds_and_at_least_one(clock: FakeClock) -> None:
    limits = limiter(clock)
    for _ in range(3):
        assert limits.retry_after("u", "tier1") is None
    clock.now += 59.6
    wait = limits.retry_after("u", "tier1")
    assert wait == 1 and isinstance(wait, int)
    clock.now += 0.39
    assert limits.retry_after("u", "tier1") == 1


def test_retry_after_rounds_up(clock: FakeClock) -> None:
    limits = limiter(clock)
    for _ in range(3):
        assert limits.retry_after("u", "tier1") is None
    clock.now += 10.2
    assert limits.retry_after("u", "tier1") == 50  # 49.8 s left, rounded up


def test_whole_tier_blocked_until_retry_after(clock: FakeClock) -> None:
    limits = limiter(clock, tier1=3)
    start = clock.now
    for offset in (0.0, 30.0, 31.0):
        clock.now = start + offset
        assert limits.retry_after("u", "tier1") is None
    clock.now = start + 40.0
    wait = limits.retry_after("u", "tier1")
    assert wait == 20
    unblocked = clock.now + wait
    # Every attempt while blocked is refused, and none of them extends or shortens the block.
    while clock.now < unblocked - 0.5:
        clock.now += 0.5
        remaining = limits.retry_after("u", "tier1")
        assert remaining is not None
        assert clock.now + remaining >= unblocked
    clock.now = unblocked
    assert limits.retry_after("u", "tier1") is None


def test_blocked_attempts_are_not_counted(clock: FakeClock) -> None:
    limits = limiter(clock, tier1=3)
    start = clock.now
    for offset in (0.0, 1.0, 2.0):
        clock.now = start + offset
        assert limits.retry_after("u", "tier1") is None
    for step in range(50):
        clock.now = start + 10 + step
        assert limits.retry_after("u", "tier1") is not None
    # Only the call at 0 has aged out: exactly one call passes, then the tier blocks again.
    clock.now = start + 60.5
    assert limits.retry_after("u", "tier1") is None
    clock.now = start + 60.6
    assert limits.retry_after("u", "tier1") == 1


def test_calls_age_out_of_the_window(clock: FakeClock) -> None:
    limits = limiter(clock, tier1=2, window=10.0)
    for _ in range(20):
        assert limits.retry_after("u", "tier1") is None
        clock.now += 5.0  # two calls per 10 s window, never more


def test_tiers_are_independent(clock: FakeClock) -> None:
    limits = limiter(clock, tier1=1, tier2=1)
    assert limits.retry_after("u", "tier1") is None
    assert limits.retry_after("u", "tier1") is not None
    assert limits.retry_after("u", "tier2") is None
    assert limits.retry_after("u", "tier2") is not None


def test_users_are_independent(clock: FakeClock) -> None:
    limits = limiter(clock, tier1=1)
    assert limits.retry_after("alice", "tier1") is None
    assert limits.retry_after("alice", "tier1") is not None
    assert limits.retry_after("bob", "tier1") is None
    assert limits.retry_after("alice", "tier1") is not None


def test_scaled_window_for_fast_tests(clock: FakeClock) -> None:
    limits = limiter(clock, tier1=1, window=0.5)
    assert limits.retry_after("u", "tier1") is None
    assert limits.retry_after("u", "tier1") == 1  # never 0, even for sub-second windows
    clock.now += 0.5
    assert limits.retry_after("u", "tier1") is None


# --- Faults ---------------------------------------------------------------------------------


def test_rule_counts_down() -> None:
    faults = Faults(FaultSpec(rules=[FaultRule(path="/api/v1/audits", status=500, count=2)]))
    assert faults.pick("GET", "/api/v1/audits") == Fault(status=500)
    assert faults.pick("GET", "/api/v1/audits") == Fault(status=500)
    assert faults.pick("GET", "/api/v1/audits") is None
    assert faults.injected == {"drop": 0, "status": 2, "rate_limited": 0, "after": 0}


def test_rule_matches_method_and_path_prefix() -> None:
    rule = FaultRule(path="/api/v1/reloads", method="POST", status=503, count=5)
    faults = Faults(FaultSpec(rules=[rule]))
    assert faults.pick("GET", "/api/v1/reloads") is None
    assert faults.pick("POST", "/api/v1/items") is None
    assert faults.pick("POST", "/api/v1/reloads") == Fault(status=503)
    assert faults.pick("POST", "/api/v1/reloads/abc/actions/cancel") == Fault(status=503)
    assert faults.injected["status"] == 2


def test_rule_without_method_matches_any_method() -> None:
    faults = Faults(FaultSpec(rules=[FaultRule(path="/oauth", count=2)]))
    assert faults.pick("GET", "/oauth/authorize") is not None
    assert faults.pick("POST", "/oauth/token") is not None
    assert faults.pick("POST", "/oauth/token") is None


def test_drop_rule_and_retry_after() -> None:
    rules = [
        FaultRule(path="/api/v1/items", drop=True),
        FaultRule(path="/api/v1/audits", status=429, retry_after=7),
    ]
    faults = Faults(FaultSpec(rules=rules))
    assert faults.pick("GET", "/api/v1/items") == Fault(drop=True)
    assert faults.pick("GET", "/api/v1/audits") == Fault(status=429, retry_after=7)
    assert faults.injected == {"drop": 1, "status": 0, "rate_limited": 1, "after": 0}


def test_rules_in_the_spec_are_not_consumed() -> None:
    spec = FaultSpec(rules=[FaultRule(path="/api", count=1)])
    first, second = Faults(spec), Faults(spec)
    assert first.pick("GET", "/api/v1/items") is not None
    assert second.pick("GET", "/api/v1/items") is not None
    assert spec.rules[0].count == 1


def test_add_rule_while_serving() -> None:
    faults = Faults(FaultSpec())
    assert faults.pick("GET", "/api/v1/audits") is None
    faults.add_rule(FaultRule(path="/api/v1/audits", status=502))
    assert faults.pick("GET", "/api/v1/audits") == Fault(status=502)
    assert faults.pick("GET", "/api/v1/audits") is None


def test_no_rates_no_faults() -> None:
    faults = Faults(FaultSpec())
    assert all(faults.pick("GET", "/api/v1/audits") is None for _ in range(500))
    assert faults.injected == {"drop": 0, "status": 0, "rate_limited": 0, "after": 0}


def picks(spec: FaultSpec, count: int = 400) -> list[Fault | None]:
    faults = Faults(spec)
    return [faults.pick("GET", "/api/v1/audits") for _ in range(count)]


def test_random_faults_are_reproducible_with_the_same_seed() -> None:
    spec = FaultSpec(error_rate=0.3, drop_rate=0.2, seed=42)
    assert picks(spec) == picks(spec)
    assert picks(spec) != picks(FaultSpec(error_rate=0.3, drop_rate=0.2, seed=43))


def test_random_fault_rates_and_statuses() -> None:
    spec = FaultSpec(error_rate=0.3, drop_rate=0.2, seed=7)
    faults = Faults(spec)
    results = [faults.pick("GET", "/api/v1/audits") for _ in range(2000)]
    drops = sum(1 for f in results if f is not None and f.drop)
    errors = [f.status for f in results if f is not None and not f.drop]
    assert 0.15 < drops / 2000 < 0.25
    assert 0.25 < len(errors) / 2000 < 0.35
    assert set(errors) == {500, 502, 503}
    assert faults.injected == {
        "drop": drops,
        "status": len(errors),
        "rate_limited": 0,
        "after": 0,
    }


def test_error_rate_one_always_fails() -> None:
    results = picks(FaultSpec(error_rate=1.0))
    assert all(f is not None and not f.drop and f.status >= 500 for f in results)


def test_rules_win_over_chance() -> None:
    faults = Faults(FaultSpec(drop_rate=1.0, rules=[FaultRule(path="/api", status=500)]))
    assert faults.pick("GET", "/api/v1/items") == Fault(status=500)
    assert faults.pick("GET", "/api/v1/items") == Fault(drop=True)


def test_latency() -> None:
    assert Faults(FaultSpec(latency_ms=250)).latency_s() == 0.25
    assert Faults(FaultSpec()).latency_s() == 0.0


# --- faults after the tenant acted ----------------------------------------------------------


def test_after_rule_gives_an_after_fault_and_counts_it() -> None:
    rules = [FaultRule(path="/api/v1/reloads", method="POST", after=True, drop=True, count=2)]
    faults = Faults(FaultSpec(rules=rules))
    assert faults.pick("POST", "/api/v1/reloads") == Fault(drop=True, after=True)
    assert faults.pick("POST", "/api/v1/reloads") == Fault(drop=True, after=True)
    assert faults.pick("POST", "/api/v1/reloads") is None
    assert faults.injected == {"drop": 2, "status": 0, "rate_limited": 0, "after": 2}


def test_labelled_rule_is_counted_under_its_label() -> None:
    rule = FaultRule(path="/api/v1/reloads", method="GET", count=3, label="settling")
    faults = Faults(FaultSpec(rules=[rule]))
    for _ in range(5):
        faults.pick("GET", "/api/v1/reloads")
    assert faults.injected["settling"] == 3
    assert faults.injected["status"] == 3


def test_after_share_sends_that_share_of_random_faults_after_acting() -> None:
    faults = Faults(FaultSpec(error_rate=0.5, drop_rate=0.2, after_share=0.5, seed=3))
    found = [f for f in (faults.pick("POST", "/api/v1/reloads") for _ in range(2000)) if f]
    after = sum(f.after for f in found)
    assert 0.4 < after / len(found) < 0.6
    assert faults.injected["after"] == after


def test_without_after_share_the_random_sequence_is_unchanged() -> None:
    # Seeds of existing scenarios and soak runs keep giving the same faults.
    plain = FaultSpec(error_rate=0.3, drop_rate=0.2, seed=42)
    assert picks(plain) == picks(plain.model_copy(update={"after_share": 0.0}))
    assert not any(f is not None and f.after for f in picks(plain))

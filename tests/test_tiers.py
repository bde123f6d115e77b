"""A 429 with Retry-After blocks the whole rate-limit tier; other tiers carry on."""

from __future__ import annotations

import httpx
import pytest
import respx
from pydantic import SecretStr

from qlik.client import connect
from qlik.errors import RateLimitedError
from qlik.tiers import TierGate, tier_of
from tests.clocks import FakeClock
from tests.fake_tenant import TENANT, app_id


@pytest.mark.parametrize(
    ("method", "endpoint", "tier"),
    [
        ("GET", "/api/v1/audits", "audits"),
        ("POST", "/api/v1/reloads", "reload_start"),
        ("GET", "/api/v1/reloads", "tier1"),
        ("GET", "/api/v1/items", "tier1"),
        ("POST", "/api/v1/spaces/{spaceId}/assignments", "tier2"),
    ],
)
def test_tier_of(method: str, endpoint: str, tier: str) -> None:
    assert tier_of(method, endpoint) == tier


def test_a_blocked_tier_waits_out_the_rest_of_its_block_once() -> None:
    clock = FakeClock()
    gate = TierGate(clock=clock, sleep=clock.sleep)
    gate.block("tier1", 5)
    clock.now += 2
    gate.wait("tier1")
    gate.wait("tier1")
    gate.wait("audits")
    assert clock.sleeps == [3.0]


def test_a_block_longer_than_a_minute_is_left_for_the_next_sweep() -> None:
    clock = FakeClock()
    gate = TierGate(clock=clock, sleep=clock.sleep)
    gate.block("reload_start", 300)
    with pytest.raises(RateLimitedError):
        gate.wait("reload_start")
    assert clock.sleeps == []


def test_a_429_on_one_read_pauses_the_next_read_of_its_tier_but_not_audits() -> None:
    clock = FakeClock()
    options = {"sleep": clock.sleep, "retries": 0, "gate": TierGate(clock, clock.sleep)}
    with respx.mock(base_url=TENANT, assert_all_called=True) as router:
        empty = httpx.Response(200, json={"data": [], "links": {}})
        router.get("/api/v1/items").respond(429, headers={"Retry-After": "4"})
        router.get("/api/v1/audits").mock(return_value=empty)
        router.get("/api/v1/reloads").mock(return_value=empty)
        client = connect(TENANT, SecretStr("key"), sender_options=options)
        with pytest.raises(RateLimitedError):
            client.items([app_id(1)])
        list(client.audit_event_pages("t", *_window()))  # the audits tier: no wait
        assert clock.sleeps == []
        assert client.latest_reload(app_id(1)) is None  # tier 1: waits out the block first
        assert clock.sleeps == [4.0]


def test_a_pending_reload_429_blocks_nothing() -> None:
    sleeps: list[float] = []
    with respx.mock(base_url=TENANT, assert_all_called=True) as router:
        router.post("/api/v1/reloads").respond(429, json={"errors": [{"code": "RELOADS-010"}]})
        client = connect(TENANT, SecretStr("key"), sender_options={"sleep": sleeps.append})
        assert client.start_reload(app_id(1)).kind == "pending"
        assert client.start_reload(app_id(2)).kind == "pending"
    assert sleeps == []


def _window():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 11, 22, 9, tzinfo=UTC), datetime(2026, 11, 22, 10, tzinfo=UTC)

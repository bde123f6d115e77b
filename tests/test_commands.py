"""The runtime builds the client from the settings: its concurrency and rate limits."""

from __future__ import annotations

from pathlib import Path

from qlik.limits import QLIK_LIMITS, RateLimits
from scheduler.runtime import Runtime
from scheduler.settings import Settings
from tests.fake_tenant import TENANT


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(tenant_url=TENANT, api_key="key", database=tmp_path / "s.db", **values)


def test_the_client_makes_max_concurrency_calls_at_once(tmp_path: Path) -> None:
    with Runtime(settings_for(tmp_path, max_concurrency=3)) as runtime:
        ctx = runtime.sweep_context(runtime.database())
        assert ctx.client.max_concurrency == 3


def test_the_default_is_four_calls_at_once_under_qlik_limits(tmp_path: Path) -> None:
    with Runtime(settings_for(tmp_path)) as runtime:
        ctx = runtime.sweep_context(runtime.database())
        assert ctx.client.max_concurrency == 4
        assert ctx.client.rate_limits == RateLimits()
        assert dict(ctx.client.rate_limits.calls) == dict(QLIK_LIMITS)


def test_the_benchmark_can_scale_the_limits(tmp_path: Path) -> None:
    scaled = RateLimits(period_s=1.0)
    with Runtime(settings_for(tmp_path), rate_limits=scaled) as runtime:
        ctx = runtime.sweep_context(runtime.database())
        assert ctx.client.rate_limits.period_s == 1.0


def test_the_store_prunes_with_the_settings_retention(tmp_path: Path) -> None:
    with Runtime(settings_for(tmp_path, retention_days=30)) as runtime:
        ctx = runtime.sweep_context(runtime.database())
        assert (ctx.store.retention.days, ctx.store.retention.longest_join_minutes) == (30, 0)

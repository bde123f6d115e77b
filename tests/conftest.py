"""Shared fixtures: a clean environment for every test, and a fake tenant behind respx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import respx

from scheduler.settings import CONFIG_ENV, ENVIRONMENT
from tests.fake_tenant import FakeTenant

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's settings, and none finds a reload-chain.toml by accident."""
    for name in [*ENVIRONMENT.values(), CONFIG_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def tenant() -> Iterator[FakeTenant]:
    """A fake tenant answering on its base URL through respx; every route must be used."""
    fake = FakeTenant(now=NOW)
    with respx.mock(base_url=fake.base_url, assert_all_called=False) as router:
        fake.install(router)
        yield fake

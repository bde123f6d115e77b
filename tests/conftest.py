"""Shared fixtures: a clean environment for every test, and a fake tenant behind respx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import respx
from loguru import logger
from pydantic import SecretStr

from jobs.sweep import SweepContext
from qlik.client import QlikClient, connect
from scheduler.settings import CONFIG_ENV, ENVIRONMENT, Settings
from state.database import open_database
from state.store import Store
from tests.fake_tenant import TENANT, FakeTenant

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
def logged() -> Iterator[list[str]]:
    """Everything loguru writes while the test runs, at every level, as ``LEVEL message\\n``."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level=0, format="{level} {message}")
    yield lines
    logger.remove(sink)


@pytest.fixture
def tenant() -> Iterator[FakeTenant]:
    """A fake tenant answering on its base URL through respx; every route must be used."""
    fake = FakeTenant(now=NOW)
    with respx.mock(base_url=fake.base_url, assert_all_called=False) as router:
        fake.install(router)
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the client asked to sleep (nothing really sleeps)."""
    return []


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx at the transport for the fake tenant's URL; every route must be called."""
    with respx.mock(base_url=TENANT, assert_all_called=True) as mock:
        yield mock


@pytest.fixture
def client(router: respx.MockRouter, sleeps: list[float]) -> Iterator[QlikClient]:
    """A real tenant client whose requests go to ``router``."""
    qlik = connect(TENANT, SecretStr("key"), sender_options={"sleep": sleeps.append})
    yield qlik
    qlik.close()


@pytest.fixture
def ctx(tenant: FakeTenant) -> Iterator[SweepContext]:
    """A sweep's context on the fake tenant and an in-memory database, with no real sleeping."""
    settings = Settings(tenant_url=TENANT, api_key="key", database=":memory:")
    db = open_database(":memory:")
    client = connect(TENANT, SecretStr("key"), sender_options={"sleep": lambda _s: None})
    yield SweepContext(client, Store(db), settings)
    client.close()
    db.close()

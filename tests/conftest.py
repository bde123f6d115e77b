"""Shared fixtures: a clean environment for every test, log capture, a fake tenant behind respx."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import keyring
import keyring.backends.null
import pytest
import respx
from loguru import logger
from pydantic import SecretStr

from jobs.sweep import SweepContext
from qlik.client import QlikClient, connect
from scheduler.logs import QUIET_LIBRARIES
from scheduler.settings import CONFIG_ENV, ENVIRONMENT, Settings
from tests.fake_tenant import TENANT, FakeTenant
from tests.sweeping import NO_SLEEP, sweep_context

if TYPE_CHECKING:
    from loguru import Message, Record

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's settings, and none finds a reload-chain.toml by accident."""
    for name in [*ENVIRONMENT.values(), CONFIG_ENV]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def no_keyring() -> Iterator[None]:
    """No test reads the developer's keychain or Credential Manager (tests set their own)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.null.Keyring())
    yield
    keyring.set_keyring(previous)


LogCapture = Callable[..., list[str]]


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """Collect what loguru writes from the call on: ``log_capture(format, level, filter)``.

    Returns the list its sink fills: each line as ``format`` renders it (newline included, and
    the traceback if any) or, with ``format=None``, each record's bare message. Every sink is
    removed after the test, unless logging setup removed it already.
    """
    sinks: list[int] = []

    def capture(
        format: str | None = "{level} {message}",
        level: int | str = 0,
        filter: str | Callable[[Record], bool] | None = None,
    ) -> list[str]:
        lines: list[str] = []

        def keep(message: Message) -> None:
            lines.append(message.record["message"] if format is None else str(message))

        sinks.append(logger.add(keep, level=level, format=format or "{message}", filter=filter))
        return lines

    yield capture
    for sink in sinks:
        with suppress(ValueError):
            logger.remove(sink)


@pytest.fixture
def logged(log_capture: LogCapture) -> list[str]:
    """Everything loguru writes while the test runs, at every level, as ``LEVEL message\\n``."""
    return log_capture()


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    """Logging setup (``main()``, ``configure_logging``) replaces loguru's sinks and the stdlib
    root logger's handlers and levels: put them all back afterwards, for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    logger.remove()
    logger.add(sys.stderr)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, library_level in libraries.items():
        logging.getLogger(name).setLevel(library_level)


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
    with sweep_context(settings, sender_options=NO_SLEEP) as context:
        yield context

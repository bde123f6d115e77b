"""What a sweep works with: its settings, and the context the process builds once for it."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from jobs.alerts import Alerting
from jobs.chainfile import ChainFile
from jobs.deadline_config import Deadline
from jobs.facts import FactSettings
from jobs.progress import NoProgress, ReadProgress
from jobs.window import WindowSettings
from qlik.client import QlikClient
from qlik.clock import SYSTEM_CLOCK, Clock
from state.store import Store
from state.watermark import Watermark


class SweepSettings(FactSettings, WindowSettings, Protocol):
    """The settings a sweep reads."""

    @property
    def event_type(self) -> str: ...

    @property
    def auto_resolve_access(self) -> bool: ...

    @property
    def http_timeout_seconds(self) -> float: ...

    @property
    def max_sweep_minutes(self) -> float: ...

    @property
    def native_tasks_refresh_minutes(self) -> int: ...


@dataclass(frozen=True)
class SweepContext:
    """What a sweep works with, built once by the process and passed down."""

    client: QlikClient
    store: Store
    settings: SweepSettings
    chain: ChainFile = field(default_factory=ChainFile)
    progress: ReadProgress = field(default_factory=NoProgress)
    # Beside a database file: the highest cursor it ever committed (None in memory).
    watermark: Watermark | None = None
    # Times the sweep's duration and phases; ``now`` itself is handed to ``run_sweep``.
    clock: Clock = SYSTEM_CLOCK
    # The alert routes; and what runs once a sweep committed (the runtime sends the alerts).
    alerting: Alerting = field(default_factory=Alerting)
    after_commit: Callable[[], None] | None = None
    # The apps that must have reloaded by a time of day (``late`` alerts, ``status``).
    deadlines: tuple[Deadline, ...] = ()


def new_sweep_id(now: datetime) -> str:
    """A sortable, unique sweep id such as ``20261122T101500Z-3fa9``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"

"""The runtime: what every command works with, built once in ``main()`` and closed there.

It holds the settings, the chains and alerts of the settings file, the file they came from and
the clock,
and it opens the tenant client and the state database on first use and closes them, whatever
happens, when ``main()`` leaves its ``with`` block. No command builds a client or opens a
database of its own, so every one of them gets the same timeouts, concurrency, rate limits,
scrubbing and clock.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sqlite_utils import Database

from jobs.alerts import Alerting
from jobs.chainfile import ChainFile
from jobs.deadline_config import Deadline
from jobs.reconcile import in_flight_window
from jobs.sweep import SweepContext
from qlik.client import QlikClient, connect
from qlik.clock import SYSTEM_CLOCK, Clock
from qlik.limits import RateLimits
from scheduler.alert_config import AlertRoute, alert_secrets
from scheduler.alerting import Notifier
from scheduler.config import LoadedSettings, Origins
from scheduler.metrics import after_sweep
from scheduler.report import report_after_sweep
from scheduler.scrub import Scrubber
from scheduler.settings import Settings
from state.database import check_integrity, open_database, open_existing
from state.retention import RetentionPolicy
from state.store import Store
from state.watermark import Watermark

MEMORY = ":memory:"


@dataclass
class Runtime:
    """Settings, chains, config path and clock; the client and database it opened, to close.

    ``rate_limits`` defaults to Qlik Cloud's; the benchmark passes a time-scaled copy.
    """

    settings: Settings
    chain: ChainFile = field(default_factory=ChainFile)
    config_path: Path | None = None
    clock: Clock = SYSTEM_CLOCK
    rate_limits: RateLimits | None = None
    alerts: tuple[AlertRoute, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    # Where each setting not at its default came from (``scheduler.config.Origins``).
    origins: Origins = field(default_factory=dict)
    _client: QlikClient | None = field(default=None, init=False, repr=False)
    _resources: ExitStack = field(default_factory=ExitStack, init=False, repr=False)

    @classmethod
    def from_loaded(cls, loaded: LoadedSettings, clock: Clock = SYSTEM_CLOCK) -> Runtime:
        """The runtime of what ``scheduler.config.load`` read."""
        return cls(
            loaded.settings,
            loaded.chain,
            loaded.config_path,
            clock,
            alerts=loaded.alerts,
            deadlines=loaded.deadlines,
            origins=loaded.origins,
        )

    def derived(self, settings: Settings, alerts: tuple[AlertRoute, ...] = ()) -> Runtime:
        """A runtime with the same clock for other settings (the demo's simulated tenant)."""
        return Runtime(settings, clock=self.clock, alerts=alerts)

    def client(self) -> QlikClient:
        """The tenant client, built from the settings on first use."""
        if self._client is None:
            tenant_url, credentials = self.settings.require_tenant()
            self._client = connect(
                tenant_url,
                credentials,
                timeout_s=self.settings.http_timeout_seconds,
                max_concurrency=self.settings.max_concurrency,
                rate_limits=self.rate_limits,
                clock=self.clock,
            )
            self._resources.callback(self._client.close)
        return self._client

    def database(
        self, *, new_database: bool = False, in_memory: bool = False, check: bool = False
    ) -> Database:
        """The state database, created and migrated if needed (``in_memory``: a private one).

        ``check`` runs ``PRAGMA quick_check`` first: ``run`` keeps the database open for days,
        so a damaged file is one clear line now, not a crash later.
        """
        where = MEMORY if in_memory else self.settings.database
        db = open_database(where, new_database=new_database)
        self._resources.callback(db.close)
        if check:
            check_integrity(db, str(where))
        return db

    def existing_database(self) -> Database | None:
        """The state database if its file exists (never created), else None."""
        db = open_existing(self.settings.database)
        if db is not None:
            self._resources.callback(db.close)
        return db

    def scrubber(self) -> Scrubber:
        """The scrubber of every output: the settings' secrets and the alert URLs'."""
        return Scrubber.for_settings(self.settings, alert_secrets(self.alerts))

    def sweep_context(self, db: Database) -> SweepContext:
        """What a sweep or a ``start`` works with, on ``db``; its alerts are sent after each
        commit."""
        in_memory = db.conn.execute("pragma database_list").fetchone()[2] == ""
        store = Store(
            db,
            str(self.settings.database),
            self.scrubber().scrub,
            in_flight_s=in_flight_window(self.settings.http_timeout_seconds),
        )
        longest_join = max((join.within_minutes for join in self.chain.joins), default=0)
        store.retention = RetentionPolicy(self.settings.retention_days, longest_join)
        watermark = None if in_memory else Watermark(self.settings.database)
        return SweepContext(
            self.client(),
            store,
            self.settings,
            self.chain,
            watermark=watermark,
            clock=self.clock,
            alerting=Alerting(self.alerts, self.settings.tenant_url or ""),
            after_commit=self._after_commit(store),
            deadlines=self.deadlines,
        )

    def _after_commit(self, store: Store) -> Callable[[], None]:
        """After each commit: the metrics file and the report rewritten, then the pending
        alerts sent.

        None raises: a failure is a WARNING line and never a sweep's exit code.
        """
        notifier = Notifier(self.alerts, store, self.clock)

        def after_commit() -> None:
            after_sweep(store.db, self.settings)
            report_after_sweep(store.db, self)
            notifier.deliver_pending()

        return after_commit

    def close(self) -> None:
        """Close the client and every database opened, the last opened first."""
        self._client = None
        self._resources.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

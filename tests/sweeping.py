"""One sweeper in the test's process: its context opened and closed around the test, and what
its sweeps did. (Several sweepers on one database file: ``tests/sweepers.py``.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jobs.report import SweepReport
from jobs.sweep import SweepContext
from qlik.client import connect
from qlik.times import format_time
from scheduler.settings import Settings
from state.database import open_database
from state.store import Store
from tests.fake_tenant import FakeTenant

# The client's retries do not wait: for a tenant that is not really there (respx).
NO_SLEEP: dict[str, Any] = {"sleep": lambda _s: None}


@contextmanager
def sweep_context(
    settings: Settings, database: Path | str = ":memory:", **client_options: Any
) -> Iterator[SweepContext]:
    """A sweep's context on ``settings``' tenant and ``database``; both are closed at the end.

    ``client_options`` go to ``qlik.client.connect`` (``sender_options=NO_SLEEP`` for a fake
    tenant; none for a simulator over real HTTP, whose waits are real).
    """
    url, credentials = settings.require_tenant()
    db = open_database(database)
    client = connect(url, credentials, **client_options)
    try:
        yield SweepContext(client, Store(db), settings)
    finally:
        client.close()
        db.close()


def outcomes(report: SweepReport) -> dict[str, tuple[str, str]]:
    """The sweep's outcomes as successor -> (decision, reason)."""
    return {o.app_id: (o.decision, o.reason) for o in report.outcomes}


def finish_started(tenant: FakeTenant, app: str, ended: datetime | None = None) -> str:
    """The reload this program started for ``app`` succeeds at ``ended`` (default: a minute
    ago) and its audit event is emitted; returns the reload's id."""
    row = next(r for r in reversed(tenant.reloads) if r["appId"] == app)
    assert row["status"] == "QUEUED", "no reload of this app was started"
    end = ended or tenant.now - timedelta(minutes=1)
    row |= {"status": "SUCCEEDED", "startTime": row["creationTime"], "endTime": format_time(end)}
    tenant.events.append(tenant.event(app, row["id"], "ok", end))
    return str(row["id"])

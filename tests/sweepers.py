"""Several sweepers on one database file, as separate processes would be, for the attack tests.

Each context has its own connection and client; ``failing_chain`` and ``fail_active`` make
successors whose reloads fail, so neither the storm guard nor "fresh" can hide a second start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from jobs.sweep import SweepContext
from qlik.client import connect
from scheduler.scrub import Scrubber
from scheduler.settings import Settings
from state.database import open_database
from state.store import LedgerRow, Store
from state.watermark import Watermark
from tests.fake_tenant import TENANT, FakeTenant

Contexts = Callable[..., SweepContext]


@contextmanager
def sweepers(folder: Path, key: str) -> Iterator[Contexts]:
    """A maker of sweep contexts on ``folder``'s databases; all are closed at the end.

    Tolerance 0 and a late check every sweep unless overridden; ``scrub`` scrubs ``key``.
    """
    opened: list[SweepContext] = []

    def make(
        *, new_database: bool = False, name: str = "state.db", scrub: bool = False, **overrides: Any
    ) -> SweepContext:
        options = {"tolerance_minutes": 0, "late_check_minutes": 0} | overrides
        settings = Settings(tenant_url=TENANT, api_key=key, **options)
        path = folder / name
        db = open_database(path, new_database=new_database)
        client = connect(TENANT, SecretStr(key), sender_options={"sleep": lambda _s: None})
        scrubber = Scrubber([key]).scrub if scrub else (lambda text: text)
        ctx = SweepContext(
            client, Store(db, str(path), scrubber), settings, watermark=Watermark(path)
        )
        opened.append(ctx)
        return ctx

    try:
        yield make
    finally:
        for ctx in opened:
            ctx.client.close()
            ctx.store.db.close()


def failing_chain(tenant: FakeTenant, successors: int = 1) -> tuple[str, list[str]]:
    """A source tagged next-B..., finished 5 minutes ago; its successors have never reloaded."""
    targets = [tenant.add_app(10 + n) for n in range(successors)]
    source = tenant.add_app(1, tags=[f"next-{t}" for t in targets])
    tenant.finish(source, at=tenant.now - timedelta(minutes=5))
    return source, targets


def killed_intent(tenant: FakeTenant, source: str, target: str) -> LedgerRow:
    """The intent row a sweep killed around its start of ``target`` leaves behind."""
    return LedgerRow(
        "killed",
        target,
        "pending",
        "intent",
        (source,),
        (tenant.reloads[0]["id"],),
        state="intent",
        source_end=tenant.now - timedelta(minutes=5),
    )


def fail_active(tenant: FakeTenant) -> None:
    """Every queued reload ends FAILED (so the "fresh" rule cannot hide a second start)."""
    for row in tenant.reloads:
        if row["status"] == "QUEUED":
            row["status"] = "FAILED"

"""The commands: each builds what it needs from settings, does its work, and closes it all."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from loguru import logger

from jobs.sweep import SweepContext, run_sweep
from qlik.client import QlikClient, connect
from qlik.errors import QlikError
from qlik.times import format_time, parse_time
from scheduler.clock import utc_now
from scheduler.lock import LockHeldError, sweep_lock
from scheduler.output import print_json, print_sweep, table
from scheduler.runner import build_scheduler, run_until_stopped
from scheduler.settings import Settings, SettingsError
from state.database import StateError, open_database
from state.store import Store


@contextmanager
def sweep_context(settings: Settings) -> Iterator[SweepContext]:
    """Open the database and the tenant client; close both whatever happens."""
    tenant_url, api_key = settings.require_tenant()
    db = open_database(settings.database)
    client: QlikClient | None = None
    try:
        client = connect(tenant_url, api_key)
        yield SweepContext(client, Store(db, str(settings.database)), settings)
    finally:
        if client is not None:
            client.close()
        db.close()


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain sweep``: one sweep, then exit with its code."""
    since = _parse_since(args.since)
    now = utc_now()
    with sweep_context(settings) as ctx:
        if args.dry_run:
            report = run_sweep(ctx, now, since=since, dry_run=True)
        else:
            with sweep_lock(settings.database):
                report = run_sweep(ctx, now, since=since)
    if args.json:
        print_json(report.as_json(), sys.stdout)
    else:
        print_sweep(report, sys.stdout)
    return report.exit_code


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain run``: sweep every ``interval_minutes`` until stopped."""
    with sweep_context(settings) as ctx:

        def sweep_job() -> None:
            try:
                with sweep_lock(settings.database):
                    run_sweep(ctx, utc_now())
            except LockHeldError as error:
                logger.warning("{}", error)
            except (QlikError, StateError) as error:
                logger.error(
                    "sweep failed, next one in {} min: {}", settings.interval_minutes, error
                )

        logger.info("sweeping every {} min; Ctrl+C or SIGTERM stops", settings.interval_minutes)
        run_until_stopped(build_scheduler(sweep_job, settings.interval_minutes, utc_now()))
    logger.info("stopped")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain status``: cursor, last sweeps and recent decisions from the database."""
    db = open_database(settings.database)
    try:
        store = Store(db, str(settings.database))
        position, sweeps, decisions = (
            store.cursor(),
            store.recent_sweeps(),
            store.recent_decisions(),
        )
    finally:
        db.close()
    cursor = format_time(position) if position else None
    if args.json:
        status = {"database": str(settings.database), "cursor": cursor}
        print_json(status | {"sweeps": sweeps, "decisions": decisions}, sys.stdout)
        return 0
    print(f"database {settings.database}\ncursor   {cursor or 'none (no sweep yet)'}\n")
    sweep_rows = [
        (s["sweep_id"], s["events_read"], s["events_new"], s["decisions"], s["exit_code"])
        for s in sweeps
    ]
    print(table(("sweep", "read", "new", "decisions", "exit"), sweep_rows) + "\n")
    decision_rows = [
        (d["updated_at"], d["app_id"], d["decision"], d["reason"], d["reload_id"])
        for d in decisions
    ]
    print(table(("time", "app", "decision", "reason", "reload"), decision_rows))
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain demo``: the simulated tenant arrives with the simulator issue."""
    print(
        "reload-chain demo: the simulated tenant is coming soon; `make test` exercises the sweep."
    )
    return 0


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as error:
        raise SettingsError(f"invalid --since: {error}") from None

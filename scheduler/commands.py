"""The commands: each builds what it needs from settings, does its work, and closes it all."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from loguru import logger
from sqlite_utils import Database

from jobs.chainfile import ChainFile
from jobs.graph import build_graph
from jobs.graph_render import to_dot, to_json, to_mermaid
from jobs.progress import ReadProgress
from jobs.reconcile import in_flight_window
from jobs.report import SweepReport
from jobs.start import HEADERS as START_HEADERS
from jobs.start import invalid_ids, run_start
from jobs.sweep import SweepContext, run_sweep
from qlik.client import connect
from qlik.errors import QlikError
from qlik.limits import RateLimits
from qlik.times import parse_time
from scheduler.clock import utc_now
from scheduler.demo import run_demo
from scheduler.doctor import run_doctor
from scheduler.lock import LockHeldError, sweep_lock
from scheduler.output import print_json, print_sweep, table
from scheduler.progress import progress_for
from scheduler.runner import build_scheduler, run_until_stopped
from scheduler.scrub import Scrubber
from scheduler.settings import Settings, SettingsError
from scheduler.simulate import serve
from scheduler.status import show_status
from scheduler.windows_task import write_task
from state.database import StateError, check_integrity, open_database
from state.store import Store
from state.watermark import Watermark


@contextmanager
def sweep_context(
    settings: Settings,
    db: Database,
    chain: ChainFile | None = None,
    *,
    rate_limits: RateLimits | None = None,
) -> Iterator[SweepContext]:
    """The tenant client and the store on an open database; close both whatever happens.

    ``rate_limits`` defaults to Qlik Cloud's; the benchmark passes a time-scaled copy.
    """
    try:
        tenant_url, credentials = settings.require_tenant()
        client = connect(
            tenant_url,
            credentials,
            timeout_s=settings.http_timeout_seconds,
            max_concurrency=settings.max_concurrency,
            rate_limits=rate_limits,
        )
        try:
            store = Store(
                db,
                str(settings.database),
                Scrubber.for_settings(settings).scrub,
                in_flight_s=in_flight_window(settings.http_timeout_seconds),
            )
            in_memory = db.conn.execute("pragma database_list").fetchone()[2] == ""
            watermark = None if in_memory else Watermark(settings.database)
            yield SweepContext(client, store, settings, chain or ChainFile(), watermark=watermark)
        finally:
            client.close()
    finally:
        db.close()


def open_locked(database: Path, *, new_database: bool = False) -> Database:
    """Open, migrate and check the database under the sweep lock (two first runs cannot collide).

    ``run`` keeps it open for days: a damaged file is one clear line now, not a crash later.
    """
    with sweep_lock(database):
        db = open_database(database, new_database=new_database)
        try:
            check_integrity(db, str(database))
        except StateError:
            db.close()
            raise
        return db


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain sweep``: one sweep, then exit with its code."""
    since = _parse_since(args.since)
    settings.require_tenant()  # before the lock file or database is created
    now = utc_now()
    # stderr: the bar and progress lines never mix with the report on stdout (--json too).
    progress = progress_for(sys.stderr)
    if args.dry_run:
        report = _dry_run(settings, _chain(args), now, since, progress)
    else:
        with (
            sweep_lock(settings.database),
            sweep_context(
                settings,
                open_database(settings.database, new_database=args.new_database),
                _chain(args),
            ) as ctx,
        ):
            report = run_sweep(replace(ctx, progress=progress), now, since=since)
    if args.json:
        print_json(report.as_json(), sys.stdout)
    else:
        print_sweep(report, sys.stdout)
    return report.exit_code


def _dry_run(
    settings: Settings,
    chain: ChainFile,
    now: datetime,
    since: datetime | None,
    progress: ReadProgress,
) -> SweepReport:
    """A dry run reads the database if there is one, and never creates it."""
    where = settings.database if settings.database.exists() else ":memory:"
    with sweep_context(settings, open_database(where), chain) as ctx:
        return run_sweep(replace(ctx, progress=progress), now, since=since, dry_run=True)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain run``: sweep every ``interval_minutes`` until stopped."""
    settings.require_tenant()  # before the lock file or database is created
    db = open_locked(settings.database, new_database=args.new_database)
    with sweep_context(settings, db, _chain(args)) as ctx:

        def sweep_job() -> None:
            try:
                with sweep_lock(settings.database):
                    run_sweep(ctx, utc_now())
            except LockHeldError as error:
                logger.warning("{}", error)
            except (QlikError, StateError) as error:
                logger.error(
                    "sweep failed, next one in {:g} min: {}", settings.interval_minutes, error
                )

        logger.info("sweeping every {:g} min; Ctrl+C or SIGTERM stops", settings.interval_minutes)
        scheduler = build_scheduler(sweep_job, settings.interval_minutes, utc_now())
        # A stop ends the calls of a running sweep within seconds; it is then left safe.
        run_until_stopped(scheduler, on_stop=ctx.client.budget.stop)
    logger.info("stopped")
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain status``: cursor, last sweeps and recent decisions from the database."""
    return show_status(settings.database, sys.stdout, as_json=args.json)


def cmd_schedule_task(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain schedule-task``: a Task Scheduler definition that sweeps every N minutes."""
    return write_task(args, sys.stdout, now=utc_now())


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain demo``: the real sweep against the built-in simulated tenant."""
    return run_demo(sys.stdout)


def cmd_sim(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain sim``: serve the simulated tenant until Ctrl+C or SIGTERM."""
    return serve(args.port, args.scenario, sys.stdout)


def cmd_graph(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain graph``: the tenant's chains from tags and the chain file."""
    client = connect(*settings.require_tenant(), max_concurrency=settings.max_concurrency)
    try:
        graph = build_graph(client, _chain(args), settings.tag_prefix)
    finally:
        client.close()
    if args.format == "json":
        print_json(to_json(graph), sys.stdout)
    else:
        print(to_dot(graph) if args.format == "dot" else to_mermaid(graph))
    return 0


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain doctor``: what is wrong, and what to do about it."""
    return run_doctor(settings, _chain(args), utc_now(), sys.stdout)


def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    """``reload-chain start``: start reloads now, by id or tag, through the sweep's guards."""
    bad = invalid_ids(args.app)
    if bad:
        raise SettingsError(f"--app: not an app GUID or 24-hex script id: {', '.join(bad)}")
    if not args.app and not args.tag:
        raise SettingsError("reload-chain start needs --app ID or --tag NAME")
    settings.require_tenant()  # before the lock file or database is created
    # A dry run reads the database if there is one, never creates it, and takes no lock.
    where = settings.database if settings.database.exists() or not args.dry_run else ":memory:"
    with ExitStack() as stack:
        if not args.dry_run:
            stack.enter_context(sweep_lock(settings.database))
        ctx = stack.enter_context(sweep_context(settings, open_database(where)))
        report = run_start(ctx, args.app, args.tag, utc_now(), dry_run=args.dry_run)
    if args.json:
        print_json(report.as_json(), sys.stdout)
    else:
        print(table(START_HEADERS, report.rows()) + "\n" + report.summary())
    return report.exit_code


def _chain(args: argparse.Namespace) -> ChainFile:
    """The chains ``main`` read from the settings file (none when called otherwise)."""
    chain = getattr(args, "chain", None)
    return chain if isinstance(chain, ChainFile) else ChainFile()


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as error:
        raise SettingsError(f"invalid --since: {error}") from None

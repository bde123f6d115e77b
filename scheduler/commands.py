"""The commands: each does its work with the runtime ``main()`` built, and builds nothing itself."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime

from loguru import logger

from jobs.deadline_sweep import deadline_states
from jobs.graph import build_graph
from jobs.graph_native import NOT_LISTED
from jobs.graph_render import to_dot, to_json, to_mermaid
from jobs.graph_svg import to_svg
from jobs.graph_text import to_text
from jobs.progress import ReadProgress
from jobs.report import SweepReport
from jobs.start import HEADERS as START_HEADERS
from jobs.start import StartReport, invalid_ids, run_start
from jobs.sweep import run_sweep
from qlik.errors import QlikError, ReloadChainError
from qlik.times import format_time, parse_time
from scheduler.demo import run_demo
from scheduler.doctor import run_doctor
from scheduler.lock import LockHeldError, sweep_lock
from scheduler.output import print_json, print_sweep, table
from scheduler.progress import progress_for
from scheduler.runner import Interrupted, build_scheduler, interruptible, run_until_stopped
from scheduler.runtime import Runtime
from scheduler.settings import SettingsError
from scheduler.simulate import serve
from scheduler.status import show_status
from scheduler.windows_task import write_task
from state.backup import backup_database
from state.database import StateError
from state.history import history_of


def cmd_sweep(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain sweep``: one sweep, then exit with its code."""
    now = runtime.clock.now()
    since = _parse_since(args.since, now)
    settings = runtime.settings
    settings.require_tenant()  # before the lock file or database is created
    # stderr: the bar and progress lines never mix with the report on stdout (--json too).
    progress = progress_for(sys.stderr, runtime.clock.monotonic)
    with interruptible(runtime.client().budget.stop) as interrupted:
        try:
            if args.dry_run:
                report = _dry_run(runtime, now, since, progress)
            else:
                with sweep_lock(settings.database):
                    db = runtime.database(new_database=args.new_database)
                    ctx = replace(runtime.sweep_context(db), progress=progress)
                    report = run_sweep(ctx, now, since=since)
        except ReloadChainError:
            if interrupted.signal_name is None:
                raise
            return _stopped(interrupted, "the sweep stopped before its commit; nothing changed")
    if args.json:
        print_json(report.as_json(), sys.stdout)
    else:
        print_sweep(report, sys.stdout, report.app_names)
    if interrupted.signal_name is not None:
        return _stopped(interrupted, _committed(report, "sweep", args.dry_run))
    return report.exit_code


def _committed(report: SweepReport | StartReport, what: str, dry_run: bool) -> str:
    """What a command stopped by a signal leaves behind, in a few words."""
    if dry_run:
        return f"the {what} (a dry run) stopped early; nothing is ever committed by a dry run"
    decided = len(report.outcomes)
    return (
        f"the {what} stopped early and committed what it did ({decided} decisions); "
        "what it did not reach is done by the next sweep"
    )


def _stopped(interrupted: Interrupted, what: str) -> int:
    logger.warning("{} received: {}", interrupted.signal_name, what)
    return interrupted.exit_code


def _dry_run(
    runtime: Runtime, now: datetime, since: datetime | None, progress: ReadProgress
) -> SweepReport:
    """A dry run reads the database if there is one, and never creates it."""
    db = runtime.database(in_memory=not runtime.settings.database.exists())
    ctx = replace(runtime.sweep_context(db), progress=progress)
    return run_sweep(ctx, now, since=since, dry_run=True)


def cmd_run(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain run``: sweep every ``interval_minutes`` until stopped."""
    settings = runtime.settings
    settings.require_tenant()  # before the lock file or database is created
    # Under the lock: two first runs cannot both create and migrate the database.
    with sweep_lock(settings.database):
        db = runtime.database(new_database=args.new_database, check=True)
    ctx = runtime.sweep_context(db)

    def sweep_job() -> None:
        try:
            with sweep_lock(settings.database):
                run_sweep(ctx, runtime.clock.now())
        except LockHeldError as error:
            logger.warning("{}", error)
        except (QlikError, StateError) as error:
            if error.logged:  # the sweep said what went wrong
                logger.info("next sweep in {:g} min", settings.interval_minutes)
            else:
                logger.error(
                    "sweep failed, next one in {:g} min: {}", settings.interval_minutes, error
                )

    logger.info("sweeping every {:g} min; Ctrl+C or SIGTERM stops", settings.interval_minutes)
    scheduler = build_scheduler(sweep_job, settings.interval_minutes, runtime.clock.now())
    # A stop ends the calls of a running sweep within seconds; it is then left safe.
    run_until_stopped(scheduler, on_stop=ctx.client.budget.stop)
    logger.info("stopped")
    return 0


def cmd_status(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain status``: cursor, last sweeps and recent decisions from the database."""
    # A database that does not exist yet is not created: status then says "no sweep yet".
    db, where = runtime.existing_database(), str(runtime.settings.database)
    history = history_of(db, where)
    history.deadlines = deadline_states(db, where, runtime.deadlines, runtime.clock.now())
    return show_status(history, sys.stdout, as_json=args.json)


def cmd_schedule_task(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain schedule-task``: sweeps every N minutes by Task Scheduler, systemd or cron."""
    from scheduler.linux_task import chosen_format, write_linux_task
    from scheduler.windows_task import DEFAULT_NAME

    chosen = chosen_format(args)
    if chosen != "windows":
        return write_linux_task(chosen, args, sys.stdout, config=runtime.config_path)
    if args.name is None:
        args.name = DEFAULT_NAME
    return write_task(args, sys.stdout, now=runtime.clock.now(), config=runtime.config_path)


def cmd_demo(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain demo``: the real sweep against the built-in simulated tenant."""
    return run_demo(runtime, sys.stdout)


def cmd_sim(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain sim``: serve the simulated tenant until Ctrl+C or SIGTERM."""
    return serve(args.port, args.scenario, sys.stdout)


def cmd_graph(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain graph``: the tenant's chains from tags, the chain file and its native
    tasks; when it may not list those, one line on stderr says so (stdout stays the graph)."""
    graph = build_graph(runtime.client(), runtime.chain, runtime.settings.tag_prefix, native=True)
    if graph.native.refused:
        print(NOT_LISTED, file=sys.stderr)
    if args.format == "json":
        print_json(to_json(graph), sys.stdout)
        return 0
    renderers = {"dot": to_dot, "mermaid": to_mermaid, "text": to_text, "svg": to_svg}
    print(renderers[args.format](graph))
    return 0


def cmd_secrets(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain secrets set|delete NAME``: the OS keyring's entry of this tenant."""
    from scheduler.secrets import run_secrets

    return run_secrets(
        args.action, args.name, runtime.settings, runtime.origins, stdin=sys.stdin, out=sys.stdout
    )


def cmd_doctor(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain doctor``: what is wrong, and what to do about it."""
    return run_doctor(runtime, sys.stdout)


def cmd_start(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain start``: start reloads now, by id or tag, through the sweep's guards."""
    bad = invalid_ids(args.app)
    if bad:
        raise SettingsError(f"--app: not an app GUID or 24-hex script id: {', '.join(bad)}")
    if not args.app and not args.tag:
        raise SettingsError("reload-chain start needs --app ID or --tag NAME")
    settings = runtime.settings
    settings.require_tenant()  # before the lock file or database is created
    now = runtime.clock.now()
    with interruptible(runtime.client().budget.stop) as interrupted:
        try:
            report = _start(args, runtime, now)
        except ReloadChainError:
            if interrupted.signal_name is None:
                raise
            return _stopped(interrupted, "start stopped before it recorded anything")
    if args.json:
        print_json(report.as_json(), sys.stdout)
    else:
        print(table(START_HEADERS, report.rows()) + "\n" + report.summary())
    if interrupted.signal_name is not None:
        return _stopped(interrupted, _committed(report, "start", args.dry_run))
    return report.exit_code


def _start(args: argparse.Namespace, runtime: Runtime, now: datetime) -> StartReport:
    settings = runtime.settings
    if args.dry_run:
        # A dry run reads the database if there is one, never creates it, and takes no lock.
        db = runtime.database(in_memory=not settings.database.exists())
        ctx = runtime.sweep_context(db)
        return run_start(ctx, args.app, args.tag, now, dry_run=True, force=args.force)
    with sweep_lock(settings.database):
        ctx = runtime.sweep_context(runtime.database())
        return run_start(ctx, args.app, args.tag, now, force=args.force)


def cmd_runs(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain runs``: chain runs, newest first, from the database (never created)."""
    from scheduler.runs_view import show_runs

    return show_runs(runtime, args, sys.stdout)


def cmd_health(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain health``: 0 healthy, 1 unhealthy, from the database alone."""
    from scheduler.health import check_health

    return check_health(runtime, args, sys.stdout)


def cmd_backup(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain backup FILE``: SQLite's online backup of the state database."""
    done = backup_database(runtime.settings.database, args.file)
    megabytes = done.size_bytes / 1_000_000
    print(f"backed up {done.source} to {done.target} ({done.pages} pages, {megabytes:.1f} MB)")
    return 0


def cmd_report(args: argparse.Namespace, runtime: Runtime) -> int:
    """``reload-chain report --html FILE``: the HTML report, written atomically."""
    from scheduler.report import show_report

    return show_report(args, runtime, sys.stdout)


def _parse_since(value: str | None, now: datetime) -> datetime | None:
    """``--since`` as a time; one in the future would make a window that ends before it starts."""
    if value is None:
        return None
    try:
        since = parse_time(value)
    except ValueError as error:
        raise SettingsError(f"invalid --since: {error}") from None
    if since > now:
        raise SettingsError(
            f"--since {value} is in the future (now is {format_time(now)}): give a past time"
        )
    return since

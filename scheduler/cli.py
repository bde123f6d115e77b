"""``reload-chain``: parse the command line, build settings and logging, run one command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from loguru import logger

from qlik.clock import SYSTEM_CLOCK, Clock
from qlik.errors import ReloadChainError
from scheduler import commands
from scheduler.config import load
from scheduler.logs import configure_logging
from scheduler.output import ScrubbedStdio
from scheduler.runtime import Runtime
from scheduler.scrub import Scrubber

LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")
# Flags that override a setting of the same name (SPEC section 6 precedence).
SETTING_FLAGS = ("interval_minutes", "log_json")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line of SPEC section 5."""
    parser = argparse.ArgumentParser(prog="reload-chain", description="Chain Qlik Cloud reloads.")
    parser.add_argument("--version", action="version", version=f"reload-chain {_version()}")
    _add_global_options(parser, config=None, log_level=None)
    # The same options after the command; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, config=argparse.SUPPRESS, log_level=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_commands(sub, common)
    return parser


def _version() -> str:
    """The installed distribution's version; pyproject.toml is its only source."""
    try:
        return package_version("reload-chain")
    except PackageNotFoundError:  # a source tree run without installing it
        return "0+unknown"


def _add_global_options(parser: argparse.ArgumentParser, *, config: Any, log_level: Any) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=config,
        help="settings TOML file (default: ./reload-chain.toml)",
    )
    parser.add_argument(
        "--log-level", default=log_level, choices=LOG_LEVELS, type=str.upper, help="log level"
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=log_level,  # None before the command, SUPPRESS after it, like --log-level
        help="log one JSON object a line (for log collectors)",
    )


def _add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """The subcommands, each accepting the global options too."""
    _add_sweep(sub, common)
    run = sub.add_parser("run", parents=[common], help="background process: sweep every N minutes")
    run.add_argument(
        "--interval-minutes",
        type=float,
        metavar="N",
        help="minutes between sweeps, a decimal of at least 0.25 (default 0.5)",
    )
    _add_new_database(run)
    run.set_defaults(handler=commands.cmd_run)
    status = sub.add_parser(
        "status", parents=[common], help="cursor, last sweeps and recent decisions"
    )
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=commands.cmd_status)
    demo = sub.add_parser(
        "demo", parents=[common], help="run against the built-in simulated tenant"
    )
    demo.set_defaults(handler=commands.cmd_demo)
    sim = sub.add_parser(
        "sim", parents=[common], help="serve the simulated tenant alone on loopback"
    )
    sim.add_argument("--port", type=int, default=8080, help="loopback port (0 picks a free one)")
    sim.add_argument("--scenario", type=Path, metavar="FILE", help="scenario TOML or JSON file")
    sim.set_defaults(handler=commands.cmd_sim)
    _add_graph_and_start(sub, common)
    _add_runs_and_health(sub, common)
    _add_secrets(sub, common)


def _add_secrets(sub: Any, common: argparse.ArgumentParser) -> None:
    secrets = sub.add_parser(
        "secrets", parents=[common], help="keep api_key or client_secret in the OS keyring"
    )
    actions = secrets.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("set", "store one, typed at a prompt (not shown) or read from stdin"),
        ("delete", "remove this tenant's entry"),
    ):
        parser = actions.add_parser(action, parents=[common], help=text)
        parser.add_argument("name", choices=("api_key", "client_secret"), help="which secret")
    secrets.set_defaults(handler=commands.cmd_secrets)


def _add_runs_and_health(sub: Any, common: argparse.ArgumentParser) -> None:
    runs = sub.add_parser(
        "runs", parents=[common], help="chain runs, newest first, with outcomes and times"
    )
    runs.add_argument("--json", action="store_true", help="print the runs as JSON")
    runs.add_argument(
        "--limit", type=int, default=20, metavar="N", help="how many runs (default 20)"
    )
    runs.add_argument("--app", metavar="ID", help="only runs with a reload of this app")
    runs.set_defaults(handler=commands.cmd_runs)
    health = sub.add_parser(
        "health", parents=[common], help="exit 0 healthy, 1 unhealthy (for monitoring probes)"
    )
    health.add_argument(
        "--max-age-minutes",
        type=float,
        metavar="N",
        help="the newest successful sweep may be this old (default: 3 intervals, at least 15)",
    )
    health.add_argument("--json", action="store_true", help="print the verdict as JSON")
    health.set_defaults(handler=commands.cmd_health)
    backup = sub.add_parser(
        "backup", parents=[common], help="a consistent copy of the database, safe while sweeps run"
    )
    backup.add_argument("file", type=Path, metavar="FILE", help="where to write the copy")
    backup.set_defaults(handler=commands.cmd_backup)
    _add_report(sub, common)


def _add_report(sub: Any, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser(
        "report", parents=[common], help="the HTML report: graph, chain runs, sweeps, alerts"
    )
    report.add_argument(
        "--html", type=Path, required=True, metavar="FILE", help="where to write the page"
    )
    report.add_argument(
        "--offline",
        action="store_true",
        help="draw the graph from the database alone (no API call), as after each sweep",
    )
    report.set_defaults(handler=commands.cmd_report)


def _add_graph_and_start(sub: Any, common: argparse.ArgumentParser) -> None:
    graph = sub.add_parser("graph", parents=[common], help="the chain graph, cycles marked")
    graph.add_argument(
        "--format", choices=("mermaid", "dot", "json", "text", "svg"), default="mermaid"
    )
    graph.set_defaults(handler=commands.cmd_graph)
    start = sub.add_parser("start", parents=[common], help="start reloads now, with the guards")
    start.add_argument(
        "--app",
        action="extend",
        nargs="+",
        default=[],
        metavar="ID",
        help="an app GUID or a script's 24-hex id (repeatable)",
    )
    start.add_argument(
        "--tag",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="every app and script carrying this tag (repeatable)",
    )
    start.add_argument("--dry-run", action="store_true", help="decide and print; start nothing")
    start.add_argument(
        "--force",
        action="store_true",
        help="start even if reloaded within tolerance_minutes (never one that is running)",
    )
    start.add_argument("--json", action="store_true", help="print the answer as JSON")
    start.set_defaults(handler=commands.cmd_start)
    doctor = sub.add_parser("doctor", parents=[common], help="check settings, tenant and chains")
    doctor.set_defaults(handler=commands.cmd_doctor)
    task = sub.add_parser(
        "schedule-task",
        parents=[common],
        help="sweep every N minutes: Task Scheduler XML, systemd units or a crontab line",
    )
    task.add_argument(
        "--every", type=int, required=True, metavar="N", help="minutes between sweeps"
    )
    task.add_argument(
        "--format",
        choices=("windows", "systemd", "cron"),
        help="default: windows on Windows, systemd where it runs, else cron",
    )
    task.add_argument(
        "--xml", type=Path, metavar="FILE", help="where to write the task XML (windows)"
    )
    task.add_argument("--name", help="task name (windows; default reload-chain)")
    task.add_argument(
        "--dir", type=Path, metavar="DIR", help="where to write the units (systemd; default .)"
    )
    task.set_defaults(handler=commands.cmd_schedule_task)


def _add_sweep(sub: Any, common: argparse.ArgumentParser) -> None:
    sweep = sub.add_parser(
        "sweep", parents=[common], help="one sweep, then exit (Task Scheduler, catch-up)"
    )
    sweep.add_argument(
        "--dry-run", action="store_true", help="decide and print; start nothing, record nothing"
    )
    sweep.add_argument(
        "--since", metavar="ISO", help="read events from this time instead of the cursor"
    )
    sweep.add_argument("--json", action="store_true", help="print the sweep report as JSON")
    _add_new_database(sweep)
    sweep.set_defaults(handler=commands.cmd_sweep)


def _add_new_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--new-database",
        action="store_true",
        help="accept an emptied (zero-byte) database and start afresh",
    )


def main(argv: Sequence[str] | None = None, clock: Clock = SYSTEM_CLOCK) -> int:
    """Entry point of the console script and ``python -m scheduler``; returns the exit code.

    All it and the libraries write to stdout, stderr and the log file is scrubbed: of bearer
    tokens from the start, of the configured secrets once the settings are read. ``clock`` is
    the program's one clock (tests pass their own).
    """
    with ScrubbedStdio(Scrubber()) as stdio:
        args = build_parser().parse_args(argv)
        # A redirected stdout on Windows uses the ANSI code page: an app name it lacks must not
        # end the command.
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")
        # The demo and the simulator narrate on stdout; routine sweep logs would drown them.
        quiet = args.command in ("demo", "sim")
        args.log_level = args.log_level or ("WARNING" if quiet else "INFO")
        # Settings errors are logged before the settings exist: the flag alone decides JSON here.
        configure_logging(args.log_level, json_lines=bool(args.log_json))
        code = 0
        try:
            # A bad value in the keyring must not stop the command that replaces it.
            keyring = args.command != "secrets"
            loaded = load(args.config, _setting_flags(args), keyring=keyring)
            runtime = Runtime.from_loaded(loaded, clock)
            scrubber = runtime.scrubber()
            stdio.use(scrubber)
            configure_logging(
                args.log_level,
                runtime.settings.log_file,
                json_lines=runtime.settings.log_json,
                scrubber=scrubber,
            )
            with runtime:
                code = int(args.handler(args, runtime))
            # Buffered output is otherwise written at exit, outside this try: a closed pipe
            # shows here.
            sys.stdout.flush()
            return code
        except ReloadChainError as error:
            if not error.logged:
                logger.error("{}", error)
            return error.exit_code
        except BrokenPipeError:
            # The reader went away (`reload-chain status | head`): not an error of ours, and the
            # command's own exit code (a sweep's 1 or 2) still stands.
            _silence_stdout()
            return code
        except Exception:
            # A bug. The interpreter would print its traceback after main() returned, past the
            # scrubbing; a library's error may quote a secret.
            logger.exception("unexpected error (a bug: please report it)")
            return 1


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file behind stdout (io.UnsupportedOperation)
        pass


def _setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in SETTING_FLAGS}

"""``reload-chain report --html FILE`` and the ``report_file`` rewritten after each sweep.

Both read the state database and write one self-contained page (``jobs.report_html``)
atomically: a temporary file beside the target, then ``os.replace``, so a web server or a file
share never serves half a page. After a sweep the graph comes from the database alone (no API
call); the command draws the tenant's full graph (tags, chain file and native tasks: every
edge, even one no sweep acted on yet, and missing apps) unless ``--offline`` is given, since it
runs on demand.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from loguru import logger
from sqlite_utils import Database

from jobs.chainfile import ChainFile
from jobs.deadline_config import Deadline
from jobs.deadline_sweep import deadline_states
from jobs.graph import ChainGraph, build_graph
from jobs.graph_native import NOT_LISTED
from jobs.report_graph import app_statuses, graph_from_database, missing_apps, stored_view
from jobs.report_html import ReportData, render_report
from jobs.runs import chain_runs
from scheduler.settings import Settings
from state.report_reads import ReportReads
from state.runs import read_runs

if TYPE_CHECKING:
    from scheduler.runtime import Runtime

RUNS = 20
SWEEPS = 10
# Outbox rows (one per destination of an alert) read for the alerts table.
ALERT_ROWS = 60
FROM_TENANT = "the tenant's tags, native tasks and the chain file"
FROM_DATABASE = "the decisions in the database and the chain file (no API call)"
# Permissions of a new report: readable by the web server or share serving it.
NEW_FILE_MODE = 0o644


def build_report(
    db: Database | None,
    settings: Settings,
    chain: ChainFile,
    deadlines: Sequence[Deadline],
    now: datetime,
    *,
    graph: ChainGraph | None = None,
) -> str:
    """The page for ``db`` (None: no database yet) at ``now``; ``graph`` None: from ``db``."""
    where = str(settings.database)
    source = FROM_DATABASE
    if graph is not None:
        source = FROM_TENANT + (f"; {NOT_LISTED}" if graph.native.refused else "")
    data = ReportData(
        now,
        graph or graph_from_database([], chain, {}),
        deadlines=deadline_states(db, where, deadlines, now),
        tenant_url=settings.tenant_url,
        graph_source=source,
    )
    if db is not None:
        data = _with_database(data, ReportReads(db, where), chain, drawn=graph is not None)
    return render_report(data)


def _with_database(
    data: ReportData, reads: ReportReads, chain: ChainFile, *, drawn: bool
) -> ReportData:
    """``data`` with what the database knows; its graph too unless it was ``drawn``."""
    statuses = app_statuses(reads.latest_decisions(), reads.root_outcomes())
    names = reads.names()
    graph, source = data.graph, data.graph_source
    if not drawn:
        native, words = stored_view(reads.native_tasks())
        graph = graph_from_database(
            reads.seen_edges(),
            chain,
            names,
            apps=statuses,
            missing=missing_apps(statuses),
            native=native,
        )
        source += f"; {words}" if words else ""
    return replace(
        data,
        graph=graph,
        graph_source=source,
        statuses=statuses,
        runs=chain_runs(read_runs(reads.db, reads.where, limit=RUNS)),
        sweeps=reads.recent_sweeps(SWEEPS),
        alerts=reads.recent_alerts(ALERT_ROWS),
        names=names,
    )


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8): readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else NEW_FILE_MODE
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def report_after_sweep(db: Database, runtime: Runtime) -> None:
    """Rewrite ``report_file`` if set; a failure is one WARNING, never the sweep's exit code."""
    path = runtime.settings.report_file
    if path is None:
        return
    try:
        now = runtime.clock.now()
        page = build_report(db, runtime.settings, runtime.chain, runtime.deadlines, now)
        write_atomically(path, page)
    except Exception as error:  # the report must never change a sweep's exit code
        logger.warning("report file {} not written: {}: {}", path, type(error).__name__, error)


def show_report(args: argparse.Namespace, runtime: Runtime, out: TextIO) -> int:
    """Write ``--html FILE`` and print its path; return 0."""
    settings = runtime.settings
    graph = None
    if not args.offline:
        graph = build_graph(runtime.client(), runtime.chain, settings.tag_prefix, native=True)
    db = runtime.existing_database()
    now = runtime.clock.now()
    page = build_report(db, settings, runtime.chain, runtime.deadlines, now, graph=graph)
    path: Path = args.html
    write_atomically(path, page)
    out.write(f"{path.resolve()}\n")
    return 0

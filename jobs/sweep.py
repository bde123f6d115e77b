"""One sweep: read new reload-finished events, decide each successor once, trigger, commit.

``run_sweep`` is a thin shell: the decisions come from the pure ``jobs.decide``; this module
only orders the I/O around it and works out what is settled and where the cursor may move.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from loguru import logger

from jobs.chainfile import ChainFile
from jobs.commit import build_commit, next_cursor, unsettled_runs
from jobs.decide import decide
from jobs.facts import FactSettings, gather_facts
from jobs.progress import NoProgress, ReadProgress
from jobs.reading import EventReader
from jobs.reconcile import reconcile_intents
from jobs.report import Outcome, PhaseTimer, SweepReport
from jobs.trigger import AUTH, act_on_decisions
from qlik.client import QlikClient
from qlik.errors import AuthenticationError, QlikError, RetryableError
from qlik.events import FinishedReload
from qlik.times import format_time
from state.database import StateError
from state.store import Store


class SweepSettings(FactSettings, Protocol):
    """The settings a sweep reads."""

    @property
    def event_type(self) -> str: ...

    @property
    def overlap_minutes(self) -> int: ...

    @property
    def first_run_lookback_minutes(self) -> int: ...

    @property
    def auto_resolve_access(self) -> bool: ...


@dataclass(frozen=True)
class SweepContext:
    """What a sweep works with, built once by the process and passed down."""

    client: QlikClient
    store: Store
    settings: SweepSettings
    chain: ChainFile = field(default_factory=ChainFile)
    progress: ReadProgress = field(default_factory=NoProgress)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def new_sweep_id(now: datetime) -> str:
    """A sortable, unique sweep id such as ``20261122T101500Z-3fa9``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def sweep_window(
    cursor: datetime | None, settings: SweepSettings, now: datetime, since: datetime | None
) -> Window:
    """From ``since``, else the cursor less the overlap, else the first-run lookback, to now."""
    if since is not None:
        return Window(since, now)
    if cursor is not None:
        return Window(cursor - timedelta(minutes=settings.overlap_minutes), now)
    return Window(now - timedelta(minutes=settings.first_run_lookback_minutes), now)


def run_sweep(
    ctx: SweepContext,
    now: datetime,
    *,
    since: datetime | None = None,
    dry_run: bool = False,
) -> SweepReport:
    """Run one sweep at ``now``; commit its results unless ``dry_run``.

    Whatever happens to one successor's start, what the sweep already did is committed.
    """
    started = time.monotonic()
    sweep_id = new_sweep_id(now)
    try:
        return _sweep(ctx, sweep_id, now, started, since=since, dry_run=dry_run)
    except (QlikError, StateError) as error:
        logger.error(
            "sweep {} aborted after {:.1f}s; its results are not committed (a start already "
            "made is in the ledger and is checked next sweep): {}",
            sweep_id,
            time.monotonic() - started,
            error,
        )
        raise


def _sweep(
    ctx: SweepContext,
    sweep_id: str,
    now: datetime,
    started: float,
    *,
    since: datetime | None,
    dry_run: bool,
) -> SweepReport:
    calls_before = Counter(ctx.client.calls)
    phases = PhaseTimer(started)
    if not dry_run:
        # Interrupted starts are settled first, so nothing below can start them again.
        reconcile_intents(ctx.client, ctx.store, now)
    phases.lap("reconcile")
    cursor = ctx.store.cursor()
    window = sweep_window(cursor, ctx.settings, now, since)
    reader = _read_events(ctx, sweep_id, window, now)
    phases.lap("read")
    runs = list(reader.runs.values())
    outcomes, facts_failed = _decide_and_act(ctx, runs, sweep_id, now, phases, dry_run=dry_run)
    unsettled = unsettled_runs(runs, outcomes, facts_failed)
    calls = dict(Counter(ctx.client.calls) - calls_before)
    report = _report(
        sweep_id, window, reader, outcomes, unsettled, api_calls=calls, dry_run=dry_run
    )
    report.duration_s = time.monotonic() - started
    if not dry_run:
        overlap = ctx.settings.overlap_minutes
        moved_to = next_cursor(window.start, overlap, reader.last_event_time, unsettled, cursor)
        ctx.store.commit_sweep(build_commit(report, reader, unsettled, moved_to, now), now)
    phases.lap("commit")
    report.phases_s = phases.laps
    _log_summary(report, time.monotonic() - started)
    return report


def _read_events(ctx: SweepContext, sweep_id: str, window: Window, now: datetime) -> EventReader:
    logger.info(
        "sweep {} reads events from {} to {}",
        sweep_id,
        format_time(window.start),
        format_time(window.end),
    )
    reader = EventReader(ctx.store, sweep_id, progress=ctx.progress)
    ctx.progress.started(window.start, window.end)
    pages = ctx.client.audit_event_pages(ctx.settings.event_type, window.start, window.end)
    reader.read_all(pages, now)
    return reader


def _report(
    sweep_id: str,
    window: Window,
    reader: EventReader,
    outcomes: list[Outcome],
    unsettled: list[FinishedReload],
    *,
    api_calls: dict[str, int],
    dry_run: bool,
) -> SweepReport:
    return SweepReport(
        sweep_id,
        dry_run,
        window.start,
        window.end,
        events_read=reader.read,
        events_new=len(reader.runs),
        events_invalid=len(reader.invalid),
        sources=len({run.app_id for run in reader.runs.values()}),
        outcomes=outcomes,
        api_calls=api_calls,
        exit_code=_exit_code(reader, outcomes, unsettled),
    )


def _exit_code(
    reader: EventReader, outcomes: list[Outcome], unsettled: list[FinishedReload]
) -> int:
    if any(outcome.reason == AUTH for outcome in outcomes):
        return AuthenticationError.exit_code
    return 0 if reader.complete and not unsettled else 1


def _decide_and_act(
    ctx: SweepContext,
    runs: list[FinishedReload],
    sweep_id: str,
    now: datetime,
    phases: PhaseTimer,
    *,
    dry_run: bool,
) -> tuple[list[Outcome], bool]:
    """Outcomes of every successor, and whether fact gathering failed (all left for later)."""
    if not runs:
        return [], False
    try:
        facts = gather_facts(ctx.client, ctx.store, runs, ctx.settings, now, chain=ctx.chain)
    except RetryableError as error:
        logger.error("cannot gather tenant facts, all events left for next sweep: {}", error)
        phases.lap("facts")
        return [], True
    decisions = decide(runs, facts, ctx.settings, now)
    phases.lap("facts")
    outcomes = act_on_decisions(
        ctx.client,
        ctx.store,
        decisions,
        sweep_id,
        now,
        dry_run=dry_run,
        auto_resolve=ctx.settings.auto_resolve_access,
    )
    phases.lap("trigger")
    return outcomes, False


def _log_summary(report: SweepReport, elapsed_s: float) -> None:
    """The one line each sweep ends with; ``elapsed_s`` includes the commit."""
    counts = ", ".join(f"{reason} {n}" for reason, n in report.reason_counts().items())
    logger.info(
        "sweep {}{} done in {:.1f}s: {} events read, {} new, {} invalid; decisions: {}; "
        "{} API calls; exit {}",
        report.sweep_id,
        " (dry run)" if report.dry_run else "",
        elapsed_s,
        report.events_read,
        report.events_new,
        report.events_invalid,
        counts or "none",
        sum(report.api_calls.values()),
        report.exit_code,
    )

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
from typing import Any, Protocol

from loguru import logger

from jobs.chainfile import ChainFile
from jobs.decide import decide
from jobs.facts import FactSettings, gather_facts
from jobs.reading import EventReader, handled_row, run_key
from jobs.reconcile import reconcile_intents
from jobs.report import Outcome, SweepReport
from jobs.trigger import AUTH, act_on_decisions
from qlik.client import QlikClient
from qlik.errors import AuthenticationError, RetryableError
from qlik.events import FinishedReload
from qlik.times import format_time
from state.store import LedgerRow, Store, SweepCommit


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
    calls_before = Counter(ctx.client.calls)
    if not dry_run:
        # Interrupted starts are settled first, so nothing below can start them again.
        reconcile_intents(ctx.client, ctx.store, now)
    cursor = ctx.store.cursor()
    sweep_id = new_sweep_id(now)
    window = sweep_window(cursor, ctx.settings, now, since)
    reader = _read_events(ctx, sweep_id, window, now)
    runs = list(reader.runs.values())
    outcomes, facts_failed = _decide_and_act(ctx, runs, sweep_id, now, dry_run=dry_run)
    unsettled = _unsettled_runs(runs, outcomes, facts_failed)
    calls = dict(Counter(ctx.client.calls) - calls_before)
    report = _report(
        sweep_id, window, reader, outcomes, unsettled, api_calls=calls, dry_run=dry_run
    )
    report.duration_s = time.monotonic() - started
    if not dry_run:
        next_cursor = _next_cursor(window, ctx.settings, reader, unsettled, cursor)
        ctx.store.commit_sweep(_commit(report, reader, unsettled, next_cursor, now), now)
    _log_summary(report)
    return report


def _read_events(ctx: SweepContext, sweep_id: str, window: Window, now: datetime) -> EventReader:
    logger.info(
        "sweep {} reads events from {} to {}",
        sweep_id,
        format_time(window.start),
        format_time(window.end),
    )
    reader = EventReader(ctx.store, sweep_id)
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
    ctx: SweepContext, runs: list[FinishedReload], sweep_id: str, now: datetime, *, dry_run: bool
) -> tuple[list[Outcome], bool]:
    """Outcomes of every successor, and whether fact gathering failed (all left for later)."""
    if not runs:
        return [], False
    try:
        facts = gather_facts(ctx.client, ctx.store, runs, ctx.settings, now, chain=ctx.chain)
    except RetryableError as error:
        logger.error("cannot gather tenant facts, all events left for next sweep: {}", error)
        return [], True
    decisions = decide(runs, facts, ctx.settings, now)
    outcomes = act_on_decisions(
        ctx.client,
        ctx.store,
        decisions,
        sweep_id,
        now,
        dry_run=dry_run,
        auto_resolve=ctx.settings.auto_resolve_access,
    )
    return outcomes, False


def _unsettled_runs(
    runs: list[FinishedReload], outcomes: list[Outcome], facts_failed: bool
) -> list[FinishedReload]:
    """Runs with work left for the next sweep: their events must be read again."""
    if facts_failed:
        return runs
    pending = {
        run_key(run) for outcome in outcomes if outcome.retry for run in outcome.candidate.runs
    }
    return [run for run in runs if run_key(run) in pending]


def _next_cursor(
    window: Window,
    settings: SweepSettings,
    reader: EventReader,
    unsettled: list[FinishedReload],
    cursor: datetime | None,
) -> datetime:
    """The furthest the cursor may move without passing unfinished work.

    Only the tenant's own times move it forward: the local clock may run ahead of the
    tenant's by more than the overlap, and events stamped before our "now" would be lost.
    """
    known = [time for time in (cursor, reader.last_event_time) if time is not None]
    # First run and nothing read: the next window starts where this one did.
    first = window.start + timedelta(minutes=settings.overlap_minutes)
    bound = max(known) if known else first
    return min([bound, *(run.event_time for run in unsettled)])


def _commit(
    report: SweepReport,
    reader: EventReader,
    unsettled: list[FinishedReload],
    cursor: datetime,
    started_at: datetime,
) -> SweepCommit:
    return SweepCommit(
        sweep=report.as_record(started_at),
        handled_events=_handled_rows(report.sweep_id, reader, unsettled),
        invalid_events=reader.invalid,
        settled_edges=_settled_edges(report),
        ledger=[_ledger_row(report.sweep_id, outcome) for outcome in report.outcomes],
        cursor=cursor,
    )


def _handled_rows(
    sweep_id: str, reader: EventReader, unsettled: list[FinishedReload]
) -> list[dict[str, Any]]:
    """Every event of the settled runs, and the re-read events of runs settled before."""
    unsettled_keys = {run_key(run) for run in unsettled}
    handled = list(reader.already_handled)
    for key, run in reader.runs.items():
        if key not in unsettled_keys:
            handled += [handled_row(run, sweep_id, event_id) for event_id in reader.event_ids[key]]
    return handled


def _settled_edges(report: SweepReport) -> list[dict[str, Any]]:
    """(source reload, successor) pairs decided for good: never decided again."""
    return [
        {
            "source_reload_id": run.reload_id,
            "target_app_id": outcome.app_id,
            "sweep_id": report.sweep_id,
            "decision": outcome.decision,
            "reason": outcome.reason,
        }
        for outcome in report.outcomes
        if not outcome.retry
        for run in outcome.candidate.runs
    ]


def _ledger_row(sweep_id: str, outcome: Outcome) -> LedgerRow:
    return LedgerRow(
        sweep_id,
        outcome.app_id,
        decision=outcome.decision,
        reason=outcome.reason,
        sources=outcome.candidate.source_apps,
        source_reloads=outcome.candidate.source_reloads,
        reload_id=outcome.reload_id,
        detail=outcome.detail,
        state="intent" if outcome.uncertain else "done",
        previous_reload_id=outcome.previous_reload_id,
        source_end=outcome.candidate.newest_source_end,
    )


def _log_summary(report: SweepReport) -> None:
    logger.info(
        "sweep {} done: {} events read, {} new, {} invalid; decisions {}; {} API calls; exit {}",
        report.sweep_id,
        report.events_read,
        report.events_new,
        report.events_invalid,
        report.reason_counts() or "none",
        sum(report.api_calls.values()),
        report.exit_code,
    )

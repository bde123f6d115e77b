"""One sweep: read new reload-finished events, decide each successor once, trigger, commit.

``run_sweep`` is a thin shell: the decisions come from the pure ``jobs.decide``; this module
only orders the I/O around it and works out what is settled and where the cursor may move.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from loguru import logger

from jobs.chainfile import ChainFile
from jobs.commit import build_commit, next_cursor, unsettled_runs
from jobs.decide import AppFacts, decide
from jobs.facts import FactSettings, Known, gather_facts
from jobs.learn import (
    app_name_rows,
    chain_run_rows,
    newest_sources,
    reload_outcome_rows,
    with_chain_runs,
)
from jobs.lineage import chain_roots
from jobs.progress import NoProgress, ReadProgress
from jobs.reading import EventReader
from jobs.reconcile import reconcile_intents
from jobs.report import Outcome, PhaseTimer, SweepReport
from jobs.summary import log_recovery, log_summary, sweep_report, warn_lost_state
from jobs.trigger import act_on_decisions
from jobs.window import Memory, Window, WindowSettings, recovering_until, sweep_window
from qlik.client import QlikClient
from qlik.clock import SYSTEM_CLOCK, Clock
from qlik.errors import QlikError, RetryableError
from qlik.events import FinishedReload
from qlik.times import format_time
from state.database import StateError
from state.lease import Fence
from state.store import HIGH_WATER, LATE_CHECK, RECOVERY, Store
from state.watermark import Watermark


class SweepSettings(FactSettings, WindowSettings, Protocol):
    """The settings a sweep reads."""

    @property
    def event_type(self) -> str: ...

    @property
    def auto_resolve_access(self) -> bool: ...

    @property
    def http_timeout_seconds(self) -> float: ...

    @property
    def max_sweep_minutes(self) -> float: ...


@dataclass(frozen=True)
class SweepContext:
    """What a sweep works with, built once by the process and passed down."""

    client: QlikClient
    store: Store
    settings: SweepSettings
    chain: ChainFile = field(default_factory=ChainFile)
    progress: ReadProgress = field(default_factory=NoProgress)
    # Beside a database file: the highest cursor it ever committed (None in memory).
    watermark: Watermark | None = None
    # Times the sweep's duration and phases; ``now`` itself is handed to ``run_sweep``.
    clock: Clock = SYSTEM_CLOCK


def new_sweep_id(now: datetime) -> str:
    """A sortable, unique sweep id such as ``20261122T101500Z-3fa9``."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def run_sweep(
    ctx: SweepContext,
    now: datetime,
    *,
    since: datetime | None = None,
    dry_run: bool = False,
) -> SweepReport:
    """Run one sweep at ``now``; commit its results unless ``dry_run``.

    Whatever happens to one successor's start, what the sweep already did is committed. A
    sweep that lost its lease to another sweeper (``LeaseLostError``) commits nothing.
    """
    sweep = _Sweep(ctx, new_sweep_id(now), now, ctx.clock.monotonic(), dry_run)
    try:
        return sweep.run(since)
    except (QlikError, StateError) as error:
        logger.error(
            "sweep {} aborted after {:.1f}s; nothing it read is committed and it will be read "
            "again: {}",
            sweep.sweep_id,
            ctx.clock.monotonic() - sweep.started,
            error,
        )
        raise


@dataclass
class _Sweep:
    """The state of one sweep as it goes: reconcile, read, decide and act, commit."""

    ctx: SweepContext
    sweep_id: str
    now: datetime
    started: float
    dry_run: bool
    # The newest event read, the newest ever committed, and the lost-state limit.
    newest_read: datetime | None = None
    high_water: datetime | None = None
    recovery: datetime | None = None
    # The apps the sweep looked up (their names are kept for tables and alerts).
    apps: Mapping[str, AppFacts] = field(default_factory=dict)

    def run(self, since: datetime | None) -> SweepReport:
        ctx = self.ctx
        calls_before = Counter(ctx.client.calls)
        ctx.client.budget.start(ctx.settings.max_sweep_minutes * 60)
        phases = PhaseTimer(self.started, ctx.clock)
        # Read before reconciling: a sweeper that starts anything after this fences us out.
        fence = None if self.dry_run else ctx.store.fence(self.sweep_id)
        # Qlik counts starts over 5 minutes across processes: earlier sweeps' starts count too.
        ctx.client.seed_starts(ctx.store.recent_start_ages())
        # Interrupted starts are settled first, so nothing below can start them again.
        blocked = self._unsettled_apps()
        phases.lap("reconcile")
        cursor = ctx.store.cursor()
        window = sweep_window(cursor, ctx.settings, self.now, since, ctx.store.cursor(LATE_CHECK))
        reader = self._read_events(window, late_before=cursor)
        self.newest_read = reader.last_event_time
        phases.lap("read")
        known = Known(blocked, self._recovering_until(cursor, window))
        runs = list(reader.runs.values())
        outcomes, facts_failed = self._decide_and_act(runs, known, fence, phases)
        unsettled = unsettled_runs(runs, outcomes, facts_failed)
        calls = dict(Counter(ctx.client.calls) - calls_before)
        report = sweep_report(
            self.sweep_id,
            window,
            reader,
            outcomes,
            api_calls=calls,
            dry_run=self.dry_run,
            facts_failed=facts_failed,
        )
        report.duration_s = self.ctx.clock.monotonic() - self.started
        if fence is not None:
            self._commit(report, reader, unsettled, window=window, cursor=cursor, fence=fence)
        phases.lap("commit")
        report.phases_s = phases.laps
        log_summary(report, self.ctx.clock.monotonic() - self.started)
        return report

    def _unsettled_apps(self) -> frozenset[str]:
        """Apps with an earlier start not known to have reached the tenant (dry run: looks)."""
        ctx = self.ctx
        if self.dry_run:
            return frozenset(intent.app_id for intent in ctx.store.unfinished_intents())
        deadline_s = ctx.settings.http_timeout_seconds
        reconciled = reconcile_intents(
            ctx.client, ctx.store, self.now, request_deadline_s=deadline_s
        )
        return reconciled.unsettled

    def _recovering_until(self, cursor: datetime | None, window: Window) -> datetime | None:
        store = self.ctx.store
        memory = Memory(
            cursor,
            store.cursor(HIGH_WATER),
            self.ctx.watermark.read() if self.ctx.watermark else None,
            store.cursor(RECOVERY),
        )
        until, why = recovering_until(memory, window)
        log_recovery(until, why)
        self.recovery = until
        self.high_water = max(
            (t for t in (memory.high_water, self.newest_read) if t is not None), default=None
        )
        return until

    def _read_events(self, window: Window, late_before: datetime | None) -> EventReader:
        late = f" (from {format_time(window.first)} for late events)" if window.late_check else ""
        logger.info(
            "sweep {} reads events from {} to {}{}",
            self.sweep_id,
            format_time(window.start),
            format_time(window.end),
            late,
        )
        ctx = self.ctx
        reader = EventReader(
            ctx.store, self.sweep_id, window.end, late_before=late_before, progress=ctx.progress
        )
        ctx.progress.started(window.first, window.end)
        pages = ctx.client.audit_event_pages(ctx.settings.event_type, window.first, window.end)
        reader.read_all(pages, self.now)
        return reader

    def _decide_and_act(
        self, runs: list[FinishedReload], known: Known, fence: Fence | None, phases: PhaseTimer
    ) -> tuple[list[Outcome], bool]:
        """Outcomes of every successor, and whether fact gathering failed (all left for later).

        ``fence`` is None for a dry run, which starts nothing.
        """
        if not runs:
            return [], False
        ctx = self.ctx
        try:
            facts = gather_facts(
                ctx.client, ctx.store, runs, ctx.settings, self.now, chain=ctx.chain, known=known
            )
        except RetryableError as error:
            logger.error("cannot gather tenant facts, all events left for next sweep: {}", error)
            phases.lap("facts")
            return [], True
        decisions = decide(runs, facts, ctx.settings, self.now)
        roots = chain_roots(ctx.store, newest_sources(decisions))
        decisions = with_chain_runs(decisions, roots)
        self.apps = facts.apps
        warn_lost_state(decisions, facts)
        phases.lap("facts")
        if fence is not None and any(decision.action == "trigger" for decision in decisions):
            self._write_ahead()
        outcomes = act_on_decisions(
            ctx.client,
            ctx.store,
            decisions,
            self.sweep_id,
            self.now,
            dry_run=fence is None,
            auto_resolve=ctx.settings.auto_resolve_access,
            fence=fence,
        )
        phases.lap("trigger")
        return outcomes, False

    def _write_ahead(self) -> None:
        """Before the first start: a copy restored later must know these events were acted on."""
        if self.ctx.watermark is not None and self.newest_read is not None:
            self.ctx.watermark.advance(self.newest_read)

    def _commit(
        self,
        report: SweepReport,
        reader: EventReader,
        unsettled: list[FinishedReload],
        *,
        window: Window,
        cursor: datetime | None,
        fence: Fence,
    ) -> None:
        """Write what the sweep learned, move the cursor, then the watermark beside the db."""
        ctx = self.ctx
        overlap = ctx.settings.overlap_minutes
        moved_to = next_cursor(window, overlap, reader.last_event_time, unsettled, cursor)
        commit = build_commit(report, reader, unsettled, moved_to, self.now)
        commit.reload_outcomes = reload_outcome_rows(reader.runs.values())
        commit.chain_runs = chain_run_rows(report.outcomes, self.sweep_id, self.now)
        commit.app_names = app_name_rows(self.apps, self.now)
        if window.late_check and reader.complete:
            commit.late_checked_at = self.now
        commit.high_water, commit.recovering_until = self.high_water, self.recovery
        ctx.store.commit_sweep(commit, self.now, fence)
        if ctx.watermark is not None and self.high_water is not None:
            ctx.watermark.advance(self.high_water)

"""One sweep: read new reload-finished events, decide each successor once, trigger, commit.

``run_sweep`` is a thin shell: the decisions come from the pure ``jobs.decide``; this module
only orders the I/O around it and works out what is settled and where the cursor may move.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from loguru import logger

from jobs.alerts import Cause
from jobs.commit import build_commit, next_cursor, unsettled_runs
from jobs.context import SweepContext, SweepSettings, new_sweep_id
from jobs.deadline_sweep import sweep_deadlines
from jobs.decide import AppFacts
from jobs.facts import Known, gather_facts
from jobs.learn import (
    app_name_rows,
    chain_run_rows,
    newest_sources,
    reload_outcome_rows,
    with_chain_runs,
)
from jobs.lineage import chain_roots
from jobs.native_sweep import NativeRead, decide_beside_native
from jobs.raising import SweepEnd, aborted_record, record_abort, sweep_alerts
from jobs.reading import EventReader
from jobs.reconcile import reconcile_intents
from jobs.report import Outcome, PhaseTimer, SweepReport
from jobs.summary import log_recovery, log_summary, sweep_report, warn_lost_state
from jobs.trigger import act_on_decisions
from jobs.window import Memory, Window, recovering_until, sweep_window
from qlik.errors import QlikError, RetryableError, TransientError, UnreachableTenantError
from qlik.events import FinishedReload
from qlik.times import format_time
from state.database import StateError
from state.lease import Fence
from state.store import HIGH_WATER, LATE_CHECK, RECOVERY

# A start settled this long ago or less may still owe its outcome (and alert): a sweep that
# settled it and then aborted leaves it to the next ones.
SETTLED_LATELY = timedelta(days=1)

__all__ = ["SweepContext", "SweepSettings", "new_sweep_id", "run_sweep"]


def run_sweep(
    ctx: SweepContext,
    now: datetime,
    *,
    since: datetime | None = None,
    dry_run: bool = False,
) -> SweepReport:
    """Run one sweep at ``now``; commit its results unless ``dry_run``.

    Whatever happens to one successor's start, what the sweep already did is committed. A
    sweep that lost its lease to another sweeper (``LeaseLostError``) commits nothing. One
    that an error from the tenant ended is still recorded with its exit code.
    """
    sweep = _Sweep(ctx, new_sweep_id(now), now, ctx.clock.monotonic(), dry_run)
    try:
        return sweep.run(since)
    except UnreachableTenantError as unreachable:
        if not ctx.store.ever_succeeded():
            raise sweep.aborted(unreachable) from None
        # It worked before: DNS or a proxy having a bad day, retried by the next sweep.
        raise sweep.aborted(TransientError(f"{unreachable} (it worked before)")) from None
    except (QlikError, StateError) as error:
        sweep.aborted(error)
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
    # What an aborted sweep's record needs: its lease, calls and window so far.
    fence: Fence | None = None
    calls_before: Counter[str] = field(default_factory=Counter)
    limited_before: int = 0
    window: Window | None = None
    # What the sweep learned of the tenant's native tasks (jobs.native_sweep).
    native: NativeRead = field(default_factory=NativeRead)

    def run(self, since: datetime | None) -> SweepReport:
        ctx = self.ctx
        calls_before = self.calls_before = Counter(ctx.client.calls)
        self.limited_before = ctx.client.rate_limited
        ctx.client.budget.start(ctx.settings.max_sweep_minutes * 60)
        phases = PhaseTimer(self.started, ctx.clock)
        # Read before reconciling: a sweeper that starts anything after this fences us out.
        fence = self.fence = None if self.dry_run else ctx.store.fence(self.sweep_id)
        # Qlik counts starts over 5 minutes across processes: earlier sweeps' starts count too.
        ctx.client.seed_starts(ctx.store.recent_start_ages())
        # Interrupted starts are settled first, so nothing below can start them again.
        blocked = self._unsettled_apps()
        phases.lap("reconcile")
        cursor = ctx.store.cursor()
        window = sweep_window(cursor, ctx.settings, self.now, since, ctx.store.cursor(LATE_CHECK))
        self.window = window
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
        report.rate_limited = ctx.client.rate_limited - self.limited_before
        report.app_names = {app_id: app.name for app_id, app in self.apps.items() if app.name}
        if fence is not None:
            self._commit(report, reader, unsettled, window=window, cursor=cursor, fence=fence)
        phases.lap("commit")
        report.phases_s = phases.laps
        log_summary(report, self.ctx.clock.monotonic() - self.started)
        if fence is not None and ctx.after_commit is not None:
            ctx.after_commit()
        return report

    def aborted(self, error: QlikError | StateError) -> QlikError | StateError:
        """Say in one line that the sweep ended early, record it if it can; return ``error``."""
        logger.error(
            "sweep {} aborted after {:.1f}s; nothing it read is committed and it will be read "
            "again: {}",
            self.sweep_id,
            self.ctx.clock.monotonic() - self.started,
            error,
        )
        error.logged = True
        if isinstance(error, QlikError):
            self.record_abort(error)
        return error

    def record_abort(self, error: QlikError) -> None:
        """Record this sweep with the error's exit code and ``sweep_failing`` when due (not a
        dry run's; nothing if another sweeper took the lease meanwhile), then send alerts."""
        ctx = self.ctx
        if self.fence is None:
            return
        end = SweepEnd(self.sweep_id, self.now, error.exit_code, error=str(error))
        calls = Counter(ctx.client.calls) - self.calls_before
        elapsed = ctx.clock.monotonic() - self.started
        record = aborted_record(end, elapsed, calls, self.window)
        record["rate_limited"] = ctx.client.rate_limited - self.limited_before
        if record_abort(ctx.store, ctx.alerting, record, end, self.fence) and ctx.after_commit:
            ctx.after_commit()

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
            decisions, self.native = decide_beside_native(
                ctx.client, ctx.store, runs, facts, ctx.settings, now=self.now
            )
        except RetryableError as error:
            logger.error("cannot gather tenant facts, all events left for next sweep: {}", error)
            phases.lap("facts")
            return [], True
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

    def _alerts(
        self,
        report: SweepReport,
        runs: list[FinishedReload],
        chain_runs: list[dict[str, Any]],
        late: list[Cause],
    ) -> list[dict[str, Any]]:
        """The alerts this sweep raises, for the outbox in its own transaction."""
        names = self.native.names | {app_id: app.name for app_id, app in self.apps.items()}
        outcomes = report.outcomes
        end = SweepEnd(
            self.sweep_id,
            self.now,
            report.exit_code,
            outcomes,
            runs,
            chain_runs,
            names,
            late=[*late, *self.native.alerts],
        )
        return sweep_alerts(self.ctx.store, self.ctx.alerting, end)

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
        # A start settled only now may have finished already: its event, handled by an earlier
        # sweep, is judged here with those read now (its outcome, its reload_failed alert).
        settled = ctx.store.settled_without_outcome(self.now - SETTLED_LATELY)
        finished = [*reader.runs.values(), *settled]
        commit.reload_outcomes = reload_outcome_rows(finished)
        commit.chain_runs = chain_run_rows(report.outcomes, self.sweep_id, self.now)
        commit.app_names = app_name_rows(self.apps, self.now)
        # An incomplete read, or a database that lost its memory, cannot see a day whole.
        known_since = self.now if not reader.complete else self.recovery
        runs = reader.runs.values()
        deadlines = sweep_deadlines(ctx.store, ctx.deadlines, runs, self.now, known_since)
        commit.deadline_days = deadlines.rows
        commit.alerts = self._alerts(report, finished, commit.chain_runs, deadlines.late)
        if window.late_check and reader.complete:
            commit.late_checked_at = self.now
        commit.high_water, commit.recovering_until = self.high_water, self.recovery
        commit.native_tasks = self.native.snapshot
        ctx.store.commit_sweep(commit, self.now, fence)
        if ctx.watermark is not None and self.high_water is not None:
            ctx.watermark.advance(self.high_water)

"""What a sweep reports: its ``SweepReport``, its exit code, and the lines it logs at the end."""

from __future__ import annotations

from datetime import datetime

from loguru import logger

from jobs.capacity import DEFERRED
from jobs.decide import Decision, TenantFacts
from jobs.reading import EventReader
from jobs.report import Outcome, SweepReport
from jobs.trigger import AUTH
from jobs.window import Window
from qlik.errors import AuthenticationError
from qlik.times import format_time


def sweep_report(
    sweep_id: str,
    window: Window,
    reader: EventReader,
    outcomes: list[Outcome],
    *,
    api_calls: dict[str, int],
    dry_run: bool,
    facts_failed: bool,
) -> SweepReport:
    """The report of one sweep, its exit code included."""
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
        exit_code=exit_code(reader, outcomes, facts_failed=facts_failed),
        late_events=reader.late,
        late_worst_s=reader.late_worst_s,
    )


def exit_code(reader: EventReader, outcomes: list[Outcome], *, facts_failed: bool) -> int:
    """2 when the credentials were refused; 1 when work failed and is left for the next sweep.

    A ``deferred`` successor is left for the next sweep too, but nothing failed: exit 0.
    """
    if any(outcome.reason == AUTH for outcome in outcomes):
        return AuthenticationError.exit_code
    failed = any(outcome.retry and outcome.reason != DEFERRED for outcome in outcomes)
    return 1 if facts_failed or failed or not reader.complete else 0


def log_recovery(until: datetime | None, why: str) -> None:
    """Say that this sweep judges with the lost-state rule, and why (see ``recovering_until``)."""
    if until is None:
        return
    if why == "first":
        logger.info(
            "first sweep of this database: successors reloaded after their source ended, "
            "whatever the outcome, are treated as handled"
        )
    elif why in ("new", "restored"):
        logger.warning(
            "this database has no record of events up to {} that a database here once handled "
            "({}: emptied, replaced or restored from an older copy): successors reloaded after "
            "their source ended, whatever the outcome, are treated as handled",
            format_time(until),
            why,
        )
    else:
        logger.debug("events up to {} are judged with the lost-state rule", format_time(until))


def warn_lost_state(decisions: list[Decision], facts: TenantFacts) -> None:
    """Say loudly which successors the lost-state rule may have held back."""
    if facts.recovering_until is None:
        return
    for decision in decisions:
        if decision.reason == "fresh" and decision.latest is not None:
            logger.warning(
                "{} not started: it reloaded after its source ended ({}, reload {}) and this "
                "database may have lost the record of starting it",
                decision.app_id,
                decision.latest.status,
                decision.latest.id,
            )


def log_summary(report: SweepReport, elapsed_s: float) -> None:
    """The one line each sweep ends with; ``elapsed_s`` includes the commit."""
    counts = ", ".join(f"{reason} {n}" for reason, n in report.reason_counts().items())
    late = f"; {report.late_events} late events" if report.late_events else ""
    logger.info(
        "sweep {}{} done in {:.1f}s: {} events read, {} new, {} invalid{}; decisions: {}; "
        "{} API calls; exit {}",
        report.sweep_id,
        " (dry run)" if report.dry_run else "",
        elapsed_s,
        report.events_read,
        report.events_new,
        report.events_invalid,
        late,
        counts or "none",
        sum(report.api_calls.values()),
        report.exit_code,
    )

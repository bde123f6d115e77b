"""Act on trigger decisions: record the intent, ask the tenant to reload, read its answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from loguru import logger

from jobs.access import resolve_access
from jobs.capacity import DEFERRED
from jobs.decide import Candidate, Decision
from jobs.ledger import intent_row
from jobs.report import Outcome, Result
from qlik.client import QlikClient
from qlik.errors import (
    AuthenticationError,
    NotSentError,
    QlikError,
    RateLimitedError,
    RetryableError,
    SlotUnavailableError,
)
from qlik.reloads import StartResult
from state.database import StateError
from state.lease import Fence, LeaseLostError
from state.store import Store

AUTH = "auth"
# Skips whose successor must be decided again by a later sweep: their events stay unhandled.
RETRIED_SKIPS = frozenset({"unsettled", DEFERRED})

_REFUSALS: dict[str, tuple[Result, str, bool]] = {
    "pending": ("skipped", "running", False),
    "forbidden": ("skipped", "access_denied", False),
    "not_found": ("skipped", "not_found", False),
    "quota": ("failed", "quota", True),
}


def trigger(
    client: QlikClient,
    store: Store,
    decision: Decision,
    sweep_id: str,
    now: datetime,
    *,
    auto_resolve: bool = False,
    fence: Fence | None = None,
) -> Outcome:
    """Start one reload; the intent is in the ledger before the request leaves.

    Failures are contained to this successor; an ``auth`` outcome tells the caller to stop.
    ``LeaseLostError`` (another sweeper took over) is raised: the sweep must stop at once.
    """
    try:
        decision = _with_previous(client, decision)
    except RetryableError as error:  # nothing was sent
        return _failed(decision, StateError(str(error)))
    intent = intent_row(decision, sweep_id)
    try:
        store.record_intent(intent, now, fence)
        # Checked again as each request goes out: a wait for a start slot can be long.
        result, access = _start(
            client, decision, auto_resolve, lambda: store.stamp_intent(intent, now, fence)
        )
    except LeaseLostError:
        raise
    except (StateError, QlikError) as error:
        return _failed(decision, error)
    return _outcome(decision, result, access)


def _failed(decision: Decision, error: StateError | QlikError) -> Outcome:
    """What a start that raised means for the next sweep, by the kind of error."""
    candidate, detail = decision.candidate, str(error)
    if isinstance(error, StateError):
        # Nothing sent: no POST goes out without its intent row (and its lease check).
        logger.error("reload of {} not started, will retry next sweep: {}", named(decision), error)
        return Outcome(candidate, "failed", "transient", retry=True, detail=detail)
    if isinstance(error, SlotUnavailableError):
        # Qlik's start budget is spent for the next minute: left for a later sweep, never sent.
        logger.warning("reload of {} deferred: {}", named(decision), error)
        return Outcome(candidate, "skipped", DEFERRED, retry=True, detail=detail)
    if isinstance(error, AuthenticationError):
        logger.error("reload of {} not started, credentials refused: {}", named(decision), error)
        return Outcome(candidate, "failed", AUTH, retry=True, detail=detail)
    if isinstance(error, RetryableError):
        logger.error("start of {} unconfirmed, checked next sweep: {}", named(decision), error)
        # A 429 is a definite refusal, a call never sent is none; anything else may have
        # reached the tenant.
        uncertain = not isinstance(error, RateLimitedError | NotSentError)
        previous = decision.latest.id if decision.latest else None
        return Outcome(
            candidate,
            "failed",
            "transient",
            retry=True,
            detail=detail,
            uncertain=uncertain,
            previous_reload_id=previous,
        )
    logger.error("reload of {} refused: {}", named(decision), error)
    return Outcome(candidate, "failed", "rejected", detail=detail)


def _with_previous(client: QlikClient, decision: Decision) -> Decision:
    """A start asked for directly has no source end to judge an interrupted start by.

    Its intent then needs the app's real latest reload, however old: any other reload found
    later is this start. (A successor's intent has its sources' end instead.)
    """
    if decision.candidate.runs or decision.latest is not None:
        return decision
    return replace(decision, latest=client.latest_reload(decision.app_id))


def _start(
    client: QlikClient, decision: Decision, auto_resolve: bool, before_send: Callable[[], None]
) -> tuple[StartResult, str]:
    """Start the reload; on 403 RELOADS-003, resolve the space access once and retry."""
    result = client.start_reload(decision.app_id, before_send)
    if result.kind != "forbidden" or not auto_resolve:
        return result, ""
    space_id = decision.app.space_id if decision.app else None
    change = resolve_access(client, decision.app_id, space_id, app_label=named(decision))
    if not change.granted:
        return result, change.detail
    return client.start_reload(decision.app_id, before_send), change.detail


def named(decision: Decision) -> str:
    """The successor as logs show it: ``<id> (<name>)``, or the id alone without a name."""
    name = decision.app.name if decision.app else ""
    return f"{decision.app_id} ({name})" if name else decision.app_id


def _why(candidate: Candidate) -> str:
    if not candidate.runs:
        return "on request"
    return "after " + ", ".join(candidate.source_apps)


def not_started_after_auth_failure(decision: Decision) -> Outcome:
    """A trigger left for the next sweep because the tenant refused the credentials."""
    logger.error("reload of {} not started: the tenant refused the credentials", named(decision))
    detail = "not started: an earlier start in this sweep was refused with 401"
    return Outcome(decision.candidate, "failed", AUTH, retry=True, detail=detail)


def _outcome(decision: Decision, result: StartResult, access: str = "") -> Outcome:
    candidate = decision.candidate
    if result.kind == "started" and result.reload is not None:
        logger.info(
            "triggered {} {}: reload {}", named(decision), _why(candidate), result.reload.id
        )
        reload_id = result.reload.id
        return Outcome(candidate, "triggered", "triggered", reload_id=reload_id, detail=access)
    decision_kind, reason, retry = _REFUSALS[result.kind]
    detail = "; ".join(part for part in (result.detail, access) if part)
    logger.warning("reload of {} not started ({}): {}", named(decision), reason, detail)
    return Outcome(candidate, decision_kind, reason, retry=retry, detail=detail)


def act_on_decisions(
    client: QlikClient,
    store: Store,
    decisions: list[Decision],
    sweep_id: str,
    now: datetime,
    *,
    dry_run: bool,
    auto_resolve: bool,
    fence: Fence | None = None,
) -> list[Outcome]:
    """Act on each decision in order; once the tenant refuses the credentials, start nothing more.

    Skips are recorded with their guard's reason; a dry run reports what it would start.
    """
    outcomes: list[Outcome] = []
    refused = False
    for decision in decisions:
        if decision.action == "skip":
            logger.info("skipped {} ({})", named(decision), decision.reason)
            retry = decision.reason in RETRIED_SKIPS
            outcome = Outcome(decision.candidate, "skipped", decision.reason, retry=retry)
        elif refused:
            outcome = not_started_after_auth_failure(decision)
        elif dry_run:
            logger.info("dry run: would start {} {}", named(decision), _why(decision.candidate))
            outcome = Outcome(decision.candidate, "triggered", "triggered")
        else:
            outcome = trigger(
                client, store, decision, sweep_id, now, auto_resolve=auto_resolve, fence=fence
            )
        refused = refused or outcome.reason == AUTH
        outcomes.append(outcome)
    return outcomes

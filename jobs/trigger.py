"""Act on trigger decisions: record the intent, ask the tenant to reload, read its answer."""

from __future__ import annotations

from datetime import datetime

from loguru import logger

from jobs.decide import Decision
from jobs.report import Outcome, Result
from qlik.client import QlikClient, StartResult
from qlik.errors import ApiError, AuthenticationError, RateLimitedError, RetryableError
from state.database import StateError
from state.store import LedgerRow, Store

AUTH = "auth"

_REFUSALS: dict[str, tuple[Result, str, bool]] = {
    "pending": ("skipped", "running", False),
    "forbidden": ("skipped", "access_denied", False),
    "not_found": ("skipped", "not_found", False),
    "quota": ("failed", "quota", True),
}


def trigger(
    client: QlikClient, store: Store, decision: Decision, sweep_id: str, now: datetime
) -> Outcome:
    """Start one reload; the intent is in the ledger before the request leaves.

    Failures are contained to this successor; an ``auth`` outcome tells the caller to stop.
    """
    candidate = decision.candidate
    try:
        store.record_intent(_intent(decision, sweep_id), now)
    except StateError as error:
        # No POST without an intent row: a crash after it could start the reload twice.
        logger.error("reload of {} not started, will retry next sweep: {}", candidate.app_id, error)
        return Outcome(candidate, "failed", "transient", retry=True, detail=str(error))
    try:
        result = client.start_reload(candidate.app_id)
    except AuthenticationError as error:
        logger.error("reload of {} not started, credentials refused: {}", candidate.app_id, error)
        return Outcome(candidate, "failed", AUTH, retry=True, detail=str(error))
    except RetryableError as error:
        logger.error("start of {} unconfirmed, checked next sweep: {}", candidate.app_id, error)
        # A 429 is a definite refusal; anything else may have reached the tenant.
        uncertain = not isinstance(error, RateLimitedError)
        previous = decision.latest.id if decision.latest else None
        return Outcome(
            candidate,
            "failed",
            "transient",
            retry=True,
            detail=str(error),
            uncertain=uncertain,
            previous_reload_id=previous,
        )
    except ApiError as error:
        logger.error("reload of {} refused: {}", candidate.app_id, error)
        return Outcome(candidate, "failed", "rejected", detail=str(error))
    return _outcome(decision, result)


def not_started_after_auth_failure(decision: Decision) -> Outcome:
    """A trigger left for the next sweep because the tenant refused the credentials."""
    logger.error("reload of {} not started: the tenant refused the credentials", decision.app_id)
    detail = "not started: an earlier start in this sweep was refused with 401"
    return Outcome(decision.candidate, "failed", AUTH, retry=True, detail=detail)


def _intent(decision: Decision, sweep_id: str) -> LedgerRow:
    candidate = decision.candidate
    return LedgerRow(
        sweep_id,
        candidate.app_id,
        decision="pending",
        reason="intent",
        sources=candidate.source_apps,
        source_reloads=candidate.source_reloads,
        state="intent",
        previous_reload_id=decision.latest.id if decision.latest else None,
        source_end=candidate.newest_source_end,
    )


def _outcome(decision: Decision, result: StartResult) -> Outcome:
    candidate = decision.candidate
    if result.kind == "started" and result.reload is not None:
        logger.info(
            "triggered {} after {}: reload {}",
            candidate.app_id,
            ", ".join(candidate.source_apps),
            result.reload.id,
        )
        return Outcome(candidate, "triggered", "triggered", reload_id=result.reload.id)
    decision_kind, reason, retry = _REFUSALS[result.kind]
    logger.warning("reload of {} not started ({}): {}", candidate.app_id, reason, result.detail)
    return Outcome(candidate, decision_kind, reason, retry=retry, detail=result.detail)

"""Before deciding anything, settle the starts whose outcome is unknown.

A sweep killed between its ``POST /api/v1/reloads`` and its commit, or a start whose answer
was lost (timeout, 5xx), leaves an intent row in the ledger. The tenant knows the truth: a
reload of that app created after its sources ended, other than the one known before the
start, means the start happened. Only tenant timestamps are compared, so clock skew between
this machine and Qlik Cloud cannot mislead it.

It fails closed. When the tenant cannot be asked (network, 5xx, a refusal), or when the start
may still land (sent less than its writer's in-flight window ago: twice the writer's request
deadline, so a gateway's 504 leaves the backend time to finish), the app is *unsettled*: no
sweep starts it again until a later one settles it. An app the tenant no longer has (404)
cannot be started twice: its intent is settled as not started.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from loguru import logger

from qlik.client import QlikClient
from qlik.errors import ApiError, RetryableError
from qlik.models import Reload
from state.store import LedgerRow, Store

NOT_STARTED = "not_started"


def in_flight_window(request_deadline_s: float) -> float:
    """How long a start may still land after it was sent: its deadline, and as long again."""
    return 2 * request_deadline_s


@dataclass(frozen=True)
class Reconciliation:
    """The intents settled now, and the apps whose earlier start is still unknown."""

    resolved: list[LedgerRow]
    unsettled: frozenset[str]


# How many of an app's newest reloads are searched for the one an interrupted start made.
SETTLE_DEPTH = 10


def was_started(intent: LedgerRow, latest: Reload | None) -> bool:
    """Could ``latest`` be the reload the start recorded by ``intent`` created?"""
    if latest is None or latest.id == intent.previous_reload_id:
        return False
    return intent.source_end is None or latest.creation_time >= intent.source_end


def this_start(intent: LedgerRow, newest: list[Reload], me: str | None) -> Reload | None:
    """The reload the intent's start created, among the app's newest reloads (newest first).

    Only reloads after the one known before the start, and after the sources ended, qualify;
    of those, one created by this identity (or by a user the tenant does not name) is the
    start: a schedule's reload meanwhile is not. When only others' reloads qualify but the
    listing was full, this start's may lie deeper: the oldest listed is taken for it rather
    than risk a second start.
    """
    ids = [reload.id for reload in newest]
    known = intent.previous_reload_id
    after = newest[: ids.index(known)] if known in ids else newest
    candidates = [reload for reload in after if was_started(intent, reload)]
    ours = [r for r in candidates if me is None or r.user_id is None or r.user_id == me]
    if ours:
        return ours[0]
    return candidates[-1] if candidates and len(newest) >= SETTLE_DEPTH else None


def reconcile_intents(
    client: QlikClient, store: Store, now: datetime, *, request_deadline_s: float
) -> Reconciliation:
    """Resolve every unfinished intent the tenant can answer for; the rest stay unsettled.

    ``request_deadline_s`` (``http_timeout_seconds``) sizes the in-flight window of rows
    written before each row kept its writer's own.
    """
    resolved, unsettled = [], set()
    ages = store.intent_ages()
    me = _Identity(client)
    for intent in store.unfinished_intents():
        age_s, window_s = ages.get((intent.sweep_id, intent.app_id), (None, None))
        in_flight_s = window_s or in_flight_window(request_deadline_s)
        settled = _settle(client, intent, me, age_s, in_flight_s)
        if settled is None:
            unsettled.add(intent.app_id)
            continue
        row, edges = settled
        store.resolve_intent(row, edges, now)
        resolved.append(row)
    return Reconciliation(resolved, frozenset(unsettled))


def _settle(
    client: QlikClient, intent: LedgerRow, me: _Identity, age_s: float | None, in_flight_s: float
) -> tuple[LedgerRow, list[dict[str, Any]]] | None:
    """What became of one intent (``resolution``), or None while the tenant cannot tell yet."""
    try:
        gone, newest = _ask(client, intent.app_id)
    except (RetryableError, ApiError) as error:
        logger.error(
            "cannot check the interrupted start of {} yet, so it is not started again until "
            "a later sweep can (exit 1): {}",
            intent.app_id,
            error,
        )
        return None
    latest = this_start(intent, newest, me.id() if newest else None)
    if not gone and latest is None and _may_be_in_flight(age_s, in_flight_s):
        logger.warning("start of {} may still be in flight; checked again later", intent.app_id)
        return None
    return resolution(intent, latest)


def _may_be_in_flight(age_s: float | None, in_flight_s: float) -> bool:
    """A start sent less than its in-flight window ago may yet land."""
    return age_s is not None and age_s < in_flight_s


def _ask(client: QlikClient, app_id: str) -> tuple[bool, list[Reload]]:
    """Whether the app is gone (404: nothing can start it twice), and its newest reloads."""
    try:
        return False, client.newest_reloads(app_id, SETTLE_DEPTH)
    except ApiError as error:
        if error.status == 404:
            return True, []
        raise


class _Identity:
    """Who this program is on the tenant, asked once and only when an intent needs it."""

    def __init__(self, client: QlikClient) -> None:
        self._client = client
        self._asked = False
        self._id: str | None = None

    def id(self) -> str | None:
        """The user id, or None when the tenant cannot say (then any user's reload counts)."""
        if not self._asked:
            self._asked = True
            try:
                self._id = self._client.current_user().id
            except (RetryableError, ApiError) as error:
                logger.warning("cannot ask who this identity is; any reload counts: {}", error)
        return self._id


def resolution(intent: LedgerRow, latest: Reload | None) -> tuple[LedgerRow, list[dict[str, Any]]]:
    """The ledger row an intent becomes, and the edges it settles (none if not started)."""
    if latest is not None and was_started(intent, latest):
        logger.warning(
            "interrupted start of {} did reach the tenant: reload {}; not starting it again",
            intent.app_id,
            latest.id,
        )
        row = replace(
            intent,
            decision="triggered",
            reason="triggered",
            reload_id=latest.id,
            state="done",
            detail="confirmed with the tenant after an interrupted start",
        )
        return row, row.settled_records()
    logger.warning(
        "interrupted start of {} did not reach the tenant; deciding it again", intent.app_id
    )
    row = replace(
        intent,
        decision="failed",
        reason=NOT_STARTED,
        state="done",
        detail="the start did not reach the tenant; decided again by a later sweep",
    )
    return row, []

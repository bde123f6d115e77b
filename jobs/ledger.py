"""The ledger rows that decisions and outcomes become: each shape is built here and only here.

A start's intent row is written before its request leaves (``jobs.trigger``). The row of its
outcome replaces it once the answer is known: at a sweep's commit (``jobs.commit``) or at the
end of a ``start`` (``jobs.start``). A row decided for good settles one edge per source
reload (``LedgerRow.settled_records``), as does an intent the tenant confirms later
(``jobs.reconcile``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jobs.decide import Decision
from jobs.report import Outcome
from state.rows import LedgerRow

PENDING = "pending"
INTENT = "intent"


def intent_row(decision: Decision, sweep_id: str) -> LedgerRow:
    """The row written before a start is sent, with the evidence ``jobs.reconcile`` needs.

    ``sweep_id`` is the sweep's id, or the ``start``'s.
    """
    candidate = decision.candidate
    return LedgerRow(
        sweep_id,
        candidate.app_id,
        decision=PENDING,
        reason=INTENT,
        sources=candidate.source_apps,
        source_reloads=candidate.source_reloads,
        state=INTENT,
        previous_reload_id=decision.latest.id if decision.latest else None,
        source_end=candidate.newest_source_end,
        chain_run_id=candidate.chain_run_id,
    )


def outcome_row(sweep_id: str, outcome: Outcome) -> LedgerRow:
    """The final row of one successor; a start that may have happened stays ``unconfirmed``."""
    candidate = outcome.candidate
    return LedgerRow(
        sweep_id,
        outcome.app_id,
        decision=outcome.decision,
        reason=outcome.reason,
        sources=candidate.source_apps,
        source_reloads=candidate.source_reloads,
        reload_id=outcome.reload_id,
        detail=outcome.detail,
        state="unconfirmed" if outcome.uncertain else "done",
        previous_reload_id=outcome.previous_reload_id,
        source_end=candidate.newest_source_end,
        # A started reload with no source (``start``) roots a chain run of its own.
        chain_run_id=candidate.chain_run_id or (None if candidate.runs else outcome.reload_id),
    )


def settled_edges(sweep_id: str, outcomes: Iterable[Outcome]) -> Iterator[dict[str, Any]]:
    """(source reload, successor) pairs decided for good, never decided again: those of
    every outcome not left for a later sweep."""
    return (
        edge
        for outcome in outcomes
        if not outcome.retry
        for edge in outcome_row(sweep_id, outcome).settled_records()
    )

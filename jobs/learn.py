"""What a sweep learns besides its decisions, at no extra API call.

Every reload-finished event of the tenant passes through the sweep, those of the reloads it
started included: so it learns how each of them ended, which chain run each decision belongs to
(the external reload at the root of its lineage), and the names of the apps it looked up.
All pure: the rows are written by ``Store.commit_sweep`` in the sweep's one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from jobs.decide import AppFacts, Decision
from jobs.report import Outcome
from qlik.events import FinishedReload
from qlik.times import format_time

OUTCOME_STATUS = {"success": "succeeded", "failure": "failed", "canceled": "canceled"}


def reload_outcome_rows(runs: Iterable[FinishedReload]) -> Iterator[dict[str, Any]]:
    """How each finished reload ended, and when the engine began it (None if the event did not
    say); the store keeps those of reloads this program started.

    Lazy, consumed once by the commit: a 90-day catch-up reads 100,000 reloads, whose rows
    held at once would cost some 30 MB for the few the program started.
    """
    return (
        {
            "reload_id": run.reload_id,
            "outcome": OUTCOME_STATUS.get(run.outcome, run.outcome),
            "ended_at": format_time(run.ended_at),
            "reload_started_at": format_time(run.started_at) if run.started_at else None,
        }
        for run in runs
    )


def newest_sources(decisions: Iterable[Decision]) -> set[str]:
    """The newest source reload of each decision: its chain run is that reload's."""
    return {
        max(decision.candidate.runs, key=lambda run: run.ended_at).reload_id
        for decision in decisions
        if decision.candidate.runs
    }


def with_chain_runs(decisions: list[Decision], roots: Mapping[str, str]) -> list[Decision]:
    """Each decision with its candidate's chain run: the root of its newest source reload.

    A bare candidate (``reload-chain start``) has none: its own reload, once started, roots the
    run its successors join (``jobs.ledger.outcome_row``).
    """
    return [
        replace(
            decision, candidate=replace(decision.candidate, chain_run_id=_root(decision, roots))
        )
        for decision in decisions
    ]


def _root(decision: Decision, roots: Mapping[str, str]) -> str | None:
    runs = decision.candidate.runs
    if not runs:
        return None
    newest = max(runs, key=lambda run: run.ended_at).reload_id
    return roots.get(newest, newest)


def chain_run_rows(
    outcomes: Iterable[Outcome], sweep_id: str, now: datetime
) -> list[dict[str, Any]]:
    """A row for every chain run rooted at one of this sweep's source reloads."""
    rows: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        for run in outcome.candidate.runs:
            if outcome.candidate.chain_run_id == run.reload_id:
                rows[run.reload_id] = {
                    "run_id": run.reload_id,
                    "root_app_id": run.app_id,
                    "root_status": OUTCOME_STATUS.get(run.outcome, run.outcome),
                    "root_ended_at": format_time(run.ended_at),
                    "sweep_id": sweep_id,
                    "updated_at": format_time(now),
                }
    return list(rows.values())


def app_name_rows(apps: Mapping[str, AppFacts], now: datetime) -> list[dict[str, Any]]:
    """The names the tenant gave for the apps the sweep looked up."""
    return [
        {"app_id": app_id, "name": app.name, "updated_at": format_time(now)}
        for app_id, app in apps.items()
        if app.name
    ]

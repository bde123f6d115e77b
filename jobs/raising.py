"""The sweep's side of alerts: what the pure rules (``jobs.alerts``) need from the database,
and the record of a sweep that aborted.

``sweep_alerts`` reads which of the failed reloads this sweep read were started by this program
and not yet judged, the recent sweeps' exit codes, the names and chain roots to show and the
outbox's last raises, then returns the outbox rows for the sweep's own transaction. A sweep
that aborted (an error from the tenant: 401, network down) is still recorded with its exit
code by ``aborted_record`` and ``Store.record_aborted_sweep``, with ``sweep_failing`` when due.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from loguru import logger

from jobs.alerts import (
    FAILING_STREAK,
    Alerting,
    Cause,
    FailedReload,
    Raising,
    SweepHistory,
    causes,
    outbox_rows,
)
from jobs.report import Outcome
from jobs.window import Window
from qlik.events import FinishedReload
from qlik.times import format_time
from state.alert_reads import AlertReads
from state.database import StateError
from state.lease import Fence
from state.store import Store


@dataclass(frozen=True)
class SweepEnd:
    """How a sweep ended, as far as alerts care; ``late``: causes the sweep found besides
    (missed deadlines, native tasks that stopped)."""

    sweep_id: str
    now: datetime
    exit_code: int
    outcomes: Sequence[Outcome] = ()
    runs: Iterable[FinishedReload] = ()
    chain_runs: Sequence[Mapping[str, Any]] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    error: str = ""
    late: Sequence[Cause] = ()


def sweep_alerts(store: Store, alerting: Alerting, end: SweepEnd) -> list[dict[str, Any]]:
    """The outbox rows this sweep raises (none without a route), messages scrubbed."""
    if not alerting.routes:
        return []
    reads = AlertReads.of(store)
    codes, last_success = reads.sweep_history(FAILING_STREAK - 1)
    history = SweepHistory((end.exit_code, *codes), last_success, end.error)
    found = causes(end.outcomes, failed_starts(reads, end.runs), history) + list(end.late)
    if not found:
        return []
    names, roots = _names_and_roots(reads, found, end)
    last_raised = reads.last_raised({cause.app_id for cause in found})
    raising = Raising(end.sweep_id, end.now, alerting, last_raised, names, roots)
    return [row | {"message": store.scrub(row["message"])} for row in outbox_rows(found, raising)]


def record_abort(
    store: Store, alerting: Alerting, record: dict[str, Any], end: SweepEnd, fence: Fence
) -> bool:
    """Write an aborted sweep's record and alerts; False (logged) when the database refused,
    or another sweeper took the lease (``LeaseLostError``): then nothing is written."""
    try:
        alerts = sweep_alerts(store, alerting, end)
        store.record_aborted_sweep(record, alerts, end.now, fence)
    except StateError as failure:
        logger.warning("sweep {} not recorded: {}", end.sweep_id, failure)
        return False
    return True


def failed_starts(reads: AlertReads, runs: Iterable[FinishedReload]) -> list[FailedReload]:
    """The failed reloads among ``runs`` that this program started, not yet judged.

    A reload retried by the engine under the same id that also succeeded in ``runs`` is not.
    """
    runs = list(runs)
    succeeded = {run.reload_id for run in runs if run.outcome == "success"}
    failed = {
        run.reload_id: run
        for run in runs
        if run.outcome == "failure" and run.reload_id not in succeeded
    }
    return [
        FailedReload(reload_id, app_id, chain_run_id, failed[reload_id].ended_at)
        for reload_id, (app_id, chain_run_id) in sorted(reads.unjudged_starts(failed).items())
    ]


def _names_and_roots(
    reads: AlertReads, found: list[Cause], end: SweepEnd
) -> tuple[dict[str, str], dict[str, str]]:
    """The names to show, and the root app of each chain run the causes belong to."""
    roots = {str(row["run_id"]): str(row["root_app_id"]) for row in end.chain_runs}
    wanted = {cause.chain_run_id for cause in found if cause.chain_run_id} - set(roots)
    roots |= reads.root_apps(wanted)
    apps = {cause.app_id for cause in found if cause.app_id} | set(roots.values())
    names = reads.app_names(apps - set(end.names)) | {
        app_id: name for app_id, name in end.names.items() if name
    }
    return names, roots


def aborted_record(
    end: SweepEnd, duration_s: float, api_calls: Counter[str], window: Window | None
) -> dict[str, Any]:
    """The ``sweeps`` row of a sweep that ended with an error: what it knew, and its code."""
    duration_s = round(duration_s, 3)
    return {
        "sweep_id": end.sweep_id,
        "started_at": format_time(end.now),
        "finished_at": format_time(end.now + timedelta(seconds=duration_s)),
        "dry_run": 0,
        "window_from": format_time(window.start) if window else None,
        "window_to": format_time(window.end) if window else None,
        "events_read": 0,
        "events_new": 0,
        "events_invalid": 0,
        "sources": 0,
        "decisions": {},
        "api_calls": dict(api_calls),
        "duration_s": duration_s,
        "exit_code": end.exit_code,
        "late_events": 0,
        "late_worst_s": 0.0,
    }

"""Which alerts a sweep raises: pure rules from what it did and read, to the outbox rows.

``causes`` turns the sweep's outcomes, the failed reloads it started and the recent sweeps'
exit codes into ``Cause``s (the caller adds ``late`` ones); ``outbox_rows`` routes each cause
to every URL destination that takes its kind, unless the same (destination, kind, app) was
raised within the route's ``repeat_minutes``. Nothing here reads the clock or the database.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from jobs.report import Outcome
from qlik.times import format_time

RELOAD_FAILED = "reload_failed"
START_FAILED = "start_failed"
NOT_FOUND = "not_found"
SWEEP_FAILING = "sweep_failing"
LATE = "late"
NATIVE_TASK_DISABLED = "native_task_disabled"
KINDS = (RELOAD_FAILED, START_FAILED, NOT_FOUND, SWEEP_FAILING, LATE, NATIVE_TASK_DISABLED)
# Starts the tenant refused for good (``jobs.trigger``); a transient failure is retried instead.
START_REFUSALS = {
    "access_denied": "the tenant refused the start (403) and space access could not be resolved",
    "quota": "the tenant's reload quota is used up",
    "rejected": "the tenant rejected the start",
}
FAILING_STREAK = 3
FAILED_EXITS = frozenset({1, 2})
PENDING = "pending"
_APP_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


class Route(Protocol):
    """Where alerts go (``scheduler.alert_config.AlertRoute``): URL destinations, kinds, repeat."""

    @property
    def destinations(self) -> tuple[str, ...]: ...

    @property
    def kinds(self) -> frozenset[str]: ...

    @property
    def repeat_minutes(self) -> int: ...


@dataclass(frozen=True)
class Alerting:
    """What a sweep needs to raise alerts: the routes, and the tenant its links point into."""

    routes: tuple[Route, ...] = ()
    tenant_url: str = ""


@dataclass(frozen=True)
class Cause:
    """Something to alert about. ``app_id`` is empty for ``sweep_failing``.

    ``streak_since``: a ``sweep_failing`` raised after this time (the last successful sweep)
    already covers this streak; None when no sweep ever succeeded.
    """

    kind: str
    app_id: str
    reason: str
    chain_run_id: str | None = None
    streak_since: datetime | None = None


@dataclass(frozen=True)
class FailedReload:
    """A reload this program started whose finish event says it failed."""

    reload_id: str
    app_id: str
    chain_run_id: str | None
    ended_at: datetime


@dataclass(frozen=True)
class SweepHistory:
    """Exit codes of this sweep and the ones before it, newest first; the last success."""

    exit_codes: tuple[int, ...]
    last_success: datetime | None = None
    error: str = ""  # why this sweep ended as it did, when it aborted


@dataclass(frozen=True)
class Raising:
    """Everything ``outbox_rows`` needs besides the causes."""

    sweep_id: str
    now: datetime
    alerting: Alerting
    # The outbox's last raise per (destination, kind, app id).
    last_raised: Mapping[tuple[str, str, str], datetime] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
    # Each chain run's root app, by chain run id.
    roots: Mapping[str, str] = field(default_factory=dict)


def causes(
    outcomes: Iterable[Outcome], failed: Iterable[FailedReload], history: SweepHistory
) -> list[Cause]:
    """The sweep's alert causes, but ``late`` (judged by the deadlines, given by the caller)."""
    found = [_reload_failed(reload) for reload in failed]
    found += [cause for outcome in outcomes if (cause := _of_outcome(outcome))]
    streak = sweep_failing(history)
    return found + ([streak] if streak else [])


def sweep_failing(history: SweepHistory) -> Cause | None:
    """``sweep_failing`` when this sweep and the two before it ended with exit 1 or 2."""
    codes = history.exit_codes[:FAILING_STREAK]
    if len(codes) < FAILING_STREAK or not FAILED_EXITS.issuperset(codes):
        return None
    shown = ", ".join(str(code) for code in codes)
    reason = f"the last {FAILING_STREAK} sweeps ended with exit {shown} (newest first)"
    if history.error:
        reason += f"; the last one: {history.error}"
    return Cause(SWEEP_FAILING, "", reason, streak_since=history.last_success)


def outbox_rows(found: Iterable[Cause], raising: Raising) -> list[dict[str, Any]]:
    """One pending outbox row per cause and URL destination that takes it, when due."""
    rows: dict[str, dict[str, Any]] = {}
    for cause in found:
        for route in raising.alerting.routes:
            if cause.kind not in route.kinds:
                continue
            for destination in route.destinations:
                alert_id = _alert_id(raising.sweep_id, destination, cause)
                if alert_id not in rows and _due(cause, destination, route, raising):
                    rows[alert_id] = _row(alert_id, destination, cause, raising)
    return list(rows.values())


def message(cause: Cause, raising: Raising) -> dict[str, Any]:
    """The fields of ``scheduler.alert_send.AlertMessage``: app, chain root, reason, link."""
    root = raising.roots.get(cause.chain_run_id or "")
    root = root if root != cause.app_id else None
    names, tenant = raising.names, raising.alerting.tenant_url
    return {
        "kind": cause.kind,
        "app_id": cause.app_id,
        "app_name": names.get(cause.app_id) or None,
        "root_app_id": root,
        "root_app_name": (names.get(root) or None) if root else None,
        "reason": cause.reason,
        # An app that does not exist has no page to open.
        "app_link": None if cause.kind == NOT_FOUND else app_link(tenant, cause.app_id),
    }


def app_link(tenant_url: str, app_id: str) -> str | None:
    """The app's page in the hub (as ``scheduler.alert_send.hub_link``); None for a script."""
    if not tenant_url or _APP_GUID.fullmatch(app_id) is None:
        return None
    return f"{tenant_url.rstrip('/')}/sense/app/{app_id.lower()}"


def _reload_failed(reload: FailedReload) -> Cause:
    reason = (
        f"reload {reload.reload_id}, started by reload-chain, ended in failure at "
        f"{format_time(reload.ended_at)}"
    )
    return Cause(RELOAD_FAILED, reload.app_id, reason, reload.chain_run_id)


def _of_outcome(outcome: Outcome) -> Cause | None:
    run = outcome.candidate.chain_run_id
    detail = f": {outcome.detail}" if outcome.detail else ""
    if outcome.reason == NOT_FOUND:
        after = ", ".join(outcome.candidate.source_apps) or "a request"
        reason = f"a chain names it after {after}, but the tenant has no such app or script"
        return Cause(NOT_FOUND, outcome.app_id, reason + detail, run)
    if outcome.reason in START_REFUSALS:
        reason = f"not started ({outcome.reason}): {START_REFUSALS[outcome.reason]}{detail}"
        return Cause(START_FAILED, outcome.app_id, reason, run)
    return None


def _due(cause: Cause, destination: str, route: Route, raising: Raising) -> bool:
    last = raising.last_raised.get((destination, cause.kind, cause.app_id))
    if last is None:
        return True
    if cause.kind == SWEEP_FAILING and (cause.streak_since is None or last > cause.streak_since):
        return False  # raised once per streak
    return raising.now - last >= timedelta(minutes=route.repeat_minutes)


def _alert_id(sweep_id: str, destination: str, cause: Cause) -> str:
    key = "\n".join((sweep_id, destination, cause.kind, cause.app_id))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _row(alert_id: str, destination: str, cause: Cause, raising: Raising) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "destination": destination,
        "kind": cause.kind,
        "app_id": cause.app_id,
        "chain_run_id": cause.chain_run_id,
        "message": json.dumps(message(cause, raising)),
        "raised_at": format_time(raising.now),
        "sweep_id": raising.sweep_id,
        "state": PENDING,
        "attempts": 0,
    }

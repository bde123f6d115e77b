"""The pure heart of a sweep: finished reloads + tenant facts + settings + now -> decisions.

Nothing here performs I/O or reads the clock, so every rule is testable with plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from jobs.capacity import cap_active
from jobs.edges import Edge, Join, matches
from jobs.native import NativeTasks, firing_task
from qlik.events import FinishedReload
from qlik.models import Reload

Action = Literal["trigger", "skip"]


class DecisionSettings(Protocol):
    """The settings ``decide`` reads."""

    @property
    def tolerance_minutes(self) -> int: ...

    @property
    def only_managed_spaces(self) -> bool: ...

    @property
    def max_active_reloads(self) -> int | None: ...


@dataclass(frozen=True)
class AppFacts:
    """What the tenant says about an app or script."""

    app_id: str
    name: str = ""
    space_id: str | None = None
    resource_type: str = "app"


@dataclass(frozen=True)
class TenantFacts:
    """Everything ``decide`` needs to know about the tenant, gathered before deciding."""

    edges: Mapping[str, Sequence[Edge]]
    apps: Mapping[str, AppFacts] = field(default_factory=dict)
    space_types: Mapping[str, str] = field(default_factory=dict)
    latest_reloads: Mapping[str, Reload | None] = field(default_factory=dict)
    settled: frozenset[tuple[str, str]] = frozenset()
    # Apps of the chain that led to each source reload (for the cycle guard).
    lineage: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # When each join member last finished a reload successfully.
    last_success: Mapping[str, datetime] = field(default_factory=dict)
    # Apps with an earlier start that may have happened and could not be checked yet.
    unsettled: frozenset[str] = frozenset()
    # Source reloads that ended by then may have been handled by a database since lost (new,
    # emptied or restored from an older copy); None when the database remembers everything.
    recovering_until: datetime | None = None
    # Reloads active in the tenant now (QUEUED, RELOADING, CANCELING); None when not asked
    # (``max_active_reloads`` unset).
    active_reloads: int | None = None
    # The tenant's native reload tasks; None when not asked (nothing to trigger, or unreadable).
    native: NativeTasks | None = None


@dataclass(frozen=True)
class Candidate:
    """A successor app with every finished source reload that named it this sweep."""

    app_id: str
    runs: tuple[FinishedReload, ...]
    joins: tuple[Join, ...] = ()  # joins whose members named it
    plain: bool = True  # named by at least one ordinary edge
    # The chain run it belongs to (``jobs.learn``), set by the sweep once decided.
    chain_run_id: str | None = None

    @property
    def source_apps(self) -> tuple[str, ...]:
        """Distinct source app ids, in the order they were first seen."""
        return tuple(dict.fromkeys(run.app_id for run in self.runs))

    @property
    def source_reloads(self) -> tuple[str, ...]:
        """Distinct source reload ids."""
        return tuple(dict.fromkeys(run.reload_id for run in self.runs))

    @property
    def newest_source_end(self) -> datetime | None:
        """When the most recent of its source reloads ended (None for a bare candidate)."""
        return max((run.ended_at for run in self.runs), default=None)


@dataclass(frozen=True)
class Decision:
    """What to do with one successor, and the one reason why."""

    candidate: Candidate
    action: Action
    reason: str
    latest: Reload | None = None  # the successor's latest reload as known when deciding
    app: AppFacts | None = None  # what the tenant said about the successor

    @property
    def app_id(self) -> str:
        """The successor's id."""
        return self.candidate.app_id


def candidates(
    runs: Iterable[FinishedReload],
    edges: Mapping[str, Sequence[Edge]],
    settled: frozenset[tuple[str, str]] = frozenset(),
) -> dict[str, Candidate]:
    """Successors named by these runs' matching edges, one per app; settled edges are left out."""
    # Dicts as ordered sets: a run named twice (two edges to one target) counts once.
    named: dict[str, dict[FinishedReload, None]] = {}
    via: dict[str, list[Edge]] = {}
    for run in runs:
        for edge in edges.get(run.app_id, ()):
            if matches(edge.on, run.outcome) and (run.reload_id, edge.target) not in settled:
                named.setdefault(edge.target, {})[run] = None
                via.setdefault(edge.target, []).append(edge)
    return {app_id: _candidate(app_id, list(found), via[app_id]) for app_id, found in named.items()}


def _candidate(app_id: str, runs: list[FinishedReload], edges: list[Edge]) -> Candidate:
    joins = tuple(dict.fromkeys(edge.join for edge in edges if edge.join is not None))
    plain = any(edge.join is None for edge in edges)
    return Candidate(app_id, tuple(runs), joins, plain)


def decide(
    runs: Iterable[FinishedReload],
    facts: TenantFacts,
    settings: DecisionSettings,
    now: datetime,
) -> list[Decision]:
    """One decision per successor named by ``runs``, in the order successors were first named."""
    decisions = []
    for named in candidates(runs, facts.edges, facts.settled).values():
        candidate = without_cycles(named, facts)
        reason = _app_reason(named, facts, settings) or (
            "cycle" if candidate is None else skip_reason(candidate, facts, settings, now)
        )
        action: Action = "skip" if reason else "trigger"
        latest = facts.latest_reloads.get(named.app_id)
        app = facts.apps.get(named.app_id)
        decisions.append(Decision(candidate or named, action, reason or "triggered", latest, app))
    return cap_active(decisions, facts.active_reloads, settings.max_active_reloads)


FORCIBLE = frozenset({"tolerance", "fresh"})


def decide_bare(
    candidate: Candidate,
    facts: TenantFacts,
    settings: DecisionSettings,
    now: datetime,
    *,
    force: bool = False,
) -> Decision:
    """The decision for an app asked for directly (``start``), not named by any source reload.

    The same rules as a sweep's successors; with no source runs, "fresh", "cycle" and joins
    cannot apply, so the reason is one of not_found, not_managed, running, unsettled,
    tolerance, triggered. ``force`` (``start --force``) sets the storm guards aside
    (``FORCIBLE``); the guards after them need source runs, so none is skipped over.
    A reload that is running, or a start that may still land, is never forced.
    """
    reason = skip_reason(candidate, facts, settings, now)
    if force and reason in FORCIBLE:
        reason = None
    action: Action = "skip" if reason else "trigger"
    latest = facts.latest_reloads.get(candidate.app_id)
    app = facts.apps.get(candidate.app_id)
    return Decision(candidate, action, reason or "triggered", latest, app)


def without_cycles(candidate: Candidate, facts: TenantFacts) -> Candidate | None:
    """The candidate without source runs whose chain already reloaded it; None if none is left."""
    runs = tuple(
        run
        for run in candidate.runs
        if candidate.app_id not in facts.lineage.get(run.reload_id, frozenset({run.app_id}))
    )
    return replace(candidate, runs=runs) if runs else None


def skip_reason(
    candidate: Candidate, facts: TenantFacts, settings: DecisionSettings, now: datetime
) -> str | None:
    """Why this successor must not be reloaded now, or None if it should be."""
    latest = facts.latest_reloads.get(candidate.app_id)
    return (
        _app_reason(candidate, facts, settings)
        or _unsettled_reason(candidate, facts)
        or _native_reason(candidate, facts)
        or _history_reason(candidate, latest, settings, now)
        or _lost_state_reason(candidate, latest, facts)
        or _join_reason(candidate, latest, facts, now)
    )


def _unsettled_reason(candidate: Candidate, facts: TenantFacts) -> str | None:
    """An earlier start of it may have reached the tenant: never start it twice meanwhile."""
    return "unsettled" if candidate.app_id in facts.unsettled else None


def _lost_state_reason(
    candidate: Candidate, latest: Reload | None, facts: TenantFacts
) -> str | None:
    """Without the state that handled a source reload, a reload after it counts as its start.

    A new, emptied or restored database does not know which successors it already started;
    a successor reloaded after its source ended, whatever that reload's outcome, is taken as
    handled rather than risk starting it a second time.
    """
    newest = candidate.newest_source_end
    until = facts.recovering_until
    if latest is None or newest is None or until is None:
        return None
    recovering = any(run.event_time <= until for run in candidate.runs)
    return "fresh" if recovering and latest.creation_time > newest else None


def _native_reason(candidate: Candidate, facts: TenantFacts) -> str | None:
    """A Qlik Cloud task starts it after its newest source reload: once is enough.

    Before the reload history: Qlik's own start is usually why it is already running or
    fresh, and this says so (and that the hop is declared twice)."""
    if facts.native is None or not candidate.runs:
        return None
    newest = max(candidate.runs, key=lambda run: run.ended_at)
    started_here = newest.reload_id in facts.lineage
    task = firing_task(candidate.app_id, newest, facts.native, started_here=started_here)
    return "native_task" if task is not None else None


def _join_reason(
    candidate: Candidate, latest: Reload | None, facts: TenantFacts, now: datetime
) -> str | None:
    """A successor named only by joins waits until one of its joins is complete."""
    if candidate.plain or not candidate.joins:
        return None
    if any(join_complete(join, latest, facts.last_success, now) for join in candidate.joins):
        return None
    return "join_waiting"


def join_complete(
    join: Join, latest: Reload | None, last_success: Mapping[str, datetime], now: datetime
) -> bool:
    """Every member succeeded within the window, and after the target's last reload started."""
    earliest = now - timedelta(minutes=join.within_minutes)
    if latest is not None:
        earliest = max(earliest, latest.start_time or latest.creation_time)
    return all(
        (ended := last_success.get(member)) is not None and ended > earliest
        for member in join.after
    )


def _app_reason(candidate: Candidate, facts: TenantFacts, settings: DecisionSettings) -> str | None:
    app = facts.apps.get(candidate.app_id)
    if app is None:
        return "not_found"
    if settings.only_managed_spaces and not _in_managed_space(app, facts):
        return "not_managed"
    return None


def _history_reason(
    candidate: Candidate, latest: Reload | None, settings: DecisionSettings, now: datetime
) -> str | None:
    if latest is None:
        return None
    if latest.is_active:
        return "running"
    if now - latest.creation_time < timedelta(minutes=settings.tolerance_minutes):
        return "tolerance"
    started = latest.start_time or latest.creation_time
    newest = candidate.newest_source_end
    if latest.status == "SUCCEEDED" and newest is not None and started > newest:
        return "fresh"
    return None


def _in_managed_space(app: AppFacts, facts: TenantFacts) -> bool:
    return app.space_id is not None and facts.space_types.get(app.space_id) == "managed"

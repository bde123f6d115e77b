"""What deciding a set of successors needs to know from the tenant, and no more.

Pure, like ``jobs.decide`` beside it: candidates + the facts known so far + settings + now ->
the questions left. ``jobs.facts`` asks in stages (the apps, then their spaces, then their
reloads) and calls ``needs`` again as answers arrive: each answer narrows what is left.

A successor's reload history is read only if ``decide`` gets that far: not when it is
``not_found``, ``not_managed``, ``unsettled`` or all its source runs are a ``cycle``. A
successor named only by joins is asked exactly (``join_complete`` compares with its target's
last reload however old). Every other one needs its reloads created since its ``horizon``:

* ``running``: an active reload, however old: the active listing finds those, not bounded;
* ``tolerance``: created after ``now - tolerance``;
* lost state (``_lost_state_reason``): created after the newest source end;
* ``fresh``: succeeded and *started* after the newest source end (of the runs the cycle
  guard keeps), so created at most its queue wait before that end.

So a reload created before ``min(now - tolerance, newest end - QUEUE_MARGIN)`` cannot change
the decision unless it waited in the queue longer than ``QUEUE_MARGIN`` across that end and
has already succeeded; missing such a reload costs one redundant reload, never a lost one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from jobs.decide import Candidate, DecisionSettings, TenantFacts, skip_reason, without_cycles

# A reload waits in the tenant's queue for seconds when capacity is free, minutes when it is
# full. Two minutes also covers the skew between the audit service's endTime and the reloads
# service's creationTime, and costs the listing only two minutes of the tenant's reloads.
QUEUE_MARGIN = timedelta(minutes=2)
# Reasons ``decide`` gives before it looks at a reload history.
BEFORE_HISTORY = frozenset({"not_found", "not_managed", "unsettled"})


@dataclass(frozen=True)
class Needs:
    """The facts still needed to decide a set of candidates."""

    apps: frozenset[str] = frozenset()  # successors to look up (items)
    spaces: frozenset[str] = frozenset()  # spaces whose type decides "not_managed"
    join_members: frozenset[str] = frozenset()  # whose last success joins compare
    join_targets: frozenset[str] = frozenset()  # newest reload however old, asked exactly
    horizons: Mapping[str, datetime] = field(default_factory=dict)  # listing, per successor
    count_active: bool = False  # ``max_active_reloads``: the tenant's active reloads

    @property
    def reloads(self) -> bool:
        """Whether any reload must be asked about (listing, exact lookups or the count)."""
        return bool(self.horizons or self.join_targets or self.count_active)


def needs(
    candidates: Iterable[Candidate],
    known: TenantFacts,
    settings: DecisionSettings,
    now: datetime,
) -> Needs:
    """What deciding ``candidates`` still needs, given the facts ``known`` so far.

    ``known.apps`` holds the apps looked up (an app missing from it is ``not_found`` once the
    lookup is done) and ``known.space_types`` the spaces asked: the reload part (horizons,
    join targets, the count) is only right once both have been answered.
    """
    named = list(candidates)
    history = [c for c in named if reads_history(c, known, settings, now)]
    exact = frozenset(c.app_id for c in history if c.joins and not c.plain)
    return Needs(
        apps=frozenset(c.app_id for c in named if c.app_id not in known.apps),
        spaces=_spaces(named, known, settings),
        join_members=frozenset(m for c in named for join in c.joins for m in join.after),
        join_targets=exact,
        horizons={
            c.app_id: horizon(c, known, settings, now) for c in history if c.app_id not in exact
        },
        count_active=settings.max_active_reloads is not None and bool(history),
    )


def reads_history(
    candidate: Candidate, known: TenantFacts, settings: DecisionSettings, now: datetime
) -> bool:
    """Whether ``decide`` reads this candidate's latest reload (it may be started, then)."""
    if candidate.runs and without_cycles(candidate, known) is None:
        return False
    blank = replace(known, latest_reloads={})
    return skip_reason(candidate, blank, settings, now) not in BEFORE_HISTORY


def horizon(
    candidate: Candidate, known: TenantFacts, settings: DecisionSettings, now: datetime
) -> datetime:
    """Reloads of this successor created before this cannot change its decision.

    ``min(now - tolerance, newest source end - QUEUE_MARGIN)``, the end taken over the runs
    the cycle guard keeps; ``now - tolerance`` for a candidate with no runs (``start``).
    """
    tolerance_start = now - timedelta(minutes=settings.tolerance_minutes)
    kept = without_cycles(candidate, known) if candidate.runs else None
    newest = kept.newest_source_end if kept else None
    return tolerance_start if newest is None else min(tolerance_start, newest - QUEUE_MARGIN)


def _spaces(
    named: list[Candidate], known: TenantFacts, settings: DecisionSettings
) -> frozenset[str]:
    """The spaces of the successors found, when ``only_managed_spaces`` asks their type."""
    if not settings.only_managed_spaces:
        return frozenset()
    found = (known.apps.get(c.app_id) for c in named)
    spaces = {app.space_id for app in found if app is not None and app.space_id}
    return frozenset(spaces - set(known.space_types))

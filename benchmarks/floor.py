"""The least reload lookups any correct sweep of a scenario can make: the tight floor.

A successor's decision can only change with a reload created since its horizon,
``min(now - tolerance, the newest end of its sources)`` (``jobs.needs``, here without the
queue margin the product adds), or with an active reload however old. To decide it, a sweep
must either read the tenant-wide listing (newest first, 100 a page) down to its newest
reload or past that horizon, or ask for it alone (one call). A successor settled by the
listing with no reload since its horizon still needs one call for the active reloads
created before where the listing stopped, unless the listing read the whole tenant.

The floor is the cheapest mix: ``pages`` listing pages, one call for each successor deeper
than that, and the active-reload call when it is needed. Times are minutes before the
scenario's start; the sweep runs seconds later, which moves no horizon by a whole page.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace

from jobs.edges import edges_from_tags, matches
from simulator.scenario import Scenario

PAGE = 100
TAG_PREFIX = "next-"  # the setting's default, which the benchmark's sweeps use


@dataclass(frozen=True)
class ListingFloor:
    """The cheapest way to learn every successor's reload facts, and its parts."""

    rows: int  # reloads the listing alone reads down to its deepest successor's horizon
    pages: int  # listing pages in the cheapest mix
    other_calls: int  # per-successor calls of that mix, and the active-reload call

    @property
    def calls(self) -> int:
        """Every reload lookup of the cheapest mix."""
        return self.pages + self.other_calls


@dataclass(frozen=True)
class _Depth:
    rows: int  # rows read newest first before this successor is settled
    recent: bool  # settled by a reload of its own created since its horizon


@dataclass
class _Created:
    """When the scenario's past reloads were created, in minutes ago."""

    ages: list[float] = field(default_factory=list)  # every reload, newest first
    newest: dict[str, float] = field(default_factory=dict)  # each app's newest


def listing_floor(scenario: Scenario, tolerance_minutes: float) -> ListingFloor:
    """The tight floor of the reload lookups of one sweep over every event of ``scenario``."""
    created = _created(scenario)
    depths = [
        _depth(created, target, horizon)
        for target, horizon in _horizons(scenario, tolerance_minutes).items()
    ]
    total = len(created.ages)
    best = ListingFloor(max((depth.rows for depth in depths), default=0), 0, len(depths))
    for pages in range(1, max(1, math.ceil(total / PAGE)) + 1):
        read = pages * PAGE
        deeper = sum(1 for depth in depths if depth.rows > read)
        listed_empty = any(depth.rows <= read and not depth.recent for depth in depths)
        active = 1 if listed_empty and read < total else 0
        if pages + deeper + active < best.calls:
            best = replace(best, pages=pages, other_calls=deeper + active)
    return best


def _horizons(scenario: Scenario, tolerance_minutes: float) -> dict[str, float]:
    """Per successor a source reload names through its tags: its horizon, in minutes ago."""
    apps = {app.key: app for app in scenario.apps}
    keys = {app.id.lower(): app.key for app in scenario.apps}
    newest: dict[str, float] = {}
    for reload in scenario.reloads:
        source = apps[reload.app]
        if reload.ended_minutes_ago is None:
            continue
        outcome = reload.outcome or source.outcome
        for edge in edges_from_tags(source.id, source.tags, TAG_PREFIX)[0]:
            if matches(edge.on, outcome) and edge.target in keys:
                target = keys[edge.target]
                newest[target] = min(newest.get(target, math.inf), reload.ended_minutes_ago)
    return {target: max(tolerance_minutes, ended) for target, ended in newest.items()}


def _created(scenario: Scenario) -> _Created:
    apps = {app.key: app for app in scenario.apps}
    created = _Created()
    for reload in scenario.reloads:
        if reload.ended_minutes_ago is None:
            continue
        app = apps[reload.app]
        ago = reload.ended_minutes_ago + (app.queue_seconds + app.duration_seconds) / 60
        created.ages.append(ago)
        created.newest[reload.app] = min(created.newest.get(reload.app, math.inf), ago)
    created.ages.sort()
    return created


def _depth(created: _Created, target: str, horizon: float) -> _Depth:
    """How many rows, newest first, the listing reads before ``target`` is settled: down to
    its own newest reload if created since its horizon, else to the first row before it."""
    own = created.newest.get(target)
    if own is not None and own <= horizon:
        return _Depth(bisect.bisect_left(created.ages, own) + 1, recent=True)
    since = bisect.bisect_right(created.ages, horizon)
    return _Depth(min(since + 1, len(created.ages)), recent=False)

"""The benchmark's tenant: sources tagged ``next-<successor>``, and their finished reloads.

Also the floor: the least API calls any correct sweep of a workload can make.
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass

from benchmarks.floor import ListingFloor, listing_floor
from benchmarks.simulated import API_KEY, TIME_SCALE, tenant_faults
from scheduler.settings import Settings
from simulator.scenario import AppSpec, ReloadSpec, Scenario, SpaceSpec, UserSpec

PAGE = 100
# Historical source reloads end between these many minutes ago; the sweep looks back further.
NEWEST_MINUTES, OLDEST_MINUTES = 1.0, 80.0
LOOKBACK_MINUTES = 90
UNLIMITED = 10**9
APPS_PER_SPACE = 100
# Started successors stay queued for the whole run: the tenant does not change under the
# measurement, and a second start of the same successor is answered 429 (already pending).
TARGET_QUEUE_SECONDS = 3600.0
# The benchmark's sweeps run with the default settings.
TOLERANCE_MINUTES: int = Settings.model_fields["tolerance_minutes"].default


@dataclass(frozen=True)
class Size:
    """E events from S source apps whose tags name T successors."""

    events: int
    sources: int
    successors: int

    @property
    def label(self) -> str:
        """``20000/2000/500``."""
        return f"{self.events}/{self.sources}/{self.successors}"

    @classmethod
    def parse(cls, text: str) -> Size:
        """``events/sources/successors``, e.g. ``2000/500/200``."""
        try:
            events, sources, successors = (int(part) for part in text.split("/"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"a size is events/sources/successors, not {text!r}"
            ) from None
        if min(events, sources, successors) < 1 or sources > events:
            raise argparse.ArgumentTypeError(f"size {text!r}: need 1 <= sources <= events")
        return cls(events, sources, successors)


@dataclass(frozen=True)
class Workload:
    """A scenario and what its floor is made of."""

    size: Size
    fanout: int
    scenario: Scenario
    listing: ListingFloor

    @property
    def recent_reloads(self) -> int:
        """Reloads the listing alone reads down to the deepest successor's horizon."""
        return self.listing.rows


# --- the scenario -----------------------------------------------------------------------------


def build_workload(
    size: Size,
    *,
    latency_ms: float = 50.0,
    fanout: int = 1,
    seed: int = 0,
    span_minutes: float = OLDEST_MINUTES,
    time_scale: float = TIME_SCALE,
) -> Workload:
    """Sources with ``next-`` tags, their finished reloads over the last ``span_minutes``
    (80 by default), successors; Qlik's budgets on a clock ``time_scale`` times faster.

    Source ``i`` names successors ``i*fanout .. i*fanout+fanout-1`` (mod T), so every successor
    is named when ``sources * fanout >= successors``. Events are spread evenly over sources.
    All apps are in shared spaces (100 apps a space), so the baseline looks each space up.
    """
    rng = random.Random(seed)
    per_target = min(fanout, size.successors)
    targets = [
        AppSpec(key=f"t{n}", queue_seconds=TARGET_QUEUE_SECONDS) for n in range(size.successors)
    ]
    sources = [
        AppSpec(
            key=f"s{n}",
            next=sorted({f"t{(n * per_target + j) % size.successors}" for j in range(per_target)}),
        )
        for n in range(size.sources)
    ]
    spaces = [
        SpaceSpec(id=f"space{n:04d}", name=f"Bench {n}", type="shared")
        for n in range(math.ceil((len(targets) + len(sources)) / APPS_PER_SPACE))
    ]
    for n, app in enumerate([*targets, *sources]):
        app.space = spaces[n // APPS_PER_SPACE].id
    reloads = [
        ReloadSpec(
            app=f"s{n % size.sources}",
            ended_minutes_ago=rng.uniform(NEWEST_MINUTES, span_minutes),
        )
        for n in range(size.events)
    ]
    # Qlik's own budgets, on the benchmark's clock: our sweep must never hit them.
    faults = tenant_faults(latency_ms, time_scale)
    scenario = Scenario(
        name=f"bench-{size.label}",
        users=[UserSpec(id="admin", name="Bench Admin", api_key=API_KEY)],
        spaces=spaces,
        apps=[*targets, *sources],
        reloads=reloads,
        faults=faults,
    )
    return Workload(size, per_target, scenario, listing_floor(scenario, TOLERANCE_MINUTES))


def without_limits(scenario: Scenario) -> Scenario:
    """The scenario with rate limits too high to reach: the baseline does not pace itself.

    Its calls are counted, not timed: its time under the real limits is worked out on paper.
    """
    unlimited = scenario.faults.model_copy(
        update={
            "tier1_limit": UNLIMITED,
            "audits_limit": UNLIMITED,
            "tier2_limit": UNLIMITED,
            "reload_start_limit": UNLIMITED,
        }
    )
    return scenario.model_copy(update={"faults": unlimited})


# --- the floor ---------------------------------------------------------------------------------


def floor_parts(workload: Workload, started: int) -> dict[str, int]:
    """The least calls a sweep of this workload can make, by what they are for.

    The reload lookups are the tight floor of ``benchmarks.floor``: each successor read back
    only to its own horizon, the cheapest mix of listing pages and single lookups. Before it
    starts anything, a sweep of a new database must list the native reload tasks once (one
    page: the simulated tenant has none), or a successor Qlik starts itself is started twice.
    """
    size = workload.size
    return {
        "audits pages": math.ceil(size.events / PAGE),
        "items of sources": math.ceil(size.sources / PAGE),
        "items of successors": math.ceil(size.successors / PAGE),
        "reload listing pages": workload.listing.pages,
        "active or single reload lookups": workload.listing.other_calls,
        "native task listing": 1 if started else 0,
        "reloads started": started,
    }

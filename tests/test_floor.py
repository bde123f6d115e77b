"""The benchmark's tight floor: the cheapest reload lookups any correct sweep can make."""

from __future__ import annotations

from benchmarks.floor import ListingFloor, listing_floor
from simulator.scenario import AppSpec, ReloadSpec, Scenario

SUCCESSORS = 30


def scenario(
    source_ends: dict[int, float],
    other: int,
    *,
    own: float | None = None,
    failed: bool = False,
) -> Scenario:
    """Source ``s<i>`` names ``t<i>`` on success (``u<i>`` on failure) and ended that long
    ago; ``other`` reloads of another app over the last hour; each ``t<i>`` reloaded ``own``
    minutes ago when given."""
    apps = [AppSpec(key="x")]
    for n in range(SUCCESSORS):
        apps += [AppSpec(key=f"t{n}"), AppSpec(key=f"u{n}")]
        apps.append(AppSpec(key=f"s{n}", next=[f"t{n}"], next_onfail=[f"u{n}"]))
    outcome = "failure" if failed else None
    rows = [
        ReloadSpec(app=f"s{n}", ended_minutes_ago=ago, outcome=outcome)
        for n, ago in source_ends.items()
    ]
    rows += [ReloadSpec(app="x", ended_minutes_ago=60 * (n + 0.5) / other) for n in range(other)]
    if own is not None:
        rows += [
            ReloadSpec(app=f"t{n}", ended_minutes_ago=own + n / 100) for n in range(SUCCESSORS)
        ]
    return Scenario(apps=apps, reloads=rows)


def recent(minutes: float = 5) -> dict[int, float]:
    return dict.fromkeys(range(SUCCESSORS), minutes)


def test_successors_are_read_back_to_their_own_horizon_then_active_reloads_once() -> None:
    # Every horizon is the 10-minute tolerance: 100 other reloads and the 30 sources.
    found = listing_floor(scenario(recent(), 600), 10)
    assert found == ListingFloor(rows=131, pages=2, other_calls=1)


def test_a_deep_successor_is_cheaper_to_ask_alone_than_to_page_down_to() -> None:
    found = listing_floor(scenario(recent() | {0: 55}, 600), 10)
    # The listing alone: 550 other reloads and 29 sources since t0's horizon, then one older.
    assert found.rows == 580
    assert found == ListingFloor(rows=580, pages=2, other_calls=2)  # t0 alone, active once


def test_successors_settled_by_their_own_reload_need_no_active_listing() -> None:
    found = listing_floor(scenario(recent(30), 600, own=1), 10)
    # The oldest of their reloads is the 43rd newest: 13 other reloads are newer.
    assert found == ListingFloor(rows=43, pages=1, other_calls=0)


def test_a_listing_that_read_the_whole_tenant_needs_no_active_listing() -> None:
    found = listing_floor(scenario(recent(50), 20), 10)
    # 17 reloads since the horizon and one before it; one page holds all 50: nothing older.
    assert found == ListingFloor(rows=18, pages=1, other_calls=0)


def test_only_the_edges_an_outcome_fires_name_successors() -> None:
    assert listing_floor(scenario(recent(), 600, failed=True), 10).rows == 131  # the u<i>
    assert listing_floor(scenario({}, 600), 10) == ListingFloor(0, 0, 0)

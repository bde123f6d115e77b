"""Random worlds for ``tests.test_needs``: runs, chains, tenant facts, reload histories.

Reloads are drawn anywhere in the last hours, near the edges that matter (a source end, the
tolerance start), or queued across a source end; only an app's newest reload may be active
(the tenant answers a second start with 429 while one is pending).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from jobs.decide import AppFacts, TenantFacts, candidates
from jobs.edges import Condition, Edge, Join
from qlik.events import FinishedReload
from qlik.models import Reload
from qlik.times import format_time
from tests.fake_tenant import app_id

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
APPS = [app_id(n) for n in range(1, 7)]
RELOAD_IDS = [f"r{n}" for n in range(6)]
ACTIVE = ("QUEUED", "RELOADING", "CANCELING")
FINAL = ("SUCCEEDED", "SUCCEEDED", "FAILED", "CANCELED")


@dataclass(frozen=True)
class Knobs:
    tolerance_minutes: int = 10
    only_managed_spaces: bool = False
    max_active_reloads: int | None = None


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@st.composite
def runs(draw: st.DrawFn) -> list[FinishedReload]:
    found = []
    for number in range(draw(st.integers(1, 8))):
        ended = ago(draw(st.integers(0, 240)))
        found.append(
            FinishedReload(
                event_id=f"ev-{number}",
                event_time=ended + timedelta(seconds=draw(st.integers(0, 90))),
                app_id=draw(st.sampled_from(APPS)),
                reload_id=draw(st.sampled_from(RELOAD_IDS)),
                outcome=draw(st.sampled_from(("success", "failure", "canceled"))),
                ended_at=ended,
            )
        )
    return found


@st.composite
def edge_maps(draw: st.DrawFn) -> dict[str, list[Edge]]:
    """Plain edges, and joins (their members' edges propose the target)."""
    edges: dict[str, list[Edge]] = {}
    for source in APPS:
        for target in draw(st.lists(st.sampled_from(APPS), max_size=3)):
            on: Condition = draw(st.sampled_from(("success", "failure", "any")))
            edges.setdefault(source, []).append(Edge(source, target, on, "p"))
    for target in draw(st.lists(st.sampled_from(APPS), unique=True, max_size=2)):
        members = tuple(draw(st.lists(st.sampled_from(APPS), min_size=1, max_size=3, unique=True)))
        join = Join(target, members, draw(st.integers(10, 300)), "p")
        for member in members:
            edges.setdefault(member, []).append(Edge(member, target, "success", "p", join))
    return edges


@st.composite
def histories(
    draw: st.DrawFn, anchors: dict[str, list[datetime]], max_queue_minutes: int
) -> dict[str, Reload | None]:
    """Each app's newest reload however old (only an app's newest may be active)."""
    return {
        app: draw(st.none() | newest_reload(app, anchors[app], max_queue_minutes)) for app in APPS
    }


@st.composite
def newest_reload(
    draw: st.DrawFn, app: str, anchors: list[datetime], max_queue_minutes: int
) -> Reload:
    """Anywhere in the last hours; or near a source end or the tolerance start; or one that
    succeeded after waiting in the queue across a source end (``fresh`` from before it)."""
    anchor, most = draw(st.sampled_from(anchors)), max_queue_minutes * 60
    where = draw(st.sampled_from(("anywhere", "near", "across", "across")))
    if where == "anywhere":
        created, queued = ago(draw(st.integers(-5, 400))), draw(st.none() | st.integers(0, most))
    elif where == "near":
        created, queued = anchor + timedelta(seconds=draw(st.integers(-200, 60))), None
    else:
        queued = draw(st.integers(1, most))
        created = anchor - timedelta(seconds=draw(st.integers(0, queued - 1)))
    across = queued is not None and created + timedelta(seconds=queued) > anchor > created
    status = "SUCCEEDED" if across else draw(st.sampled_from(FINAL + ACTIVE))
    body: dict[str, Any] = {
        "id": f"latest-{app[-2:]}",
        "appId": app,
        "status": status,
        "creationTime": format_time(created),
    }
    if queued is not None and status != "QUEUED":
        body["startTime"] = format_time(created + timedelta(seconds=queued))
    return Reload.model_validate(body)


@dataclass(frozen=True)
class World:
    """Source runs, every tenant fact but reloads, each app's newest reload, settings, now."""

    runs: list[FinishedReload]
    everything: TenantFacts
    newest: dict[str, Reload | None]
    knobs: Knobs
    now: datetime


@st.composite
def worlds(draw: st.DrawFn, max_queue_minutes: int) -> World:
    """A random world whose reloads are queued at most ``max_queue_minutes``."""
    runs_in = draw(runs())
    apps = {
        app: AppFacts(app, space_id=draw(st.sampled_from(("s-m", "s-s", "s-hidden", None))))
        for app in draw(st.lists(st.sampled_from(APPS), unique=True, min_size=4))
    }
    pairs = st.tuples(st.sampled_from(RELOAD_IDS), st.sampled_from(APPS))
    chains = st.frozensets(st.sampled_from(APPS), max_size=3)
    successes = draw(st.sets(st.sampled_from(APPS)))
    everything = TenantFacts(
        edges=draw(edge_maps()),
        apps=apps,
        space_types={"s-m": "managed", "s-s": "shared"},
        settled=frozenset(draw(st.sets(pairs, max_size=4))),
        lineage=draw(st.dictionaries(st.sampled_from(RELOAD_IDS), chains, max_size=3)),
        last_success={app: ago(draw(st.integers(0, 400))) for app in successes},
        unsettled=draw(st.frozensets(st.sampled_from(APPS), max_size=2)),
        recovering_until=draw(st.none() | st.integers(0, 300).map(ago)),
        active_reloads=draw(st.integers(0, 5)),
    )
    knobs = Knobs(
        draw(st.integers(0, 60)), draw(st.booleans()), draw(st.none() | st.integers(1, 4))
    )
    now = NOW + timedelta(minutes=draw(st.integers(-5, 30)))
    named = candidates(runs_in, everything.edges, everything.settled)
    start = now - timedelta(minutes=knobs.tolerance_minutes)
    ends = {app: c.newest_source_end for app, c in named.items()}
    anchors = {app: [end, start] if (end := ends.get(app)) else [start] for app in APPS}
    return World(runs_in, everything, draw(histories(anchors, max_queue_minutes)), knobs, now)

"""The soak's random tenants: sources, successors, hops, late and future events, and faults.

Every choice comes from the run's ``random.Random``, so a seed always builds the same tenant.
``expected`` is what the tenant's reload log must show once, and only it: every successor
reachable from a source event that reload-chain can see, through every hop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.scenario import AppSpec, FaultRule, FaultSpec, ReloadSpec, Scenario, UserSpec

# The disturbances a run may add to the soak's original ones (kill -9, 5xx, drops, 429s,
# duplicate and slightly late events), each with its chance per run in the default mix.
DEFAULT_MIX: dict[str, float] = {
    "after_faults": 0.35,  # the tenant acted, then the answer was lost (drop or 5xx)
    "settling": 0.08,  # the settling check of an interrupted start answers 503
    "hops": 0.4,  # successors that are sources themselves: A -> B -> C (-> D)
    "late_minutes": 0.25,  # events visible 5-30 minutes after their eventTime
    "two_sweepers": 0.2,  # the lock file deleted under a running sweep, a second one started
    "lost_state": 0.2,  # the database emptied, or an older copy restored
    "future": 0.1,  # an event stamped 2099
    "secret": 0.1,  # a run whose API key ends in CR/LF
    "alerts": 0.8,  # reload_failed alerts to a local receiver that refuses its first 0-3
    # Opt-in (--only): a sweep SIGKILLed 0-30 ms after the receiver accepted an alert, in the
    # documented at-least-once window (answered, not yet marked sent) more often than not.
    "alert_kills": 0.0,
}
FEATURES = tuple(DEFAULT_MIX)
# Drawn from the run's second stream: one more draw from the first would give every seed
# another tenant and plan than it had before the feature came.
LATER_FEATURES = ("alerts", "alert_kills")
HELD_S = 3600.0  # a late event shows when the run reveals it, never by itself
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
MAX_DEPTH = 4  # source -> A -> B -> C -> D


@dataclass
class ChaosTenant:
    """A scenario and what the soak expects of it."""

    scenario: Scenario
    expected: set[str]
    api_key: str
    strict: bool
    hops: int = 0
    late_minutes_events: int = 0
    future_events: int = 0


def pick_features(
    rng: random.Random, mix: dict[str, float], later: random.Random | None = None
) -> frozenset[str]:
    """The disturbances of one run; every feature is drawn, so the draws stay aligned.

    ``LATER_FEATURES`` are drawn from ``later`` (a second stream of the run's seed).
    """
    first = [name for name in FEATURES if name not in LATER_FEATURES]
    draws = [rng.random() for _ in first]
    chosen = {name for name, draw in zip(first, draws, strict=True) if draw < mix.get(name, 0)}
    side = later or random.Random(0)
    chosen |= {name for name in LATER_FEATURES if side.random() < mix.get(name, 0)}
    if "future" in chosen:  # a future stamp can only hide events that come after it
        chosen.add("hops")
    if "settling" in chosen:  # a settling check needs a start whose answer was lost
        chosen.add("after_faults")
    if "after_faults" in chosen:  # answers are lost on hop starts too (see chaos_run)
        chosen.add("hops")
    if "alert_kills" in chosen:
        chosen.add("alerts")
    return frozenset(chosen)


@dataclass
class _Builder:
    rng: random.Random
    strict: bool
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: dict[str, list[str]] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    reloads: list[ReloadSpec] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)  # sources whose events must be acted on

    def target(self, key: str) -> str:
        outcome = self.rng.choice(["success", "failure"]) if self.strict else "success"
        duration = self.rng.uniform(0.05, 0.3)
        self.apps[key] = {"queue_seconds": 0.02, "duration_seconds": duration, "outcome": outcome}
        return key

    def source(self, key: str, reload: ReloadSpec, names: list[str], *, seen: bool) -> None:
        outcome = "success" if self.rng.random() < 0.75 else "failure"
        dupes = self.rng.choice([1, 1, 2])
        self.apps[key] = {"queue_seconds": 0.02, "duration_seconds": 0.1, "outcome": outcome}
        self.apps[key]["duplicate_events"] = dupes
        if reload.start_in_seconds is not None:
            self.apps[key]["late_seconds"] = 0.5
        self.reloads.append(reload)
        self.edges[key] = names
        if seen:
            self.roots.append(key)
            for name in names:
                self.depth[name] = 1

    def scenario(self, name: str, api_key: str, faults: FaultSpec) -> Scenario:
        apps = []
        for key, fields in self.apps.items():
            named = self.edges.get(key, [])
            succeeds = fields["outcome"] == "success"
            edges = {"next": named} if succeeds else {"next_onfail": named}
            apps.append(AppSpec(key=key, **fields, **edges))
        users = [UserSpec(id="admin", name="Chaos", api_key=api_key)]
        return Scenario(name=name, users=users, apps=apps, reloads=self.reloads, faults=faults)

    def expected_keys(self) -> set[str]:
        found: set[str] = set()
        todo = [name for root in self.roots for name in self.edges[root]]
        while todo:
            key = todo.pop()
            if key not in found:
                found.add(key)
                todo += self.edges.get(key, [])
        return found


def build_tenant(rng: random.Random, strict: bool, features: frozenset[str]) -> ChaosTenant:
    """A random tenant with the run's features, and what it should start."""
    build = _Builder(rng, strict)
    free = [build.target(f"t{n}") for n in range(rng.randint(3, 8))]
    everyone = list(free)
    rng.shuffle(free)
    for n in range(rng.randint(2, 6)):
        named = _pick(rng, free, everyone, strict)
        if rng.random() < 0.25:  # finishes during the run; its event shows up 0.5 s later
            reload = ReloadSpec(app=f"s{n}", start_in_seconds=rng.uniform(0, 0.3))
        else:
            reload = ReloadSpec(app=f"s{n}", ended_minutes_ago=rng.uniform(0.5, 40))
        build.source(f"s{n}", reload, named, seen=True)
    counts = {"hops": _add_hops(build) if "hops" in features else 0}
    if "late_minutes" in features:
        counts["late_minutes_events"] = _add_late_events(build)
    if "future" in features:
        stamped = ReloadSpec(app="z0", ended_minutes_ago=rng.uniform(0.5, 5), event_time=FUTURE)
        build.source("z0", stamped, [], seen=True)
        counts["future_events"] = 1
    api_key = f"chaos-secret-{rng.getrandbits(64):016x}" if "secret" in features else "chaos-key"
    faults = _faults(rng, "after_faults" in features, slow="two_sweepers" in features)
    scenario = build.scenario(f"chaos-{'strict' if strict else 'shared'}", api_key, faults)
    ids = {app.key: app.id for app in scenario.apps}
    expected = {ids[key] for key in build.expected_keys()}
    return ChaosTenant(scenario, expected, api_key, strict, **counts)


def _pick(rng: random.Random, free: list[str], everyone: list[str], strict: bool) -> list[str]:
    if strict:  # each successor belongs to one source reload
        count = min(len(free), rng.randint(1, 2))
        return [free.pop() for _ in range(count)]
    return rng.sample(everyone, rng.randint(1, min(3, len(everyone))))


def _add_hops(build: _Builder) -> int:
    """Successors named by successors: each hop's reload is started by reload-chain itself."""
    hops, previous = 0, None
    for n in range(build.rng.randint(2, 4)):
        parents = [key for key, depth in build.depth.items() if depth < MAX_DEPTH]
        if not parents:
            break
        # Half the time under the previous hop, so chains three and four deep are common.
        deep = previous in parents and build.rng.random() < 0.5
        chosen = [previous] if deep and previous else build.rng.sample(parents, 1)
        if not build.strict and len(parents) > 1 and build.rng.random() < 0.3:
            chosen = build.rng.sample(parents, 2)  # shared: a hop may have two parents
        previous = build.target(f"h{n}")
        for parent in chosen:
            build.edges.setdefault(parent, []).append(previous)
        build.depth[previous] = 1 + max(build.depth[parent] for parent in chosen)
        hops += 1
    return hops


def _add_late_events(build: _Builder) -> int:
    """Events minutes late (held until revealed), one beyond the late window now and then."""
    rng = build.rng
    # A fresh event moves the cursor past the late ones, so only a late re-read finds them.
    build.source("f0", ReloadSpec(app="f0", ended_minutes_ago=rng.uniform(0.2, 0.5)), [], seen=True)
    count = rng.randint(1, 2)
    for n in range(count):
        ago = rng.uniform(5, 30)
        late = ReloadSpec(app=f"m{n}", ended_minutes_ago=ago, visible_in_seconds=HELD_S)
        build.source(f"m{n}", late, [build.target(f"mt{n}")], seen=True)
    if rng.random() < 0.5:  # beyond the 60-minute late window: lost for good, never started
        gone = ReloadSpec(
            app="b0", ended_minutes_ago=rng.uniform(75, 100), visible_in_seconds=HELD_S
        )
        build.source("b0", gone, [build.target("bt0")], seen=False)
    return count


def _faults(rng: random.Random, after: bool, slow: bool) -> FaultSpec:
    rules = []
    if after:  # first in line: the first starts of the run are made, then their answer lost
        status, drop, count = rng.choice([500, 502, 503]), rng.random() < 0.5, rng.randint(1, 3)
        lost = FaultRule(path="/api/v1/reloads", method="POST", status=status, drop=drop)
        rules.append(lost.model_copy(update={"after": True, "count": count}))
    if rng.random() < 0.3:
        rules.append(FaultRule(path="/api/v1/reloads", method="POST", status=429, retry_after=1))
    if rng.random() < 0.3:
        rules.append(FaultRule(path="/api/v1/items", status=503, count=rng.randint(1, 4)))
    if rng.random() < 0.2:
        rules.append(FaultRule(path="/api/v1/reloads", method="POST", drop=True))
    tight = rng.random() < 0.2  # limits low enough that the simulator's own 429s fire
    return FaultSpec(
        tier1_limit=rng.randint(6, 15) if tight else 1000,
        reload_start_limit=rng.randint(2, 4) if tight else 50,
        rate_window_seconds=1.0 if tight else 60.0,
        # Two sweepers race only while one still reads and the other starts: slower answers
        # widen that window.
        latency_ms=rng.uniform(20, 40) if slow else rng.uniform(2, 15),
        error_rate=rng.uniform(0, 0.12),
        drop_rate=rng.uniform(0, 0.04),
        after_share=rng.uniform(0.3, 0.8) if after else 0.0,
        seed=rng.randint(0, 2**31),
        rules=rules,
    )

"""Back to back: two one-shot ``reload-chain sweep`` processes on one database, then a third.

What a Task Scheduler user runs, on Qlik's real clock: the client's 240 starts per 5 minutes,
the tenant's 250. The first sweep starts 200 successors. Then four other sources, naming 200
other successors, finish (started by another user, as from the hub), and a second process
sweeps at once: 400 starts in a minute, more than one window allows. The second process seeds
its limiter from the ledger's starts of the last 5 minutes, starts the 40 that fit and defers
the rest (no slot would free within the 60 s a start may wait), never provoking a 429. A third
sweep, once the first one's starts are 5 minutes old, starts the deferred ones, each once.

The 5 minutes are spent on other work: ``meanwhile`` runs between the second and third sweeps.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from benchmarks.processes import CliSweep, cli_env, run_cli_sweep
from benchmarks.simulated import API_KEY, QLIK_WINDOW_S, Simulator, tenant_faults
from benchmarks.workload import TARGET_QUEUE_SECONDS
from simulator.scenario import AppSpec, ReloadSpec, Scenario, SpaceSpec, UserSpec

T = TypeVar("T")
DEFAULT_PER_SWEEP = 200
SOURCES = 4  # per sweep, each naming a quarter of its successors
GROUPS = ("a", "b")  # the first sweep's successors, and the second's
HUB_KEY = "bench-hub-key"
SPACE = "backtoback"
SLACK_S = 2.0  # past the first sweep's window before the third sweep runs
FINISH_TIMEOUT_S = 60.0


@dataclass
class BackToBackResult:
    """Three sweeps' decisions, the tenant's 429s, and how often each successor started."""

    per_sweep: int
    sweeps: list[CliSweep]
    rate_limited: int
    successors_started: int  # distinct successors the tenant started
    started_twice: int  # successors started more than once
    third_after_s: float  # from the first sweep's end to the third's start

    def missed_bounds(self) -> list[str]:
        """The promises broken: no 429, each successor started once, deferred ones later."""
        _, second, third = self.sweeps
        missed = []
        if self.rate_limited:
            missed.append(f"back to back: provoked {self.rate_limited} 429s")
        if self.successors_started != 2 * self.per_sweep or self.started_twice:
            missed.append(
                f"back to back: {self.successors_started} of {2 * self.per_sweep} successors "
                f"started, {self.started_twice} more than once"
            )
        if second.count("deferred") != third.count("triggered"):
            missed.append("back to back: the third sweep did not start exactly the deferred")
        if any(sweep.exit_code for sweep in self.sweeps):
            missed.append(f"back to back: exit codes {[s.exit_code for s in self.sweeps]}")
        return missed

    def as_json(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return asdict(self)


def build_scenario(per_sweep: int, latency_ms: float) -> Scenario:
    """Two groups of ``per_sweep`` successors; only the first group's sources have finished."""
    per_source = math.ceil(per_sweep / SOURCES)
    targets = [
        AppSpec(key=f"{g}t{n}", space=SPACE, queue_seconds=TARGET_QUEUE_SECONDS)
        for g in GROUPS
        for n in range(per_sweep)
    ]
    sources = [
        AppSpec(
            key=f"{g}s{n}",
            space=SPACE,
            next=sorted({f"{g}t{(n * per_source + j) % per_sweep}" for j in range(per_source)}),
        )
        for g in GROUPS
        for n in range(SOURCES)
    ]
    users = [
        UserSpec(id="admin", name="Bench Admin", api_key=API_KEY),
        UserSpec(id="hub", name="Hub User", api_key=HUB_KEY, tenant_admin=False),
    ]
    space = SpaceSpec(id=SPACE, name="Back to back", type="shared", members={"hub": ["producer"]})
    return Scenario(
        name="bench-back-to-back",
        users=users,
        spaces=[space],
        apps=[*targets, *sources],
        reloads=[ReloadSpec(app=f"as{n}", ended_minutes_ago=2.0 + n) for n in range(SOURCES)],
        faults=tenant_faults(latency_ms, time_scale=1),
    )


def finish_sources(url: str, app_ids: Sequence[str]) -> None:
    """Reload ``app_ids`` as the hub user (another user's budget), and wait until they end."""
    headers = {"Authorization": f"Bearer {HUB_KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30.0) as http:
        ids = [http.post("/api/v1/reloads", json={"appId": app}).json()["id"] for app in app_ids]
        give_up = time.monotonic() + FINISH_TIMEOUT_S
        while time.monotonic() < give_up:
            statuses = {http.get(f"/api/v1/reloads/{i}").json()["status"] for i in ids}
            if statuses <= {"SUCCEEDED", "FAILED"}:
                return
            time.sleep(0.25)
    raise RuntimeError("the second group's sources did not finish")


def run_back_to_back(
    per_sweep: int, *, latency_ms: float, meanwhile: Callable[[], T]
) -> tuple[BackToBackResult, T]:
    """Sweep, finish the other sources, sweep again at once, ``meanwhile``, sweep 5 min later."""
    scenario = build_scenario(per_sweep, latency_ms)
    with tempfile.TemporaryDirectory(prefix="bench-b2b-") as name, Simulator(scenario) as sim:
        folder = Path(name)
        env = cli_env(sim.url, folder / "state.db", first_run_lookback_minutes="60")
        first = run_cli_sweep(env, folder)
        first_done = time.monotonic()
        finish_sources(sim.url, [scenario.app(f"bs{n}").id for n in range(SOURCES)])
        second = run_cli_sweep(env, folder)
        extra = meanwhile()
        if second.count("deferred"):  # else nothing waits for a slot
            time.sleep(max(0.0, first_done + QLIK_WINDOW_S + SLACK_S - time.monotonic()))
        third_after_s = time.monotonic() - first_done
        third = run_cli_sweep(env, folder)
    successors = {app.key for app in scenario.apps if not app.tags}  # sources have tags
    starts = Counter(r.app for r in sim.reloads if r.by_api and r.app in successors)
    result = BackToBackResult(
        per_sweep,
        [first, second, third],
        sim.stats.get("rate_limited", -1),
        successors_started=len(starts),
        started_twice=sum(1 for n in starts.values() if n > 1),
        third_after_s=third_after_s,
    )
    return result, extra


def render_back_to_back(result: BackToBackResult) -> str:
    """The back-to-back lines of the printed report."""
    lines = [
        f"\n== back to back: two `reload-chain sweep` processes on one database, "
        f"{result.per_sweep} successors eligible in each, Qlik's real 5-minute budgets; "
        f"a third sweep {result.third_after_s / 60:.1f} min after the first ended ==",
        f"{'sweep':<8}{'exit':>6}{'started':>10}{'deferred':>10}{'API calls':>11}{'wall':>9}"
        "  other decisions",
    ]
    for name, sweep in zip(("first", "second", "third"), result.sweeps, strict=True):
        other = {r: n for r, n in sweep.reasons.items() if r not in ("triggered", "deferred")}
        lines.append(
            f"{name:<8}{sweep.exit_code:>6}{sweep.count('triggered'):>10}"
            f"{sweep.count('deferred'):>10}{sweep.api_calls:>11}{sweep.wall_s:>7.1f} s  "
            + (", ".join(f"{r} {n}" for r, n in sorted(other.items())) or "-")
        )
    lines.append(
        f"429s provoked across all three: {result.rate_limited}; successors started "
        f"{result.successors_started} of {2 * result.per_sweep}, "
        f"{result.started_twice} more than once"
    )
    return "\n".join(lines)

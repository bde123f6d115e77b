"""End to end: the limiter keeps a real sweep under the simulator's rate limits over HTTP.

Ten finished sources each name their own successor, so one sweep must start ten reloads
while the simulated tenant allows four starts a second. Paced, the sweep provokes no 429;
with the limiter effectively off, the same sweep does (the control that the test can fail).

The budget spans processes: a second process right after a sweep, seeded with the ledger's
starts, waits for them to leave the window; unseeded, it provokes a 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from jobs.report import SweepReport
from jobs.sweep import run_sweep
from qlik.client import connect
from qlik.errors import QlikError
from qlik.limits import RateLimiter, RateLimits
from qlik.reloads import StartResult
from qlik.tiers import START_TIER
from scheduler.settings import Settings
from simulator.scenario import AppSpec, FaultSpec, ReloadSpec, Scenario, UserSpec
from simulator.server import SimulatorServer
from tests.program import dev_space
from tests.sweeping import sweep_context

API_KEY = "rate-key"
WINDOW_S = 1.0
STARTS_PER_WINDOW = 4
PAIRS = 10
PACED = {"reload_start": STARTS_PER_WINDOW, "tier1": 1000, "audits": 1000, "tier2": 100}
UNLIMITED = dict.fromkeys(PACED, 1_000_000)


def scenario() -> Scenario:
    """src<n> finished a minute ago and names dst<n>; starts limited to 4 a second."""
    sources = [
        AppSpec(key=f"src{n}", space="dev", next=[f"dst{n}"], duration_seconds=0.1)
        for n in range(PAIRS)
    ]
    targets = [
        AppSpec(key=f"dst{n}", space="dev", queue_seconds=0.05, duration_seconds=0.2)
        for n in range(PAIRS)
    ]
    return Scenario(
        name="rate-limits",
        users=[UserSpec(id="admin", name="Admin", api_key=API_KEY)],
        spaces=[dev_space()],
        apps=[*sources, *targets],
        reloads=[ReloadSpec(app=f"src{n}", ended_minutes_ago=1.0 + n * 0.01) for n in range(PAIRS)],
        faults=FaultSpec(
            rate_window_seconds=WINDOW_S,
            reload_start_limit=STARTS_PER_WINDOW,
            tier1_limit=1000,
            audits_limit=1000,
            tier2_limit=100,
        ),
    )


@dataclass
class Run:
    report: SweepReport
    seconds: float
    rate_limited: int
    started: dict[str, int]
    targets: set[str]
    limiter: RateLimiter


def sweep_once(tmp_path: Path, calls: Mapping[str, int]) -> Run:
    spec = scenario()
    limiter = RateLimiter(RateLimits(calls=calls, period_s=WINDOW_S))
    with SimulatorServer(spec) as sim:
        settings = Settings(tenant_url=sim.url, api_key=API_KEY, max_concurrency=4)
        with sweep_context(
            settings,
            tmp_path / "state.db",
            sender_options={"limiter": limiter},
            max_concurrency=settings.max_concurrency,
        ) as ctx:
            began = time.monotonic()
            report = run_sweep(ctx, datetime.now(UTC))
            seconds = time.monotonic() - began
        return Run(
            report=report,
            seconds=seconds,
            rate_limited=sim.app.faults.injected["rate_limited"],
            started=dict(sim.tenant.reload_log()),
            targets={spec.app(f"dst{n}").id for n in range(PAIRS)},
            limiter=limiter,
        )


def triggered(report: SweepReport) -> set[str]:
    return {o.app_id for o in report.outcomes if (o.decision, o.reason) == ("triggered",) * 2}


def test_a_paced_sweep_starts_every_successor_without_a_single_429(tmp_path: Path) -> None:
    run = sweep_once(tmp_path, PACED)
    assert run.rate_limited == 0
    assert triggered(run.report) == run.targets
    assert run.started == dict.fromkeys(run.targets, 1)
    assert run.report.exit_code == 0
    assert run.report.api_calls["POST /api/v1/reloads"] == PAIRS
    # Ten starts at four per second: the ninth goes at least two windows after the first.
    assert run.seconds >= 2 * WINDOW_S
    assert run.limiter.waited_s > 0


def test_without_the_limiter_the_same_sweep_is_rate_limited(tmp_path: Path) -> None:
    run = sweep_once(tmp_path, UNLIMITED)
    assert run.rate_limited > 0
    assert run.limiter.waited_s == 0
    refused = run.targets - triggered(run.report)
    assert refused, "every start went through: the tenant never limited this sweep"
    assert all(
        (o.decision, o.reason, o.retry) == ("failed", "transient", True)
        for o in run.report.outcomes
        if o.app_id in refused
    )


# --- two processes ----------------------------------------------------------------------------

SHARED_WINDOW_S = 2.0
SHARED_STARTS = 3  # of the simulator's 4: the margin that covers seeding by send times
EACH = 3


def two_process_scenario() -> Scenario:
    """A sweep starts 3 successors; then another process starts 3 apps of its own."""
    base = scenario()
    sources, targets = base.apps[:EACH], base.apps[PAIRS : PAIRS + EACH]  # src<n> names dst<n>
    solos = [AppSpec(key=f"solo{n}", space="dev") for n in range(EACH)]
    faults = base.faults.model_copy(update={"rate_window_seconds": SHARED_WINDOW_S})
    return base.model_copy(
        update={
            "apps": [*sources, *targets, *solos],
            "reloads": base.reloads[:EACH],
            "faults": faults,
        }
    )


def shared_limiter() -> RateLimiter:
    calls = PACED | {START_TIER: SHARED_STARTS}
    return RateLimiter(RateLimits(calls=calls, period_s=SHARED_WINDOW_S))


def sweep_then_start(tmp_path: Path, *, seed: bool) -> tuple[int, list[str], RateLimiter]:
    """The 429s the simulator answered, each start's outcome in the second process, its limiter."""
    spec = two_process_scenario()
    with SimulatorServer(spec) as sim:
        settings = Settings(tenant_url=sim.url, api_key=API_KEY)
        with sweep_context(
            settings, tmp_path / "state.db", sender_options={"limiter": shared_limiter()}
        ) as first:
            report = run_sweep(first, datetime.now(UTC))
            ages = first.store.recent_start_ages()
        assert len(triggered(report)) == EACH
        limiter = shared_limiter()
        second = connect(sim.url, SecretStr(API_KEY), sender_options={"limiter": limiter})
        if seed:
            second.seed_starts(ages)
        try:
            kinds = [start_kind(second.start_reload, spec.app(f"solo{n}").id) for n in range(EACH)]
        finally:
            second.close()
        return sim.app.faults.injected["rate_limited"], kinds, limiter


def start_kind(start: Callable[[str], StartResult], app: str) -> str:
    try:
        return start(app).kind
    except QlikError as error:
        return type(error).__name__


def test_a_second_process_seeded_from_the_ledger_waits_instead_of_a_429(tmp_path: Path) -> None:
    rate_limited, kinds, limiter = sweep_then_start(tmp_path, seed=True)
    assert rate_limited == 0
    assert kinds == ["started"] * EACH
    assert limiter.waited_s > 0


def test_unseeded_the_second_process_is_rate_limited(tmp_path: Path) -> None:
    rate_limited, kinds, limiter = sweep_then_start(tmp_path, seed=False)
    assert rate_limited > 0
    assert "RateLimitedError" in kinds
    assert limiter.waited_s == 0

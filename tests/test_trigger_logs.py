"""Every trigger and every access change is logged with the app's id and name (issue 7 item 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from jobs.sweep import SweepContext, run_sweep
from scheduler.settings import Settings
from simulator.scenario import AppSpec, ReloadSpec, Scenario, SpaceSpec, UserSpec
from simulator.server import SimulatorServer
from tests.conftest import LogCapture
from tests.fake_tenant import FakeTenant, app_id
from tests.sweeping import sweep_context

MISSING = app_id(999)  # named by a tag, unknown to the tenant


@pytest.fixture
def lines(log_capture: LogCapture) -> list[str]:
    """Every message jobs.trigger logs during the test."""
    return log_capture(format=None, filter="jobs.trigger")


def chain(tenant: FakeTenant) -> tuple[str, list[str]]:
    """App 1 finished; it names apps 2 (starts), 3 (pending), 4 (503) and an unknown id."""
    successors = [tenant.add_app(n) for n in (2, 3, 4)]
    source = tenant.add_app(1, tags=[f"next-{app}" for app in [*successors, MISSING]])
    tenant.finish(source, at=tenant.now - timedelta(minutes=5))
    return source, successors


def test_each_trigger_line_names_the_app_by_id_and_name(
    ctx: SweepContext, tenant: FakeTenant, lines: list[str]
) -> None:
    source, (started, pending, unconfirmed) = chain(tenant)
    tenant.post_answers[pending] = httpx.Response(429, json={"errors": [{"code": "RELOADS-429"}]})
    tenant.post_answers[unconfirmed] = httpx.Response(503)

    run_sweep(ctx, tenant.now)

    assert any(
        line.startswith(f"triggered {started} (App 2) after {source}: reload rld-")
        for line in lines
    )
    assert f"reload of {pending} (App 3) not started (running): " in "\n".join(lines)
    assert any(line.startswith(f"start of {unconfirmed} (App 4) unconfirmed") for line in lines)
    # Unknown to the tenant: the id alone, no placeholder for the missing name.
    assert f"skipped {MISSING} (not_found)" in lines
    assert not any("?" in line or "()" in line for line in lines)


def test_a_dry_run_names_what_it_would_start(
    ctx: SweepContext, tenant: FakeTenant, lines: list[str]
) -> None:
    source, (first, second, third) = chain(tenant)
    run_sweep(ctx, tenant.now, dry_run=True)
    for number, app in ((2, first), (3, second), (4, third)):
        assert f"dry run: would start {app} (App {number}) after {source}" in lines
    assert tenant.started == []


def test_the_access_change_line_names_the_app(tmp_path: Path, log_capture: LogCapture) -> None:
    scenario = Scenario(
        users=[
            UserSpec(id="robot", name="Reload robot", api_key="robot-key"),
            UserSpec(id="alice", name="Alice", api_key="alice-key"),
        ],
        spaces=[SpaceSpec(id="team", name="Team", type="shared", owner="alice")],
        apps=[
            AppSpec(key="source", owner="robot", next=["sales"]),
            AppSpec(key="sales", name="Sales dashboard", space="team", owner="alice"),
        ],
        reloads=[ReloadSpec(app="source", ended_minutes_ago=5)],
    )
    seen = log_capture(format="{message}", level="WARNING")
    with SimulatorServer(scenario) as sim:
        settings = Settings(tenant_url=sim.url, api_key="robot-key")
        with sweep_context(settings, tmp_path / "state.db") as ctx:
            run_sweep(ctx, datetime.now(UTC))
        sales = sim.tenant.scenario.app("sales").id
    (change,) = [line for line in seen if line.startswith("ACCESS CHANGED")]
    assert change.rstrip("\n").endswith(f"as producer to reload {sales} (Sales dashboard)")

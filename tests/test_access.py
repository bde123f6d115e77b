"""Automatic space access: a 403 start is retried once after a loud, recorded role grant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.access import RELOAD_ROLES
from jobs.sweep import run_sweep
from scheduler.settings import Settings
from simulator.scenario import AppSpec, ReloadSpec, Scenario, SpaceSpec, UserSpec
from simulator.server import SimulatorServer
from tests.conftest import LogCapture
from tests.sweeping import sweep_context


def scenario() -> Scenario:
    """The source finished; each successor lives where this identity may not reload yet."""
    return Scenario(
        users=[
            UserSpec(id="robot", name="Reload robot", api_key="robot-key"),
            UserSpec(id="alice", name="Alice", api_key="alice-key"),
        ],
        spaces=[
            SpaceSpec(id="team", name="Team", type="shared", owner="alice"),
            SpaceSpec(id="prod", name="Production", type="managed", owner="alice"),
        ],
        apps=[
            AppSpec(key="source", owner="robot", next=["shared_app", "managed_app", "private"]),
            AppSpec(key="shared_app", space="team", owner="alice", duration_seconds=0.1),
            AppSpec(key="managed_app", space="prod", owner="alice", duration_seconds=0.1),
            AppSpec(key="private", owner="alice", duration_seconds=0.1),
        ],
        reloads=[ReloadSpec(app="source", ended_minutes_ago=5)],
    )


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(scenario()) as server:
        yield server


def sweep(sim: SimulatorServer, tmp_path: Path, auto_resolve: bool):  # type: ignore[no-untyped-def]
    settings = Settings(tenant_url=sim.url, api_key="robot-key", auto_resolve_access=auto_resolve)
    with sweep_context(settings, tmp_path / "state.db") as ctx:
        report = run_sweep(ctx, datetime.now(UTC))
        decisions = list(ctx.store.recent_decisions())
    return report, decisions


def by_app(sim: SimulatorServer, report) -> dict[str, tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    names = {app.id: app.key for app in sim.tenant.apps.values()}
    return {names[o.app_id]: (o.decision, o.reason, o.detail) for o in report.outcomes}


def test_access_is_granted_with_the_least_role_then_the_start_is_retried(
    sim: SimulatorServer, tmp_path: Path, log_capture: LogCapture
) -> None:
    seen = log_capture(format="{message}", level="WARNING")
    report, decisions = sweep(sim, tmp_path, auto_resolve=True)

    outcomes = by_app(sim, report)
    assert outcomes["shared_app"][:2] == ("triggered", "triggered")
    assert "added robot to shared space Team (team) as producer" in outcomes["shared_app"][2]
    # Managed spaces cannot give "operator" here (not assignable): the next least role is used.
    assert (
        "added robot to managed space Production (prod) as publisher" in outcomes["managed_app"][2]
    )
    assert sim.tenant.members["team"]["robot"] == ["producer"]
    assert sim.tenant.members["prod"]["robot"] == ["publisher"]
    assert sum(1 for line in seen if line.startswith("ACCESS CHANGED")) == 2
    kept = {d["app_id"]: d["detail"] for d in decisions}
    assert any("access granted" in detail for detail in kept.values())


def test_a_personal_space_app_is_reported_never_fixed(sim: SimulatorServer, tmp_path: Path) -> None:
    report, _ = sweep(sim, tmp_path, auto_resolve=True)
    decision, reason, detail = by_app(sim, report)["private"]
    assert (decision, reason) == ("skipped", "access_denied")
    assert "personal space" in detail
    assert sim.tenant.reload_log()[sim.tenant.scenario.app("private").id] == 0


def test_with_auto_resolve_off_nothing_is_changed(sim: SimulatorServer, tmp_path: Path) -> None:
    report, _ = sweep(sim, tmp_path, auto_resolve=False)
    reasons = {key: value[1] for key, value in by_app(sim, report).items()}
    assert reasons == dict.fromkeys(("shared_app", "managed_app", "private"), "access_denied")
    assert "robot" not in sim.tenant.members["team"] and "robot" not in sim.tenant.members["prod"]
    assert "POST /api/v1/spaces/{spaceId}/assignments" not in report.api_calls


def test_reloading_roles_are_assignable_roles_of_their_space_type() -> None:
    from simulator.shapes import ASSIGNABLE_ROLES

    for space_type, roles in RELOAD_ROLES.items():
        assert set(roles) & set(ASSIGNABLE_ROLES[space_type]), space_type

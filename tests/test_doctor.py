"""``reload-chain doctor``: each check, and exit 0 only when all is well."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.cli import main
from simulator.scenario import AppSpec, Scenario, SpaceSpec, UserSpec, builtin_scenario
from simulator.server import SimulatorServer


@pytest.fixture
def finance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SimulatorServer]:
    scenario = builtin_scenario()
    with SimulatorServer(scenario) as sim:
        monkeypatch.setenv("QLIK_TENANT_URL", sim.url)
        monkeypatch.setenv("QLIK_API_KEY", scenario.api_key)
        monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
        yield sim


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_a_healthy_tenant_passes_every_check(
    finance: SimulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 0
    out = lines(capsys)
    names = [line.split(":")[0].split()[-1] for line in out if line.startswith(("ok", "FAIL"))]
    assert names == [
        "settings",
        "database",
        "identity",
        "audits",
        "reloads",
        "chains",
        "permissions",
    ]
    assert all(line.startswith("ok") for line in out[:7])
    assert "signed in as Sim Admin (admin)" in out[2]
    assert out[-1] == "all checks passed"


def test_missing_apps_and_cycles_fail_with_what_to_do(
    finance: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {app.key: app.id for app in finance.tenant.scenario.apps}
    config = tmp_path / "reload-chain.toml"
    config.write_text(
        f'[[edge]]\nfrom = "{ids["dashboard"]}"\nto = ["{ids["transform"]}", '
        '"5c0f9b1e-3a2d-4c8b-9e7f-0a1b2c3d4e5f"]\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "doctor"]) == 1
    chains = next(line for line in lines(capsys) if "chains:" in line)
    assert chains.startswith("FAIL")
    assert "missing app 5c0f9b1e-3a2d-4c8b-9e7f-0a1b2c3d4e5f" in chains
    assert "cycle " in chains and "Finance transform" in chains


def test_a_chained_app_in_someone_elses_personal_space_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = Scenario(
        users=[UserSpec(id="robot", name="Robot", api_key="k"), UserSpec(id="bob", name="Bob")],
        spaces=[SpaceSpec(id="s", name="S", type="shared")],
        apps=[
            AppSpec(key="source", space="s", next=["mine"]),
            AppSpec(key="mine", name="Bob's private app", owner="bob"),
        ],
    )
    with SimulatorServer(scenario) as sim:
        monkeypatch.setenv("QLIK_TENANT_URL", sim.url)
        monkeypatch.setenv("QLIK_API_KEY", "k")
        monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
        assert main(["doctor"]) == 1
    out = lines(capsys)
    permissions = next(i for i, line in enumerate(out) if "permissions:" in line)
    assert out[permissions].startswith("FAIL") and "Bob's private app" in out[permissions]
    assert "move them to a shared or managed space" in out[permissions + 1]


def test_a_rejected_key_fails_the_identity_check(
    finance: SimulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QLIK_API_KEY", "wrong-key")
    assert main(["doctor"]) == 1
    out = lines(capsys)
    assert out[2].startswith("FAIL identity") and "401" in out[2]
    assert "wrong-key" not in "\n".join(out)
    assert not any(line.startswith(("ok   audits", "FAIL audits")) for line in out)


def test_missing_settings_are_reported_without_asking_any_tenant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["doctor"]) == 1
    out = lines(capsys)
    assert out[0].startswith("FAIL settings: missing setting tenant_url")
    assert out[-1] == "1 check(s) failed"


def test_a_damaged_database_fails_its_check_in_one_line(
    finance: SimulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.test_database import damaged_database

    damaged_database(tmp_path / "state.db")

    assert main(["doctor"]) == 1
    (line,) = [line for line in lines(capsys) if line.startswith("FAIL database")]
    assert "damaged" in line and "quick_check" in line

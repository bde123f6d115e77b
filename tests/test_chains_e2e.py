"""End to end: chains declared in the settings file, run by the installed ``reload-chain``.

The simulated apps carry no tags at all, so every edge and join comes from the TOML passed
with ``--config``. Only the exit code, the JSON report, stderr and the simulator's records
are inspected.
"""

from __future__ import annotations

from pathlib import Path

from simulator.server import SimulatorServer
from tests.test_e2e import (
    app,
    decisions,
    finished,
    ids,
    outcome,
    reloads_finished,
    scenario,
    started,
    sweep,
    table_counts,
)


def settings_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "conf" / "reload-chain.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_edge_from_the_chain_file_triggers_its_target(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    spec = scenario([app("extract"), app("transform"), app("other")], [finished(1.0, "extract")])
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        assert all(not a.tags and not a.next for a in sim.tenant.apps.values())
        config = settings_file(
            tmp_path,
            [
                "tolerance_minutes = 10",
                "[apps]",
                f'extract = "{app_id["extract"]}"',
                f'transform = "{app_id["transform"]}"',
                "",
                "[[edge]]",
                'from = "extract"',
                'to = "transform"',
                "",
                "[[edge]]",
                'from = "extract"',
                f'to = "{app_id["other"]}"',
                'on = "failure"',
            ],
        )
        # The control: without the file the apps have no chains at all.
        code, dry, _ = sweep(sim, db, "--dry-run")
        assert code == 0
        assert decisions(dry) == {}

        code, report, stderr = sweep(sim, db, "--config", str(config))
        assert code == 0, stderr
        assert set(decisions(report)) == {app_id["transform"]}
        assert outcome(report, app_id["transform"]) == ("triggered", "triggered")
        assert decisions(report)[app_id["transform"]]["sources"] == [app_id["extract"]]
        assert started(sim) == {app_id["transform"]: 1}


def test_a_join_triggers_only_once_both_members_succeeded(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    spec = scenario(
        [app("sales"), app("costs"), app("finance"), app("unrelated")],
        [finished(2.0, "sales"), finished(1.5, "unrelated")],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        config = settings_file(
            tmp_path,
            [
                "[apps]",
                f'sales = "{app_id["sales"]}"',
                f'costs = "{app_id["costs"]}"',
                f'finance = "{app_id["finance"]}"',
                "",
                "[[join]]",
                'target = "finance"',
                'after = ["sales", "costs"]',
                "within_minutes = 60",
            ],
        )
        code, first, stderr = sweep(sim, db, "--config", str(config))
        assert code == 0, stderr
        assert decisions(first) == {
            app_id["finance"]: {
                "app_id": app_id["finance"],
                "decision": "skipped",
                "reason": "join_waiting",
                "reload_id": None,
                "sources": [app_id["sales"]],
            }
        }
        assert started(sim) == {}

        # The other member reloads now (started here by hand, as its own schedule would).
        tenant = sim.tenant
        user = tenant.users["admin"]
        assert tenant.start_reload(tenant.apps[app_id["costs"]], user) is not None
        reloads_finished(sim, app_id["costs"])

        code, second, stderr = sweep(sim, db, "--config", str(config))
        assert code == 0, stderr
        assert set(decisions(second)) == {app_id["finance"]}
        assert outcome(second, app_id["finance"]) == ("triggered", "triggered")
        assert started(sim) == {app_id["costs"]: 1, app_id["finance"]: 1}

        reloads_finished(sim, app_id["finance"])
        code, third, stderr = sweep(sim, db, "--config", str(config))
        assert code == 0, stderr
        assert decisions(third) == {}
        assert started(sim) == {app_id["costs"]: 1, app_id["finance"]: 1}


def test_an_invalid_chain_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    spec = scenario([app("extract"), app("transform")], [finished(1.0, "extract")])
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        config = settings_file(
            tmp_path,
            [
                "[apps]",
                f'extract = "{app_id["extract"]}"',
                "",
                "[[edge]]",
                'from = "extract"',
                'to = "transfrom"',
            ],
        )
        code, report, stderr = sweep(sim, db, "--config", str(config))
        assert code == 2
        assert report is None
        assert f"{config}:6:" in stderr
        assert "transfrom" in stderr
        assert "Traceback" not in stderr
        assert started(sim) == {}
        assert set(table_counts(db).values()) == {0}


def test_a_bad_on_value_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    spec = scenario([app("extract"), app("transform")], [finished(1.0, "extract")])
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        config = settings_file(
            tmp_path,
            [
                "[[edge]]",
                f'from = "{app_id["extract"]}"',
                f'to = "{app_id["transform"]}"',
                'on = "sucess"',
            ],
        )
        code, report, stderr = sweep(sim, db, "--config", str(config))
        assert (code, report) == (2, None)
        assert f"{config}:4:" in stderr
        assert "sucess" in stderr
        assert started(sim) == {}
        assert set(table_counts(db).values()) == {0}


def test_a_tag_cycle_runs_once_per_external_start_against_the_simulator(tmp_path: Path) -> None:
    """A -> B -> A by tags, tolerance 0: B once, then A is skipped as a cycle, not reloaded."""
    import time
    from datetime import UTC, datetime

    from jobs.sweep import run_sweep
    from scheduler.settings import Settings
    from simulator.scenario import AppSpec, ReloadSpec, Scenario, UserSpec
    from tests.sweeping import sweep_context

    scenario = Scenario(
        users=[UserSpec(id="admin", name="Admin", api_key="cycle-key")],
        apps=[
            AppSpec(key="a", next=["b"], duration_seconds=0.1, queue_seconds=0.01),
            AppSpec(key="b", next=["a"], duration_seconds=0.1, queue_seconds=0.01),
        ],
        reloads=[ReloadSpec(app="a", ended_minutes_ago=1)],
    )
    with SimulatorServer(scenario) as sim:
        settings = Settings(tenant_url=sim.url, api_key="cycle-key", tolerance_minutes=0)
        ids = {app.key: app.id for app in scenario.apps}
        with sweep_context(settings, tmp_path / "state.db") as ctx:
            first = run_sweep(ctx, datetime.now(UTC))
            assert [(o.app_id, o.reason) for o in first.outcomes] == [(ids["b"], "triggered")]
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(
                r.app_id == ids["b"] and r.status(sim.tenant.refresh()) == "SUCCEEDED"
                for r in sim.tenant.reloads.values()
            ):
                time.sleep(0.05)
            # Windows end at a millisecond: a reload that ended within this one shows next time.
            time.sleep(0.01)
            second = run_sweep(ctx, datetime.now(UTC))
    assert [(o.app_id, o.reason) for o in second.outcomes] == [(ids["a"], "cycle")]
    assert sim.tenant.reload_log() == {ids["b"]: 1}

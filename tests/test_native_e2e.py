"""End to end: a mixed tenant, chains in tags, in the chain file and in Qlik's native tasks.

Sales is reloaded by its nightly native task. Orders is named by a tag on Sales *and* by a
native task after Sales' task (declared twice); Forecast only by a tag; Margin only by the
chain file; Costs by a native task that Qlik disabled after repeated failures (its tag still
names it, so reload-chain carries that hop). HR, reloaded later with no native task anywhere
near it, names Payroll by a tag. The installed program sweeps the simulator over real HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

from scheduler.demo_receiver import AlertReceiver
from simulator.scenario import ReloadSpec, Scenario
from simulator.server import SimulatorServer
from simulator.task_spec import TaskSpec
from tests.program import dev_space, environment, run_program
from tests.test_chains_e2e import settings_file
from tests.test_e2e import (
    app,
    decisions,
    ids,
    outcome,
    reloads_finished,
    started,
    sweep,
    wait_until,
)

TASKS = "GET /api/scheduling/tasks"


def mixed_tenant() -> Scenario:
    """The scenario: tag, chain-file and native edges, one declared twice, one task disabled."""
    apps = [
        app("sales", next=["orders", "forecast", "costs"]),
        app("orders"),
        app("forecast"),
        app("margin"),
        app("costs"),
        app("hr", next=["payroll"]),
        app("payroll"),
    ]
    tasks = [
        TaskSpec(key="sales-nightly", app="sales", name="Sales nightly"),
        TaskSpec(key="orders-after-sales", app="orders", after="sales-nightly"),
        TaskSpec(
            key="costs-after-sales",
            app="costs",
            after="sales-nightly",
            disabled_code="CONSECUTIVE-FAILURES",
        ),
    ]
    nightly = ReloadSpec(app="sales", task="sales-nightly", start_in_seconds=0.2)
    return Scenario(name="mixed", spaces=[dev_space()], apps=apps, reloads=[nightly], tasks=tasks)


def config(tmp_path: Path, app_id: dict[str, str], receiver: AlertReceiver) -> Path:
    return settings_file(
        tmp_path,
        [
            "[apps]",
            f'sales = "{app_id["sales"]}"',
            f'margin = "{app_id["margin"]}"',
            "[[edge]]",
            'from = "sales"',
            'to = "margin"',
            "[[alert]]",
            f'url = "{receiver.url}"',
            'on = ["native_task_disabled"]',
        ],
    )


def test_a_mixed_tenant_reloads_the_twice_declared_successor_once_and_warns_of_the_disabled_task(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    with AlertReceiver() as receiver, SimulatorServer(mixed_tenant()) as sim:
        app_id = ids(sim)
        conf = config(tmp_path, app_id, receiver)
        # Qlik's own task reloads Orders a second after Sales' nightly run succeeds.
        reloads_finished(sim, app_id["sales"], app_id["orders"])

        code, report, stderr = sweep(sim, db, "--config", str(conf))

        assert code == 0, stderr
        assert outcome(report, app_id["orders"]) == ("skipped", "native_task")
        assert outcome(report, app_id["forecast"]) == ("triggered", "triggered")
        assert outcome(report, app_id["margin"]) == ("triggered", "triggered")
        # The disabled task starts nothing: reload-chain carries the hop its tag declares.
        assert outcome(report, app_id["costs"]) == ("triggered", "triggered")
        assert report is not None and report["api_calls"][TASKS] == 1
        reloads_finished(sim, app_id["forecast"], app_id["margin"], app_id["costs"])
        assert started(sim) == {app_id["forecast"]: 1, app_id["margin"]: 1, app_id["costs"]: 1}
        assert len(sim.tenant.reloads_newest_first(app_id["orders"])) == 1
        wait_until(lambda: len(receiver.received) == 1, "the native_task_disabled alert")
        alert = receiver.received[0]
        assert "Native task stopped: costs" in alert.title
        assert "CONSECUTIVE-FAILURES" in alert.message and app_id["costs"] in alert.message
        assert alert.kind == "native_task_disabled"

        # HR reloads later: its successor has no native task, and the listing read a moment
        # ago still serves, so the sweep asks nothing more about tasks.
        tenant = sim.tenant
        assert tenant.start_reload(tenant.apps[app_id["hr"]], tenant.users["admin"]) is not None
        reloads_finished(sim, app_id["hr"])
        code, report, stderr = sweep(sim, db, "--config", str(conf))

        assert code == 0, stderr
        assert set(decisions(report)) == {app_id["payroll"]}
        assert outcome(report, app_id["payroll"]) == ("triggered", "triggered")
        assert report is not None and TASKS not in report["api_calls"]
        assert started(sim)[app_id["payroll"]] == 1
        assert len(receiver.received) == 1  # the disabled task is not alerted again

        graph = program(sim, db, conf, "graph", "--format", "json")
        native = {edge["task_name"]: edge for edge in json.loads(graph)["native_edges"]}
        assert native["Reload costs"]["disabled_code"] == "CONSECUTIVE-FAILURES"
        assert native["Reload orders"]["enabled"] is True
        doctor = program(sim, db, conf, "doctor")
        assert "sales -> orders is declared twice" in doctor
        assert (
            'native task "Reload costs"' in doctor and "disabled (CONSECUTIVE-FAILURES)" in doctor
        )


def program(sim: SimulatorServer, db: Path, conf: Path, *args: str) -> str:
    """``reload-chain <args> --config conf`` against the simulator: its standard output."""
    env = environment(sim, db, QLIK_API_KEY=sim.tenant.scenario.api_key)
    done = run_program(["--config", str(conf), *args], env)
    assert done.returncode == 0, done.stderr
    return done.stdout

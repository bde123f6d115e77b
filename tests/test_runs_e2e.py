"""End to end: the built-in finance chain swept until it settles, then ``reload-chain runs``.

The simulated tenant serves the demo's scenario over real HTTP (the scheduled extract, a
transform, three finance apps, Accounts Payable failing into its on-failure branch). The
program sweeps it through ``main()`` as ``reload-chain sweep`` would, until a sweep that began
after every reload had ended found nothing to decide; ``runs --json`` must then report every
reload the simulator says reload-chain started, with the outcome the simulator gave it.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from rich.cells import cell_len

from qlik.times import format_time
from scheduler.cli import main
from simulator.reloads import SimReload
from simulator.scenario import builtin_scenario
from simulator.server import SimulatorServer
from simulator.tenant import SimTenant

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
POLL_S = 0.3
TIMEOUT_S = 60.0
UNKNOWN_APP = "0f0f0f0f-1234-4abc-8def-0123456789ab"
STATUS = {"SUCCEEDED": "succeeded", "FAILED": "failed"}


Env = dict[str, str]


@pytest.fixture(scope="module")
def settled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimTenant, Env]]:
    """The finance scenario swept until it settled: its tenant and the program's environment.

    (Each test starts with a clean environment, so every run of the program is given it.)
    """
    database = tmp_path_factory.mktemp("runs") / "state.db"
    with SimulatorServer(builtin_scenario()) as sim:
        env = {
            "QLIK_TENANT_URL": sim.url,
            "QLIK_API_KEY": sim.tenant.scenario.api_key,
            "RELOAD_CHAIN_DB": str(database),
        }
        sweep_until_settled(sim.tenant, env)
        yield sim.tenant, env


def sweep_until_settled(tenant: SimTenant, env: Env) -> None:
    """Sweep until one that began once every reload had ended found nothing to decide."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        quiet = bool(tenant.api_starts) and not active(tenant)
        code, decisions = sweep(env)
        assert code == 0
        if quiet and not decisions:
            return
        time.sleep(POLL_S)  # the simulated reloads run in real time
    raise AssertionError(f"the finance chain did not settle within {TIMEOUT_S}s")


def active(tenant: SimTenant) -> bool:
    now = tenant.refresh()
    return any(r.status(now) not in STATUS for r in tenant.reloads.values())


def sweep(env: Env) -> tuple[int, list[dict[str, Any]]]:
    """``reload-chain sweep --json`` through ``main()``: exit code and decisions."""
    code, report = _captured(["sweep", "--json"], env)
    return code, report["decisions"] if report else []


def runs(env: Env, *flags: str) -> tuple[int, dict[str, Any] | None]:
    """``reload-chain runs --json [flags]`` through ``main()``: exit code and the JSON."""
    return _captured(["runs", "--json", *flags], env)


class Terminal(io.StringIO):
    """Standard output as a terminal would be."""

    def isatty(self) -> bool:
        return True


def _printed(argv: list[str], env: Env, out: io.StringIO) -> int:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(sys, "stdout", out)
        return main(argv)


def _captured(argv: list[str], env: Env) -> tuple[int, dict[str, Any] | None]:
    out = io.StringIO()
    code = _printed(argv, env, out)
    text = out.getvalue()
    return code, json.loads(text) if text.strip() else None


def by_app(tenant: SimTenant) -> dict[str, str]:
    return {app.key: app.id for app in tenant.apps.values()}


def started(tenant: SimTenant) -> dict[str, SimReload]:
    return {reload.id: reload for reload in tenant.api_starts}


def run_rooted_at(payload: dict[str, Any], app_id: str) -> dict[str, Any]:
    (run,) = [run for run in payload["runs"] if run["root"]["app_id"] == app_id]
    return run


def test_runs_reports_every_started_reload_with_its_outcome(
    settled: tuple[SimTenant, Env],
) -> None:
    tenant, env = settled
    now = tenant.refresh()
    code, payload = runs(env)
    assert code == 0 and payload is not None
    ours = started(tenant)
    reported = {reload["reload_id"]: reload for run in payload["runs"] for reload in run["reloads"]}
    assert set(reported) == set(ours)
    for reload_id, sim_reload in ours.items():
        reload = reported[reload_id]
        assert reload["app_id"] == sim_reload.app_id
        assert reload["app_name"] == tenant.apps[sim_reload.app_id].name
        assert reload["status"] == STATUS[sim_reload.status(now)]
        assert reload["ended_at"] == format_time(sim_reload.ended)
        assert reload["hop_latency_s"] >= 0
    # The failing branch: Accounts Payable failed, its on-failure successor ran after it.
    ids = by_app(tenant)
    run = run_rooted_at(payload, ids["transform"])
    statuses = {reload["app_id"]: reload["status"] for reload in run["reloads"]}
    assert statuses[ids["payables"]] == "failed"
    assert statuses[ids["alerts"]] == "succeeded"
    assert run["status"] == "failed"


def test_each_run_is_rooted_at_a_reload_reload_chain_did_not_start(
    settled: tuple[SimTenant, Env],
) -> None:
    """Qlik's nightly task reloads the extract, and its native task the transform: the
    extract's run starts nothing (the transform is Qlik's, ``native_task``); the transform's
    native reload roots the run of everything reload-chain then started."""
    tenant, env = settled
    ids = by_app(tenant)
    (extract_reload,) = tenant.reloads_newest_first(ids["extract"])
    (transform_reload,) = tenant.reloads_newest_first(ids["transform"])
    _, payload = runs(env)
    assert payload is not None and len(payload["runs"]) == 2
    extract_run = run_rooted_at(payload, ids["extract"])
    assert extract_run["run_id"] == extract_reload.id
    assert extract_run["reloads"] == []
    assert extract_run["skipped"] == [
        {"app_id": ids["transform"], "app_name": "Finance transform", "reason": "native_task"}
    ]
    run = run_rooted_at(payload, ids["transform"])
    assert run["run_id"] == transform_reload.id
    assert run["root"] == {
        "app_id": ids["transform"],
        "app_name": "Finance transform",
        "reload_id": transform_reload.id,
        "status": "succeeded",
        "ended_at": format_time(transform_reload.ended),
    }
    assert run["started_at"] == run["root"]["ended_at"]
    ends = {reload["reload_id"]: reload["ended_at"] for reload in run["reloads"]}
    assert run["ended_at"] == max(ends.values())
    sources = {reload.id: reload.app_id for reload in tenant.reloads.values()}
    after = {reload["app_id"]: sources[reload["after"]] for reload in run["reloads"]}
    assert ids["transform"] not in after
    assert after[ids["ledger"]] == ids["transform"]
    assert after[ids["alerts"]] == ids["payables"]
    assert after[ids["dashboard"]] in (ids["ledger"], ids["receivables"])


def test_app_filter_and_limit(settled: tuple[SimTenant, Env]) -> None:
    tenant, env = settled
    ids = by_app(tenant)
    for app_id in (ids["extract"], ids["alerts"]):
        assert len(runs(env, "--app", app_id)[1]["runs"]) == 1  # type: ignore[index]
    # The transform is in both: skipped in the extract's run, the root of its own.
    assert len(runs(env, "--app", ids["transform"])[1]["runs"]) == 2  # type: ignore[index]
    assert runs(env, "--app", UNKNOWN_APP) == (0, {"runs": []})
    assert len(runs(env, "--limit", "1")[1]["runs"]) == 1  # type: ignore[index]
    assert runs(env, "--limit", "0") == (2, None)
    assert runs(env, "--app", "not-an-id") == (2, None)


def test_on_an_80_column_terminal_the_run_is_a_table_with_app_names(
    settled: tuple[SimTenant, Env],
) -> None:
    tenant, env = settled
    out = Terminal()
    assert _printed(["runs"], env | {"COLUMNS": "80", "TERM": "xterm-256color"}, out) == 0
    lines = ANSI.sub("", out.getvalue()).splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    assert lines[0].startswith("failed")
    payables = by_app(tenant)["payables"]
    assert any(f"Accounts Payable ({payables[:8]})" in line and "failed" in line for line in lines)

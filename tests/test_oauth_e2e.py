"""End to end: the installed ``reload-chain sweep`` with an OAuth client instead of an API key.

The simulated tenant issues tokens that live one second, so a sweep renews its token on the way;
a 401 injected on one read is answered by one renewal and one retry; a wrong secret exits 2
without the secret appearing anywhere the program writes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from simulator.scenario import FaultRule, FaultSpec, ReloadSpec, Scenario, UserSpec
from simulator.server import SimulatorServer
from tests.program import app, dev_space, environment, run_program

CLIENT_ID = "m2m-reload-chain"
SECRET = "cs-OAUTH-SECRET-5e1d0c9b8a7f"


def scenario(faults: FaultSpec | None = None, token_ttl_s: float = 1.0) -> Scenario:
    """One source tagged to one target; the only user is an OAuth client, tokens live 1 s."""
    return Scenario(
        name="oauth-e2e",
        token_ttl_seconds=token_ttl_s,
        users=[UserSpec(id="robot", name="Robot", client_id=CLIENT_ID, client_secret=SECRET)],
        spaces=[dev_space("robot")],
        apps=[app("source", owner="robot", next=["target"]), app("target", owner="robot")],
        reloads=[ReloadSpec(app="source", ended_minutes_ago=1.0)],
        faults=faults or FaultSpec(),
    )


def sweep(sim: SimulatorServer, db: Path, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
    """``reload-chain sweep --json`` with client id and secret, and no API key."""
    env = environment(sim, db, QLIK_CLIENT_ID=CLIENT_ID, QLIK_CLIENT_SECRET=secret)
    return run_program(["sweep", "--json"], env)


def target_id(sim: SimulatorServer) -> str:
    return next(spec.id for spec in sim.tenant.apps.values() if spec.key == "target")


def test_oauth_sweep_renews_short_lived_tokens_and_triggers_the_successor(tmp_path: Path) -> None:
    # 150 ms a request: a sweep outlives its first one-second token.
    with SimulatorServer(scenario(FaultSpec(latency_ms=150))) as sim:
        done = sweep(sim, tmp_path / "state.db")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert [(row["app_id"], row["decision"]) for row in report["decisions"]] == [
            (target_id(sim), "triggered")
        ]
        assert dict(sim.tenant.reload_log()) == {target_id(sim): 1}
        assert report["api_calls"]["POST /oauth/token"] >= 2
        assert SECRET not in done.stdout + done.stderr


def test_oauth_401_on_a_read_is_renewed_and_retried_once(tmp_path: Path) -> None:
    faults = FaultSpec(rules=[FaultRule(path="/api/v1/items", method="GET", status=401)])
    with SimulatorServer(scenario(faults, token_ttl_s=3600)) as sim:
        done = sweep(sim, tmp_path / "state.db")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert dict(sim.tenant.reload_log()) == {target_id(sim): 1}
        assert report["api_calls"]["POST /oauth/token"] == 2
        assert sim.app.faults.injected["status"] == 1


def test_wrong_client_secret_exits_2_and_never_shows_it(tmp_path: Path) -> None:
    wrong = "cs-WRONG-SECRET-77aa99bb"
    db = tmp_path / "state.db"
    with SimulatorServer(scenario()) as sim:
        done = sweep(sim, db, secret=wrong)
        assert done.returncode == 2, done.stderr
        assert CLIENT_ID in done.stderr
        for secret in (wrong, SECRET):
            assert secret not in done.stdout
            assert secret not in done.stderr
        assert dict(sim.tenant.reload_log()) == {}

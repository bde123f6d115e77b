"""Fault injection against the simulator: nothing lost, nothing started twice, under any fault.

Each run builds a random tenant, then sweeps it through faults: sweeps killed with SIGKILL at
random instants, 5xx answers, dropped connections, 429s, duplicate and late events. Then the
faults stop and clean sweeps run until there is nothing left to do. The simulator's own reload
log must show every expected successor started exactly once.

Half the runs are "strict": tolerance 0, successors whose reloads often fail (so neither the
storm guard nor "fresh" can hide a second start) and each successor named by one source reload.
There, only the ledger stands between a killed sweep and a duplicate start.

    python -m tests.chaos --runs 500 --workers 2     # what `make soak` runs
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from loguru import logger

from scheduler.cli import main as reload_chain
from simulator.scenario import AppSpec, FaultRule, FaultSpec, ReloadSpec, Scenario, UserSpec
from simulator.server import SimulatorServer

API_KEY = "chaos-key"
CLEAN_SWEEPS = 6


@dataclass
class RunResult:
    seed: int
    strict: bool
    expected: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    faulty_sweeps: int = 0
    killed_mid_sweep: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    duplicate_events: int = 0
    late_events: int = 0

    @property
    def ok(self) -> bool:
        """Every expected successor started exactly once, and nothing else."""
        return not (self.lost or self.duplicated or self.unexpected)


def build_tenant(rng: random.Random, strict: bool) -> tuple[Scenario, set[str]]:
    """A random tenant, and the ids of the successors its finished sources should start."""
    targets = [
        AppSpec(
            key=f"t{n}",
            queue_seconds=0.02,
            duration_seconds=rng.uniform(0.05, 0.3),
            outcome=rng.choice(["success", "failure"]) if strict else "success",
        )
        for n in range(rng.randint(3, 8))
    ]
    free = [target.key for target in targets]
    rng.shuffle(free)
    sources, reloads = [], []
    for n in range(rng.randint(2, 6)):
        succeeds = rng.random() < 0.75
        named = _pick(rng, free, [t.key for t in targets], strict)
        late = rng.random() < 0.25
        sources.append(
            AppSpec(
                key=f"s{n}",
                queue_seconds=0.02,
                duration_seconds=0.1,
                outcome="success" if succeeds else "failure",
                next=named if succeeds else [],
                next_onfail=[] if succeeds else named,
                duplicate_events=rng.choice([1, 1, 2]),
                late_seconds=0.5 if late else 0.0,
            )
        )
        if late:  # finishes during the run; its event shows up a second later
            reloads.append(ReloadSpec(app=f"s{n}", start_in_seconds=rng.uniform(0, 0.3)))
        else:
            reloads.append(ReloadSpec(app=f"s{n}", ended_minutes_ago=rng.uniform(0.5, 40)))
    named = {key for source in sources for key in [*source.next, *source.next_onfail]}
    scenario = Scenario(
        name=f"chaos-{'strict' if strict else 'shared'}",
        users=[UserSpec(id="admin", name="Chaos", api_key=API_KEY)],
        apps=[*targets, *sources],
        reloads=reloads,
        faults=_faults(rng),
    )
    # The scenario turns next/next_onfail into tags as it validates, so read them before.
    return scenario, {app.id for app in scenario.apps if app.key in named}


def _pick(rng: random.Random, free: list[str], everyone: list[str], strict: bool) -> list[str]:
    if strict:  # each successor belongs to one source reload
        count = min(len(free), rng.randint(1, 2))
        return [free.pop() for _ in range(count)]
    return rng.sample(everyone, rng.randint(1, min(3, len(everyone))))


def _faults(rng: random.Random) -> FaultSpec:
    rules = []
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
        latency_ms=rng.uniform(2, 15),
        error_rate=rng.uniform(0, 0.12),
        drop_rate=rng.uniform(0, 0.04),
        seed=rng.randint(0, 2**31),
        rules=rules,
    )


def run_once(seed: int) -> RunResult:
    """One randomized run; the result says what was lost or duplicated (nothing, we hope)."""
    rng = random.Random(seed)
    strict = seed % 2 == 0
    scenario, expected = build_tenant(rng, strict)
    result = RunResult(seed, strict, len(expected))
    with SimulatorServer(scenario) as sim, tempfile.TemporaryDirectory() as folder:
        env = _environment(sim.url, Path(folder), strict)
        for _ in range(rng.randint(1, 3)):
            result.faulty_sweeps += 1
            result.killed_mid_sweep += _sweep_and_maybe_kill(env, rng)
        sim.app.faults.calm()
        _wait_for_late_events(scenario)
        for _ in range(CLEAN_SWEEPS):
            if _sweep(env) == 0 and _settled(sim):
                break
        started = sim.tenant.reload_log()
        result.faults = dict(sim.app.faults.injected)
    result.lost = sorted(expected - set(started))
    result.duplicated = sorted(app for app, count in started.items() if count > 1)
    result.unexpected = sorted(set(started) - expected)
    result.duplicate_events = sum(a.duplicate_events - 1 for a in scenario.apps)
    result.late_events = sum(1 for a in scenario.apps if a.late_seconds)
    return result


def _environment(url: str, folder: Path, strict: bool) -> dict[str, str]:
    return {
        "QLIK_TENANT_URL": url,
        "QLIK_API_KEY": API_KEY,
        "RELOAD_CHAIN_DB": str(folder / "state.db"),
        "RELOAD_CHAIN_TOLERANCE_MINUTES": "0" if strict else "10",
    }


def _child(env: dict[str, str]) -> None:
    code = 70
    try:
        os.environ.update(env)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        code = reload_chain(["sweep", "--log-level", "ERROR"])
    finally:
        os._exit(code)


def _sweep_and_maybe_kill(env: dict[str, str], rng: random.Random) -> int:
    """A sweep in a forked process, SIGKILLed at a random instant; 1 if it died mid-sweep."""
    pid = _fork_sweep(env)
    if _wait(pid, rng.uniform(0.0, 0.5)) is None:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return 1
    return 0


def _sweep(env: dict[str, str]) -> int:
    pid = _fork_sweep(env)
    code = _wait(pid, 60.0)
    if code is None:  # a hung sweep is a failure of its own; do not wait forever
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return -1
    return code


def _fork_sweep(env: dict[str, str]) -> int:
    # fork, not a new interpreter: a sweep starts in milliseconds, so 500 runs fit in minutes.
    pid = os.fork()
    if pid == 0:
        _child(env)
    return pid


def _wait(pid: int, timeout_s: float) -> int | None:
    """The child's exit code, or None if it is still running after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def _settled(sim: SimulatorServer) -> bool:
    now = sim.tenant.refresh()
    return not any(r.status(now) == "QUEUED" for r in sim.tenant.reloads.values())


def _wait_for_late_events(scenario: Scenario) -> None:
    if any(app.late_seconds for app in scenario.apps):
        time.sleep(0.9)


def summarize(results: list[RunResult], seconds: float) -> dict[str, object]:
    """Totals for the README table."""
    faults: Counter[str] = Counter()
    for result in results:
        faults.update(result.faults)
    return {
        "runs": len(results),
        "strict_runs": sum(r.strict for r in results),
        "seconds": round(seconds, 1),
        "sweeps_under_faults": sum(r.faulty_sweeps for r in results),
        "sweeps_killed_mid_run": sum(r.killed_mid_sweep for r in results),
        "injected_5xx": faults["status"],
        "dropped_connections": faults["drop"],
        "rate_limited_429": faults["rate_limited"],
        "duplicate_events": sum(r.duplicate_events for r in results),
        "late_events": sum(r.late_events for r in results),
        "expected_starts": sum(r.expected for r in results),
        "lost": sum(len(r.lost) for r in results),
        "duplicated": sum(len(r.duplicated) for r in results),
        "unexpected": sum(len(r.unexpected) for r in results),
        "failed_seeds": [r.seed for r in results if not r.ok],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the soak; exit 1 if any run lost or duplicated a start."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    # Runs mostly wait (latency, kill timers), so more workers than cores still pay off.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the totals here")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    started = time.monotonic()
    seeds = range(args.first_seed, args.first_seed + args.runs)
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        results = pool.map(run_once, seeds, chunksize=1)
    totals = summarize(results, time.monotonic() - started)
    text = json.dumps(totals, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    for result in results:
        if not result.ok:
            print(json.dumps(asdict(result)), file=sys.stderr)
    return 0 if not totals["failed_seeds"] else 1


if __name__ == "__main__":
    sys.exit(main())

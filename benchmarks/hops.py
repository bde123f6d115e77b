"""The hop-latency case: a chain under the real background process, ``reload-chain run``.

A -> B -> C -> D -> E in a simulated tenant on Qlik's real clock (50 ms an answer), each
reload 0.2 s queued and 2 s running. A reloads on the tenant's own schedule 5 s after the
tenant starts; B to E are started by ``reload-chain run --interval-minutes X``, a process of
its own, stopped with SIGTERM once the chain's last reload has ended (at short intervals, a few
idle sweeps later). The intervals run at the same time, each against its own tenant.

A hop's latency runs from its source's reload end to its successor's reload creation, both as
the tenant recorded them. The reloads are short, so each ends just after the sweep that started
it and the next hop waits almost a whole interval: near the worst case (a reload of random
length waits half an interval on average). Idle sweeps (no new event) and their API calls are
read from the summary line each sweep of the run logs.
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.processes import CLI, cli_env, sweep_lines
from benchmarks.simulated import API_KEY, ReloadTimes, Simulator, tenant_faults
from simulator.scenario import AppSpec, ReloadSpec, Scenario, SpaceSpec, UserSpec

DEFAULT_PLAN = "0.25:4,0.5:4,2:4"  # interval minutes : hops
CHAIN_KEYS = "ABCDEFGHIJK"
SPACE = "chain"
SOURCE_START_S = 5.0
IDLE_TAIL_MAX_S = 65.0  # idle sweeps are waited for only where two intervals fit in this
FASTEST, MAX_MEDIAN_S = 0.25, 20.0  # issue 12: at 15 s sweeps, a median hop of at most 20 s
STOP_TIMEOUT_S = 60.0


@dataclass
class HopRun:
    """One chain under ``reload-chain run`` at one interval."""

    interval_minutes: float
    hops: int
    latencies_s: list[float]  # per hop, in chain order
    chain_s: float | None  # the first source's end to the last successor's start
    sweeps: int
    idle_sweeps: int
    idle_calls: dict[int, int]  # API calls an idle sweep made: how many idle sweeps made that
    exit_code: int | None  # of the run process after SIGTERM
    wall_s: float

    @property
    def median_s(self) -> float | None:
        """The median hop latency (None when no hop completed)."""
        return statistics.median(self.latencies_s) if self.latencies_s else None

    def as_json(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return asdict(self) | {"median_s": self.median_s}


def parse_plan(text: str) -> list[tuple[float, int]]:
    """``0.25:4,2:2`` -> ``[(0.25, 4), (2.0, 2)]``; ``none`` or empty: no run."""
    if text.strip().lower() in ("", "none", "0"):
        return []
    plan = []
    for part in text.split(","):
        interval, _, hops = part.partition(":")
        plan.append((float(interval), int(hops or 4)))
    if any(hops < 1 or hops >= len(CHAIN_KEYS) or x < FASTEST for x, hops in plan):
        raise ValueError(f"hops: need minutes >= {FASTEST} and 1 to 10 hops, not {text!r}")
    return plan


def chain_scenario(hops: int, latency_ms: float) -> Scenario:
    """A chain of ``hops`` hops whose first app reloads ``SOURCE_START_S`` after the start."""
    keys = CHAIN_KEYS[: hops + 1]
    apps = [
        AppSpec(key=key, space=SPACE, next=[after] if after else [])
        for key, after in zip(keys, [*keys[1:], ""], strict=True)
    ]
    return Scenario(
        name=f"bench-chain-{hops}",
        users=[UserSpec(id="admin", name="Bench Admin", api_key=API_KEY)],
        spaces=[SpaceSpec(id=SPACE, name="Chain", type="shared")],
        apps=apps,
        reloads=[ReloadSpec(app=keys[0], start_in_seconds=SOURCE_START_S)],
        faults=tenant_faults(latency_ms, time_scale=1),
    )


def hop_latencies(reloads: Sequence[ReloadTimes], chain: Sequence[str]) -> list[float]:
    """Per hop: from the source's first reload end to the successor's first reload created
    after it, in seconds; the list stops at the first hop not taken."""
    latencies = []
    for source, successor in itertools.pairwise(chain):
        ended = min((r.ended for r in reloads if r.app == source), default=None)
        if ended is None:
            break
        after = [r.created for r in reloads if r.app == successor and r.created >= ended]
        if not after:
            break
        latencies.append(min(after) - ended)
    return latencies


def chain_seconds(reloads: Sequence[ReloadTimes], chain: Sequence[str]) -> float | None:
    """From the first app's reload end to the last app's reload creation (None: not reached)."""
    first = min((r.ended for r in reloads if r.app == chain[0]), default=None)
    last = min((r.created for r in reloads if r.app == chain[-1]), default=None)
    return None if first is None or last is None else last - first


def _tail_s(interval_s: float) -> float:
    """How long to go on after the last reload ended: two idle sweeps where that is short."""
    idle = 2 * interval_s + 3.0
    return idle if idle <= IDLE_TAIL_MAX_S else 3.0


def _wait_for_chain(
    sim: Simulator, run: subprocess.Popen[bytes], last: str, interval_s: float, give_up: float
) -> None:
    """Until the last app's reload ended (and the tail passed), ``run`` ended, or ``give_up``
    (monotonic)."""
    tail = _tail_s(interval_s)
    while time.monotonic() < give_up and run.poll() is None:
        ended = [r.ended for r in sim.peek() if r.app == last]
        if ended and time.time() >= min(ended) + tail:
            return
        time.sleep(0.5)


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, as a service manager stops it; its exit code (None if it had to be killed)."""
    process.terminate()
    try:
        return process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def _run_until_done(sim: Simulator, folder: Path, interval_minutes: float, hops: int) -> int | None:
    """``reload-chain run`` (stderr to ``run.log``) until the chain is done; its exit code."""
    interval_s = interval_minutes * 60
    give_up = time.monotonic() + SOURCE_START_S + (hops + 2) * (interval_s + 10) + 60
    with (folder / "run.log").open("wb") as err:
        process = subprocess.Popen(
            [*CLI, "run", "--interval-minutes", f"{interval_minutes:g}"],
            env=cli_env(sim.url, folder / "state.db"),
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            _wait_for_chain(sim, process, CHAIN_KEYS[hops], interval_s, give_up)
        finally:
            exit_code = _stop(process)
    return exit_code


def run_hops(interval_minutes: float, hops: int, *, latency_ms: float) -> HopRun:
    """One chain of ``hops`` hops under ``reload-chain run --interval-minutes``."""
    chain = CHAIN_KEYS[: hops + 1]
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-hops-") as name:
        folder = Path(name)
        with Simulator(chain_scenario(hops, latency_ms)) as sim:
            exit_code = _run_until_done(sim, folder, interval_minutes, hops)
        log = (folder / "run.log").read_text(encoding="utf-8", errors="replace")
    lines = sweep_lines(log)
    idle = [line.api_calls for line in lines if line.events_new == 0]
    return HopRun(
        interval_minutes,
        hops,
        [round(s, 3) for s in hop_latencies(sim.reloads, chain)],
        chain_seconds(sim.reloads, chain),
        sweeps=len(lines),
        idle_sweeps=len(idle),
        idle_calls=dict(sorted(Counter(idle).items())),
        exit_code=exit_code,
        wall_s=time.monotonic() - began,
    )


def run_hop_plan(plan: Sequence[tuple[float, int]], *, latency_ms: float) -> list[HopRun]:
    """Every (interval, hops) of ``plan`` at the same time, each with its own tenant."""
    if not plan:
        return []
    with ThreadPoolExecutor(max_workers=len(plan)) as pool:
        futures = [pool.submit(run_hops, x, hops, latency_ms=latency_ms) for x, hops in plan]
        return [future.result() for future in futures]


def missed_bounds(runs: Sequence[HopRun]) -> list[str]:
    """The promises broken: every hop taken, and at 15 s a median of 20 s and 1-call idles."""
    missed = [
        f"hops at {run.interval_minutes:g} min: {len(run.latencies_s)} of {run.hops} hops"
        for run in runs
        if len(run.latencies_s) != run.hops
    ]
    missed += [
        f"hops at {run.interval_minutes:g} min: `reload-chain run` exit {run.exit_code} on SIGTERM"
        for run in runs
        if run.exit_code != 0
    ]
    for run in runs:
        if run.interval_minutes != FASTEST:
            continue
        median = run.median_s
        if median is None or median > MAX_MEDIAN_S:
            missed.append(f"hops at {FASTEST} min: median {median} s > {MAX_MEDIAN_S} s")
        if not run.idle_sweeps or set(run.idle_calls) != {1}:
            missed.append(f"hops at {FASTEST} min: idle sweeps cost {run.idle_calls} calls")
    return missed


def render_hops(runs: Sequence[HopRun]) -> str:
    """The hop-latency table of the printed report."""
    lines = [
        "\n== hop latency: a chain under `reload-chain run`, reloads of 2.2 s; a hop from its "
        "source's end to its successor's start, the chain from the first end to the last start ==",
        f"{'interval':<10}{'hops':>5}  {'per hop (s)':<28}{'median':>8}{'chain':>9}"
        f"{'sweeps':>8}  idle sweeps (no new event)",
    ]
    for run in runs:
        per_hop = ", ".join(f"{s:.1f}" for s in run.latencies_s) or "-"
        idle = ", ".join(f"{n} x {_calls(calls)}" for calls, n in run.idle_calls.items()) or "-"
        lines.append(
            f"{run.interval_minutes:g} min".ljust(10)
            + f"{run.hops:>5}  {per_hop:<28}{_s(run.median_s):>8}{_s(run.chain_s):>9}"
            + f"{run.sweeps:>8}  {idle}"
        )
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _calls(n: int) -> str:
    return "1 API call" if n == 1 else f"{n} API calls"

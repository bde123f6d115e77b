"""`make bench`: API calls of a real sweep against the simulator, beside the floor and a baseline.

For each size (events from sources naming successors) it builds one scenario and runs:

* **ours**: the real ``run_sweep`` (built as the CLI builds it) once, in a fresh process, against
  a fresh simulator with a fresh database; its API calls by endpoint, wall time and peak memory;
* **baseline**: the Automate template's per-event algorithm (``benchmarks.baseline``) against
  another fresh simulator serving the same scenario;
* **floor**: ``ceil(events/100) + ceil(sources/100) + ceil(successors/100)
  + ceil(recent reloads/100) + reloads started``;
* **tier time**: how long the same calls need at least under Qlik Cloud's real rate limits.

Sizes are ``events/sources/successors``: 200/50/20, 2,000/500/200 and 20,000/2,000/500 by
default, each source naming one successor (``--fanout``), so each successor is named by 2.5 to
4 sources. The baseline costs 1 + 3 x fanout calls per event; it is really run, on 32 worker
threads (``--workers``): Automate runs one automation per event, concurrently.

The simulator runs in its own process (so its work neither shares our GIL nor shows in our
memory), with a latency per answer (``--latency-ms``, default 50) and rate limits high enough
never to answer 429: the real limits are applied on paper, by ``tier_seconds``.

    python -m benchmarks.bench                      # what `make bench` runs
    python -m benchmarks.bench --sizes 200/50/20 --latency-ms 0
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from loguru import logger

from benchmarks.baseline import BaselineResult, run_baseline
from simulator.scenario import AppSpec, FaultSpec, ReloadSpec, Scenario, SpaceSpec, UserSpec

API_KEY = "bench-api-key"
PAGE = 100
# Historical source reloads end between these many minutes ago; the sweep looks back further.
NEWEST_MINUTES, OLDEST_MINUTES = 1.0, 80.0
LOOKBACK_MINUTES = 90
UNLIMITED = 10**9
APPS_PER_SPACE = 100
# Started successors stay queued for the whole run: the tenant does not change under the
# measurement, and a second start of the same successor is answered 429 (already pending).
TARGET_QUEUE_SECONDS = 3600.0
# Qlik Cloud's limits per minute, as SPEC section 2 states them; audits count as tier 1 reads.
TIER_LIMITS: dict[str, int] = {"tier1": 1000, "tier2": 100, "reload_start": 50}
DEFAULT_SIZES = "200/50/20,2000/500/200,20000/2000/500"
DEFAULT_JSON = Path("benchmarks/results/bench.json")
SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Size:
    """E events from S source apps whose tags name T successors."""

    events: int
    sources: int
    successors: int

    @property
    def label(self) -> str:
        """``20000/2000/500``."""
        return f"{self.events}/{self.sources}/{self.successors}"

    @classmethod
    def parse(cls, text: str) -> Size:
        """``events/sources/successors``, e.g. ``2000/500/200``."""
        try:
            events, sources, successors = (int(part) for part in text.split("/"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"a size is events/sources/successors, not {text!r}"
            ) from None
        if min(events, sources, successors) < 1 or sources > events:
            raise argparse.ArgumentTypeError(f"size {text!r}: need 1 <= sources <= events")
        return cls(events, sources, successors)


@dataclass(frozen=True)
class Workload:
    """A scenario and what its floor is made of."""

    size: Size
    fanout: int
    scenario: Scenario
    recent_reloads: int


# --- the scenario -----------------------------------------------------------------------------


def build_workload(
    size: Size, *, latency_ms: float = 50.0, fanout: int = 1, seed: int = 0
) -> Workload:
    """Sources with ``next-`` tags, their finished reloads over the last 80 minutes, successors.

    Source ``i`` names successors ``i*fanout .. i*fanout+fanout-1`` (mod T), so every successor
    is named when ``sources * fanout >= successors``. Events are spread evenly over sources.
    All apps are in shared spaces (100 apps a space), so the baseline looks each space up.
    """
    rng = random.Random(seed)
    per_target = min(fanout, size.successors)
    targets = [
        AppSpec(key=f"t{n}", queue_seconds=TARGET_QUEUE_SECONDS) for n in range(size.successors)
    ]
    sources = [
        AppSpec(
            key=f"s{n}",
            next=sorted({f"t{(n * per_target + j) % size.successors}" for j in range(per_target)}),
        )
        for n in range(size.sources)
    ]
    spaces = [
        SpaceSpec(id=f"space{n:04d}", name=f"Bench {n}", type="shared")
        for n in range(math.ceil((len(targets) + len(sources)) / APPS_PER_SPACE))
    ]
    for n, app in enumerate([*targets, *sources]):
        app.space = spaces[n // APPS_PER_SPACE].id
    reloads = [
        ReloadSpec(
            app=f"s{n % size.sources}",
            ended_minutes_ago=rng.uniform(NEWEST_MINUTES, OLDEST_MINUTES),
        )
        for n in range(size.events)
    ]
    faults = FaultSpec(
        latency_ms=latency_ms,
        tier1_limit=UNLIMITED,
        audits_limit=UNLIMITED,
        tier2_limit=UNLIMITED,
        reload_start_limit=UNLIMITED,
    )
    scenario = Scenario(
        name=f"bench-{size.label}",
        users=[UserSpec(id="admin", name="Bench Admin", api_key=API_KEY)],
        spaces=spaces,
        apps=[*targets, *sources],
        reloads=reloads,
        faults=faults,
    )
    return Workload(size, per_target, scenario, recent_reloads(scenario))


def recent_reloads(scenario: Scenario) -> int:
    """Reloads created since the oldest source reload ended.

    The sweep asks the tenant-wide reload listing (newest first) for each successor's latest
    reload created since the oldest time that matters: the end of the oldest source reload.
    Successors with no such reload make it page through every reload created since then, so
    ``ceil(recent reloads / 100)`` pages is the least that listing can cost.
    """
    run_minutes = {
        app.key: (app.queue_seconds + app.duration_seconds) / 60 for app in scenario.apps
    }
    ended = [r.ended_minutes_ago for r in scenario.reloads if r.ended_minutes_ago is not None]
    if not ended:
        return 0
    oldest_end = max(ended)
    return sum(
        1
        for r in scenario.reloads
        if r.ended_minutes_ago is not None
        and r.ended_minutes_ago + run_minutes[r.app] <= oldest_end
    )


# --- the simulator, in its own process --------------------------------------------------------


def _serve(scenario: Scenario, conn: Connection) -> None:
    """Child process: serve the scenario until told to stop, then report what it saw."""
    from simulator.server import SimulatorServer

    logger.remove()
    with SimulatorServer(scenario) as sim:
        conn.send(sim.url)
        conn.recv()
        conn.send(
            {
                "reloads_started": sum(sim.tenant.reload_log().values()),
                "rate_limited": sim.app.faults.injected["rate_limited"],
            }
        )


class Simulator:
    """A ``SimulatorServer`` for one scenario in a child process."""

    def __init__(self, scenario: Scenario) -> None:
        self._conn, child = SPAWN.Pipe()
        self._process = SPAWN.Process(target=_serve, args=(scenario, child), daemon=True)
        self.url = ""
        self.stats: dict[str, int] = {}

    def __enter__(self) -> Simulator:
        self._process.start()
        if not self._conn.poll(120):
            self._process.kill()
            raise RuntimeError("the simulator did not start within 120 s")
        self.url = str(self._conn.recv())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._conn.send("stop")
            if self._conn.poll(30):
                self.stats = dict(self._conn.recv())
        except (BrokenPipeError, EOFError, OSError):
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


# --- our sweep, in its own process ------------------------------------------------------------


@dataclass
class SweepResult:
    """One real sweep: what it read, decided and cost."""

    events_read: int
    events_new: int
    sources: int
    triggered: int
    reasons: dict[str, int]
    exit_code: int
    api_calls: dict[str, int]
    wall_s: float
    tracemalloc_peak_bytes: int
    ru_maxrss_bytes: int | None


def _max_rss_bytes() -> int | None:
    """This process's peak resident set size (None where ``resource`` is missing)."""
    if sys.platform == "win32":
        return None
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def _sweep_child(url: str, database: str, lookback_minutes: int, conn: Connection) -> None:
    """Child process: one real sweep, with tracemalloc on around ``run_sweep`` only."""
    from jobs.sweep import run_sweep
    from scheduler.commands import sweep_context
    from scheduler.settings import Settings
    from state.database import open_database

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    settings = Settings(
        tenant_url=url,
        api_key=API_KEY,
        database=Path(database),
        first_run_lookback_minutes=lookback_minutes,
    )
    with sweep_context(settings, open_database(settings.database)) as ctx:
        tracemalloc.start()
        began = time.monotonic()
        report = run_sweep(ctx, datetime.now(UTC))
        wall_s = time.monotonic() - began
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    result = SweepResult(
        events_read=report.events_read,
        events_new=report.events_new,
        sources=report.sources,
        triggered=sum(1 for outcome in report.outcomes if outcome.decision == "triggered"),
        reasons=dict(report.reason_counts()),
        exit_code=report.exit_code,
        api_calls=dict(report.api_calls),
        wall_s=wall_s,
        tracemalloc_peak_bytes=peak,
        ru_maxrss_bytes=_max_rss_bytes(),
    )
    conn.send(asdict(result))


def run_ours(url: str, lookback_minutes: int = LOOKBACK_MINUTES) -> SweepResult:
    """One real sweep in a fresh process with a fresh database."""
    receive, send = SPAWN.Pipe(duplex=False)
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        database = str(Path(folder) / "state.db")
        process = SPAWN.Process(target=_sweep_child, args=(url, database, lookback_minutes, send))
        process.start()
        send.close()
        try:
            payload = receive.recv()
        except EOFError:
            process.join()
            raise RuntimeError(f"the sweep process died (exit {process.exitcode})") from None
        process.join()
    return SweepResult(**payload)


# --- floor and tiers --------------------------------------------------------------------------


def floor_parts(workload: Workload, started: int) -> dict[str, int]:
    """The least calls a sweep of this workload can make, by what they are for."""
    size = workload.size
    return {
        "audits pages": math.ceil(size.events / PAGE),
        "items of sources": math.ceil(size.sources / PAGE),
        "items of successors": math.ceil(size.successors / PAGE),
        "reload listing pages": math.ceil(workload.recent_reloads / PAGE),
        "reloads started": started,
    }


def tier_of(call: str) -> str:
    """The tier of a ``METHOD /path`` call: GETs (audits included) are tier 1."""
    method, _, path = call.partition(" ")
    if method == "GET":
        return "tier1"
    return "reload_start" if path == "/api/v1/reloads" else "tier2"


def tier_seconds(calls: dict[str, int]) -> dict[str, int]:
    """Per tier, ``ceil(calls / limit-per-minute)`` minutes, in seconds.

    Each tier's calls need at least that many minutes of its budget (the limits are per
    minute); tiers are independent, so the slowest tier bounds the whole run.
    """
    per_tier = dict.fromkeys(TIER_LIMITS, 0)
    for call, count in calls.items():
        per_tier[tier_of(call)] += count
    return {tier: math.ceil(n / TIER_LIMITS[tier]) * 60 for tier, n in per_tier.items()}


# --- one size ---------------------------------------------------------------------------------


@dataclass
class SizeResult:
    size: Size
    fanout: int
    recent_reloads: int
    ours: SweepResult
    baseline: BaselineResult
    floor: dict[str, int]
    simulator: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def floor_total(self) -> int:
        return sum(self.floor.values())

    @property
    def ours_total(self) -> int:
        return sum(self.ours.api_calls.values())

    @property
    def baseline_total(self) -> int:
        return sum(self.baseline.api_calls.values())

    def as_json(self) -> dict[str, Any]:
        ours_tiers = tier_seconds(self.ours.api_calls)
        baseline_tiers = tier_seconds(self.baseline.api_calls)
        return {
            "size": asdict(self.size),
            "fanout": self.fanout,
            "recent_reloads": self.recent_reloads,
            "floor": {"total": self.floor_total, "parts": self.floor},
            "ours": {
                **asdict(self.ours),
                "total_calls": self.ours_total,
                "tier_seconds": ours_tiers,
                "tier_bound_s": max(ours_tiers.values()),
            },
            "baseline": {
                **asdict(self.baseline),
                "total_calls": self.baseline_total,
                "tier_seconds": baseline_tiers,
                "tier_bound_s": max(baseline_tiers.values()),
            },
            "ratios": {
                "ours_to_floor": round(self.ours_total / self.floor_total, 3),
                "ours_to_baseline": round(self.ours_total / self.baseline_total, 4),
            },
            "simulator": self.simulator,
        }


def run_size(
    size: Size,
    *,
    latency_ms: float = 50.0,
    fanout: int = 1,
    workers: int = 32,
    seed: int = 0,
    out: Any = sys.stdout,
) -> SizeResult:
    """Ours and the baseline against two fresh simulators serving the same scenario."""
    workload = build_workload(size, latency_ms=latency_ms, fanout=fanout, seed=seed)
    print(f"size {size.label}: our sweep ...", file=out, flush=True)
    with Simulator(workload.scenario) as sim:
        ours = run_ours(sim.url)
    ours_sim = sim.stats
    print(f"size {size.label}: baseline ({workers} workers) ...", file=out, flush=True)
    with Simulator(workload.scenario) as sim:
        now = datetime.now(UTC)
        baseline = run_baseline(
            sim.url,
            API_KEY,
            now - timedelta(minutes=LOOKBACK_MINUTES),
            now,
            workers=workers,
        )
    return SizeResult(
        size,
        workload.fanout,
        workload.recent_reloads,
        ours,
        baseline,
        floor_parts(workload, ours.triggered),
        {"ours": ours_sim, "baseline": sim.stats},
    )


# --- output -----------------------------------------------------------------------------------


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1_000_000:.1f} MB"


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def render(result: SizeResult) -> str:
    """The table of one size."""
    ours, base = result.ours, result.baseline
    size = result.size
    head = (
        f"\n== {size.events:,} events from {size.sources:,} sources naming "
        f"{size.successors:,} successors (each source names {result.fanout}) =="
    )
    endpoints = sorted(set(ours.api_calls) | set(base.api_calls))
    width = max(len(e) for e in [*endpoints, "wall time (tracemalloc on)"]) + 2
    lines = [head, f"{'':<{width}}{'ours':>12}{'baseline':>12}"]
    for endpoint in endpoints:
        lines.append(
            f"{endpoint:<{width}}{ours.api_calls.get(endpoint, 0):>12,}"
            f"{base.api_calls.get(endpoint, 0):>12,}"
        )
    ours_tiers, base_tiers = tier_seconds(ours.api_calls), tier_seconds(base.api_calls)
    rows = [
        ("total API calls", f"{result.ours_total:,}", f"{result.baseline_total:,}"),
        ("reloads started", f"{ours.triggered:,}", f"{base.started:,}"),
        ("wall time", _duration(ours.wall_s), _duration(base.wall_s)),
        ("peak memory (tracemalloc)", _mb(ours.tracemalloc_peak_bytes), "-"),
        ("max RSS of the process", _mb(ours.ru_maxrss_bytes), "-"),
        (
            "time under real tier limits",
            _duration(max(ours_tiers.values())),
            _duration(max(base_tiers.values())),
        ),
    ]
    lines += [f"{name:<{width}}{a:>12}{b:>12}" for name, a, b in rows]
    parts = " + ".join(str(n) for n in result.floor.values())
    lines += [
        f"floor: {parts} = {result.floor_total:,} (recent reloads {result.recent_reloads:,})",
        f"ours / floor = {result.ours_total / result.floor_total:.2f}x; "
        f"ours / baseline = {result.ours_total / result.baseline_total:.3f} "
        f"(baseline / ours = {result.baseline_total / result.ours_total:.0f}x); "
        f"baseline ran with {base.workers} worker threads",
    ]
    return "\n".join(lines)


def document(results: Sequence[SizeResult], args: argparse.Namespace) -> dict[str, Any]:
    """Everything, for the JSON file."""
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.bench " + " ".join(sys.argv[1:]),
        "latency_ms": args.latency_ms,
        "fanout": args.fanout,
        "baseline_workers": args.workers,
        "seed": args.seed,
        "tier_limits_per_minute": TIER_LIMITS,
        "notes": {
            "ours.wall_s": "run_sweep only, tracemalloc tracing on (adds some CPU time)",
            "ours.tracemalloc_peak_bytes": "peak of Python allocations during run_sweep",
            "ours.ru_maxrss_bytes": "max RSS of the sweep's own process, interpreter included",
            "tier_seconds": "per tier ceil(calls / limit per minute) minutes; GETs incl. audits "
            "are tier 1 (1000/min), other writes tier 2 (100/min), POST reloads 50/min",
            "recent_reloads": "reloads created since the oldest source reload ended: what the "
            "tenant-wide reload listing must page through",
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "sizes": [result.as_json() for result in results],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help=f"comma-separated events/sources/successors (default {DEFAULT_SIZES})",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=50.0, help="simulator latency per answer"
    )
    parser.add_argument(
        "--fanout", type=int, default=1, help="successors named by each source (default 1)"
    )
    parser.add_argument(
        "--workers", type=int, default=32, help="baseline worker threads (default 32)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    args.size_list = [Size.parse(text) for text in args.sizes.split(",") if text.strip()]
    return args


def main(argv: Sequence[str] | None = None, out: Any = sys.stdout) -> int:
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    began = time.monotonic()
    results = []
    for size in args.size_list:
        result = run_size(
            size,
            latency_ms=args.latency_ms,
            fanout=args.fanout,
            workers=args.workers,
            seed=args.seed,
            out=out,
        )
        print(render(result), file=out, flush=True)
        results.append(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document(results, args), indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.json} in {time.monotonic() - began:.0f} s", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

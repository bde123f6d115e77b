"""`make bench` at a tiny size: the harness runs end to end and its numbers agree; the new
parts' arithmetic on made-up times and reports (never a timing asserted)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

from benchmarks.backtoback import BackToBackResult, build_scenario
from benchmarks.bench import main
from benchmarks.hops import HopRun, chain_seconds, hop_latencies, missed_bounds, parse_plan
from benchmarks.processes import CliSweep, SweepLine, parse_sweep_json, sweep_lines
from benchmarks.report import tier_seconds
from benchmarks.simulated import ReloadTimes
from benchmarks.workload import Size, build_workload, floor_parts


def test_tiny_bench_numbers_are_consistent(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    printed = io.StringIO()

    code = main(
        [
            *("--sizes", "120/10/3", "--catch-up", "300/20/5", "--latency-ms", "0"),
            *("--workers", "2", "--json", str(out)),
            *("--fan-out", "5", "--back-to-back", "0", "--hops", "none"),
        ],
        out=printed,
    )

    assert code == 0, printed.getvalue()
    document = json.loads(out.read_text(encoding="utf-8"))
    result = document["sizes"][0]
    ours, baseline, floor = result["ours"], result["baseline"], result["floor"]
    assert ours["events_read"] == baseline["events"] == 120
    assert ours["triggered"] == baseline["started"] == 3
    assert ours["exit_code"] == 0
    assert floor["total"] <= ours["total_calls"] <= baseline["total_calls"]
    assert ours["total_calls"] == sum(ours["api_calls"].values())
    # The simulators saw exactly the starts each side reports, and never had to refuse a call.
    assert result["simulator"]["ours"] == {"reloads_started": 3, "rate_limited": 0}
    assert result["simulator"]["baseline"]["reloads_started"] == 3
    assert ours["tracemalloc_peak_bytes"] > 0
    assert "ours / floor" in printed.getvalue()
    catch_up = document["catch_up"]
    assert catch_up["ours"]["events_read"] == 300
    assert catch_up["ours"]["triggered"] == 5
    assert catch_up["ours"]["tracemalloc_peak_bytes"] == 0  # tracing off: RSS is the measure
    assert catch_up["ours"]["ru_maxrss_bytes"] >= catch_up["ours"]["rss_before_bytes"] > 0
    assert set(catch_up["ours"]["phases_s"]) == {"reconcile", "read", "facts", "trigger", "commit"}
    assert catch_up["rate_limited"] == 0
    assert catch_up["floor"]["total"] <= catch_up["ours"]["total_calls"]
    assert "catch-up: 300 events over 90 days" in printed.getvalue()
    assert "bytes per new reload" in printed.getvalue()
    # The fan-out: one sweep decided all 5 at once, and the tenant started each, no 429.
    fan_out = document["fan_out"]
    assert fan_out["ours"]["triggered"] == fan_out["started"] == 5
    assert fan_out["rate_limited"] == 0
    assert fan_out["decided_to_last_start_s"] is not None
    assert "fan-out: 5 successors eligible at once" in printed.getvalue()
    assert document["back_to_back"] is None
    assert document["hops"] == []


def test_floor_and_tier_arithmetic() -> None:
    workload = build_workload(Size(250, 50, 20), latency_ms=0)

    parts = floor_parts(workload, started=20)

    # Read to each successor's own horizon, the listing settles all 20 within 97 reloads;
    # none has a reload there, so the active listing follows (benchmarks.floor).
    assert workload.recent_reloads == 97
    assert parts == {
        "audits pages": 3,
        "items of sources": 1,
        "items of successors": 1,
        "reload listing pages": 1,
        "active or single reload lookups": 1,
        "native task listing": 1,
        "reloads started": 20,
    }
    assert floor_parts(workload, started=0)["native task listing"] == 0
    # A whole 5-minute budget goes at once; each further one waits for the next window.
    calls = {
        "GET /api/v1/audits": 5001,
        "GET /api/v1/items": 1,
        "POST /api/v1/spaces/{spaceId}/assignments": 500,
        "POST /api/v1/reloads": 481,
    }
    assert tier_seconds(calls) == {"audits": 300, "tier1": 0, "tier2": 0, "reload_start": 600}
    assert tier_seconds({"POST /api/v1/reloads": 240})["reload_start"] == 0


def _reload(app: str, created: float, ended: float) -> ReloadTimes:
    return ReloadTimes(app, created, ended, by_api=app != "A")


def test_hop_latencies_from_the_tenants_times() -> None:
    reloads = [
        _reload("A", 0.0, 10.0),
        _reload("B", 12.5, 15.0),
        _reload("C", 27.0, 29.0),
        _reload("B", 40.0, 42.0),  # a later reload of B is no hop
    ]

    # A's end to B's start, B's end to C's start; D never started: the list stops there.
    assert hop_latencies(reloads, "ABCD") == [2.5, 12.0]
    assert chain_seconds(reloads, "ABC") == 17.0
    assert chain_seconds(reloads, "ABCD") is None
    run = HopRun(0.25, 3, [2.5, 12.0, 30.0], 50.0, 6, 2, {1: 2}, 0, 60.0)
    assert run.median_s == 12.0
    assert missed_bounds([run]) == []
    slow = replace(run, latencies_s=[21.0, 25.0, 30.0], idle_calls={1: 1, 3: 1})
    assert len(missed_bounds([slow])) == 2
    assert missed_bounds([replace(run, interval_minutes=2.0, latencies_s=[90.0])]) == [
        "hops at 2 min: 1 of 3 hops"
    ]
    assert parse_plan("0.25:4,2:2") == [(0.25, 4), (2.0, 2)]
    assert parse_plan("none") == []


def test_sweep_summary_lines_and_reports_are_read_back() -> None:
    log = (
        "2026-01-01 10:00:00 INFO    sweep 20260101T100000Z-ab12 done in 0.1s: 3 events read, "
        "0 new, 0 invalid; decisions: none; 1 API calls; exit 0\n"
        "\x1b[32m2026-01-01 10:00:15\x1b[0m INFO    sweep 20260101T100015Z-cd34 done in 0.4s: "
        "4 events read, 1 new, 0 invalid; 1 late events; decisions: triggered 1; 5 API calls; "
        "exit 0\n"
    )
    assert sweep_lines(log) == [SweepLine(3, 0, 1, 0), SweepLine(4, 1, 5, 0)]
    report = {
        "decisions": [{"reason": "triggered"}, {"reason": "deferred"}, {"reason": "deferred"}],
        "api_calls": {"GET /api/v1/audits": 1, "POST /api/v1/reloads": 1},
    }
    sweep = parse_sweep_json(json.dumps(report), 0, 1.0)
    assert (sweep.count("triggered"), sweep.count("deferred"), sweep.api_calls) == (1, 2, 2)


def test_back_to_back_scenario_and_bounds() -> None:
    scenario = build_scenario(3, latency_ms=0)

    successors = {app.key for app in scenario.apps if not app.tags}
    assert successors == {"at0", "at1", "at2", "bt0", "bt1", "bt2"}
    # Only the first group's sources have finished when the tenant starts.
    assert {reload.app for reload in scenario.reloads} == {"as0", "as1", "as2", "as3"}
    ids = {app.id: app.key for app in scenario.apps}
    for source in (app for app in scenario.apps if app.tags):
        named = {ids[tag.removeprefix("next-")] for tag in source.tags}
        assert {key[0] for key in named} == {source.key[0]}
    sweeps = [
        CliSweep(0, {"triggered": 3}, 5, 1.0),
        CliSweep(0, {"triggered": 1, "deferred": 2}, 5, 1.0),
    ]
    clean = BackToBackResult(3, [*sweeps, CliSweep(0, {"triggered": 2}, 3, 1.0)], 0, 6, 0, 1.0)
    assert clean.missed_bounds() == []
    lost = replace(clean, sweeps=[*sweeps, CliSweep(0, {}, 1, 1.0)], successors_started=4)
    assert len(lost.missed_bounds()) == 2

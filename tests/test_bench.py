"""`make bench` at a tiny size: the harness runs end to end and its numbers agree."""

from __future__ import annotations

import io
import json
from pathlib import Path

from benchmarks.bench import main
from benchmarks.report import tier_seconds
from benchmarks.workload import Size, build_workload, floor_parts


def test_tiny_bench_numbers_are_consistent(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    printed = io.StringIO()

    code = main(
        [
            *("--sizes", "30/5/3", "--catch-up", "300/20/5", "--latency-ms", "0"),
            *("--workers", "2", "--json", str(out)),
        ],
        out=printed,
    )

    assert code == 0, printed.getvalue()
    document = json.loads(out.read_text(encoding="utf-8"))
    result = document["sizes"][0]
    ours, baseline, floor = result["ours"], result["baseline"], result["floor"]
    assert ours["events_read"] == baseline["events"] == 30
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
        "reloads started": 20,
    }
    calls = {"GET /api/v1/audits": 1000, "GET /api/v1/items": 1, "POST /api/v1/reloads": 51}
    assert tier_seconds(calls) == {"tier1": 120, "tier2": 0, "reload_start": 120}

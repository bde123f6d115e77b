"""`make year` at a tiny size: the synthetic sweeps add up, and the run prints and writes its
months (the sizes themselves are the measurement, never asserted here)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.year import MonthEnd, YearResult, main
from benchmarks.year_workload import SyntheticTenant, Workload


def test_a_days_sweeps_add_up_to_the_workload() -> None:
    workload = Workload()
    tenant = SyntheticTenant(workload)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    commits = [
        tenant.commit(index, start + index * timedelta(minutes=15))
        for index in range(workload.sweeps_per_day)
    ]

    assert sum(len(list(c.handled_events)) for c in commits) == workload.reloads_per_day
    started = [row for c in commits for row in c.ledger if row.decision == "triggered"]
    assert len(started) == workload.started_per_day
    assert sum(len(c.chain_runs) for c in commits) == workload.runs_per_day
    assert len({c.sweep["sweep_id"] for c in commits}) == workload.sweeps_per_day


def test_a_short_run_prints_its_months_and_writes_them(tmp_path: Path) -> None:
    out, printed = tmp_path / "year.json", io.StringIO()

    code = main(["--days", "2", "--json", str(out)], out=printed)

    document = json.loads(out.read_text(encoding="utf-8"))
    assert code == 0 and document["missed"] == []
    assert document["sweeps"] == 192
    (month,) = document["months"]
    assert month["rows"]["handled_events"] == 10_000
    assert "| 2026-01 | 2 |" in printed.getvalue()


def month(day: int, size_mb: float) -> MonthEnd:
    return MonthEnd(f"day {day}", day, size_mb, 0.0, {}, 1.0, 1.0)


def test_a_size_over_the_bound_or_growing_once_steady_is_missed() -> None:
    result = YearResult(Workload(), retention_days=90, days=365)
    # Growing during the first retention period is expected; not after it.
    result.months = [month(31, 60), month(120, 150), month(151, 170), month(365, 180)]
    assert result.missed_bounds() == []

    result.months = [month(151, 150), month(365, 190)]
    assert result.missed_bounds() == ["year: not flat once steady (150.0 to 190.0 MB)"]
    result.months = [month(365, 200)]
    assert result.missed_bounds() == ["year: 200.0 MB at the end >= 200 MB"]

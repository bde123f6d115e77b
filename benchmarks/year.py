"""`make year`: the state database's size over a simulated year at 5,000 reloads a day.

No HTTP and no tenant: ``Store.commit_sweep`` is driven directly with the commits a sweep every
15 minutes would make (35,040 sweeps, 52 events each; ``benchmarks.year_workload``), the clock
moving sweep by sweep, pruning (``state.retention``) and the daily incremental vacuum
(``state.vacuum``) doing what they do in production. The file's size is recorded at the end of
each month. It must stay under 200 MB, and flat once the first retention period is over: no
month end after it more than 10 % above the smallest. The SQLite file is written with
``synchronous = OFF`` (no fsync: the size is the same, the run minutes shorter).

    python -m benchmarks.year                       # what `make year` runs
    python -m benchmarks.year --days 150 --started-per-day 1440 --json /tmp/year.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from loguru import logger

from benchmarks.year_workload import SyntheticTenant, Workload
from state.database import open_database
from state.retention import READ_REACH, RetentionPolicy
from state.rows import SweepCommit
from state.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)
BOUND_MB = 200.0
FLAT = 1.10
MB = 1024 * 1024
TABLES = ("handled_events", "ledger", "settled_edges", "chain_runs", "sweeps")
# Sweeps written per transaction: an hour's, so that a year runs in minutes. Each keeps its
# own record; pruning and the daily vacuum run once per commit, as after a sweep.
SWEEPS_PER_COMMIT = 4
LISTS = (
    *("handled_events", "invalid_events", "settled_edges", "ledger", "reload_outcomes"),
    *("chain_runs", "app_names", "alerts", "deadline_days"),
)


@dataclass
class MonthEnd:
    """The database at the end of one simulated month."""

    month: str
    day: int
    size_mb: float
    free_mb: float
    rows: dict[str, int]
    commit_ms_mean: float
    commit_ms_max: float


@dataclass
class YearResult:
    """Every month end, and what the run was."""

    workload: Workload
    retention_days: int
    days: int
    sweeps: int = 0
    months: list[MonthEnd] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def steady(self) -> list[MonthEnd]:
        """The month ends a whole month after the first retention period."""
        settled_day = max(self.retention_days, READ_REACH.days) + 31
        return [month for month in self.months if month.day >= settled_day]

    def missed_bounds(self) -> list[str]:
        """The promises this run broke: the size bound, and flatness once steady."""
        missed = []
        final = self.months[-1].size_mb if self.months else 0.0
        if final >= BOUND_MB:
            missed.append(f"year: {final:.1f} MB at the end >= {BOUND_MB:.0f} MB")
        sizes = [month.size_mb for month in self.steady]
        if sizes and max(sizes) > FLAT * min(sizes):
            missed.append(f"year: not flat once steady ({min(sizes):.1f} to {max(sizes):.1f} MB)")
        return missed

    def as_json(self) -> dict[str, Any]:
        """Everything, for the JSON file."""
        return {
            "workload": asdict(self.workload),
            **{"retention_days": self.retention_days, "days": self.days, "sweeps": self.sweeps},
            "bound_mb": BOUND_MB,
            "months": [asdict(month) for month in self.months],
            "elapsed_s": round(self.elapsed_s, 1),
            "missed": self.missed_bounds(),
        }


def simulate(path: Path, workload: Workload, days: int, retention: RetentionPolicy) -> YearResult:
    """Sweep ``days`` of ``workload`` into a new database at ``path``, month by month."""
    result = YearResult(workload, retention.days, days)
    db = open_database(path)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -65536")
    store = Store(db, str(path))
    store.retention = retention
    tenant, began, commit_ms = SyntheticTenant(workload), time.monotonic(), []
    step = timedelta(minutes=workload.sweep_minutes)
    total = days * workload.sweeps_per_day
    for first in range(0, total, SWEEPS_PER_COMMIT):
        indexes = range(first, min(first + SWEEPS_PER_COMMIT, total))
        commits = [tenant.commit(index, START + index * step) for index in indexes]
        commit, earlier = _merged(commits)
        now = START + indexes[-1] * step
        started = time.perf_counter()
        db.table("sweeps").upsert_all(earlier, pk="sweep_id")
        store.commit_sweep(commit, now)
        commit_ms.append((time.perf_counter() - started) * 1000)
        _stamp_starts(db, [one.sweep["sweep_id"] for one in commits])
        result.sweeps += len(commits)
        if (now + step).month != now.month or indexes[-1] + 1 == total:
            result.months.append(_month_end(db, path, now, commit_ms))
            commit_ms = []
    db.close()
    result.elapsed_s = time.monotonic() - began
    return result


def _merged(commits: list[SweepCommit]) -> tuple[SweepCommit, list[dict[str, Any]]]:
    """One commit of several sweeps' rows (the last one's record and cursors), and the
    records of the sweeps before it."""
    rows: dict[str, Any] = {
        name: [row for one in commits for row in getattr(one, name)] for name in LISTS
    }
    return replace(commits[-1], **rows), [one.sweep for one in commits[:-1]]


def _stamp_starts(db: Any, sweep_ids: list[str]) -> None:
    """What ``Store.stamp_intent`` writes before each start (these sweeps send none)."""
    marks = ",".join("?" * len(sweep_ids))
    with db.atomic():
        db.execute(
            "update ledger set written_at = updated_at, in_flight_s = 60.0"
            f" where sweep_id in ({marks}) and decision = 'triggered'",
            sweep_ids,
        )


def _month_end(db: Any, path: Path, now: datetime, commit_ms: list[float]) -> MonthEnd:
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    page = db.execute("PRAGMA page_size").fetchone()[0]
    rows = {table: db.execute(f"select count(*) from {table}").fetchone()[0] for table in TABLES}
    return MonthEnd(
        month=f"{now:%Y-%m}",
        day=(now - START).days + 1,
        size_mb=round(path.stat().st_size / MB, 1),
        free_mb=round(free * page / MB, 1),
        rows=rows,
        commit_ms_mean=round(sum(commit_ms) / len(commit_ms), 2),
        commit_ms_max=round(max(commit_ms), 1),
    )


def print_table(result: YearResult, out: TextIO) -> None:
    """The month ends, as a Markdown table."""
    w = result.workload
    print(
        f"A year of sweeps every {w.sweep_minutes} min at {w.reloads_per_day:,} reloads a day "
        f"({w.started_per_day:,} started by reload-chain, {w.skipped_per_day:,} skipped, "
        f"{w.runs_per_day:,} chain runs), retention_days = "
        f"{result.retention_days}: {result.sweeps:,} sweeps in {result.elapsed_s:.0f} s",
        file=out,
    )
    print(
        "\n| month | day | file MB | free MB | handled events | ledger | settled pairs "
        "| chain runs | sweeps | commit ms mean / max |",
        file=out,
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|", file=out)
    for m in result.months:
        counts = " | ".join(f"{m.rows[table]:,}" for table in TABLES)
        print(
            f"| {m.month} | {m.day} | {m.size_mb:.1f} | {m.free_mb:.1f} | {counts} "
            f"| {m.commit_ms_mean:.1f} / {m.commit_ms_max:.0f} |",
            file=out,
        )
    missed = result.missed_bounds()
    print("\n" + ("\n".join(missed) if missed else f"Under {BOUND_MB:.0f} MB and flat."), file=out)


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run, print, write the JSON; exit 1 if a bound is missed."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.year", description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reloads-per-day", type=int, default=Workload.reloads_per_day)
    parser.add_argument("--started-per-day", type=int, default=Workload.started_per_day)
    parser.add_argument("--skipped-per-day", type=int, default=Workload.skipped_per_day)
    parser.add_argument("--runs-per-day", type=int, default=Workload.runs_per_day)
    parser.add_argument("--retention-days", type=int, default=90)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/year.json"))
    args = parser.parse_args(argv)
    logger.remove()  # a line per commit at DEBUG; what goes wrong still shows
    logger.add(sys.stderr, level="WARNING")
    workload = Workload(
        reloads_per_day=args.reloads_per_day,
        started_per_day=args.started_per_day,
        skipped_per_day=args.skipped_per_day,
        runs_per_day=args.runs_per_day,
    )
    with tempfile.TemporaryDirectory(prefix="reload-chain-year-") as folder:
        path = Path(folder) / "state.db"
        result = simulate(path, workload, args.days, RetentionPolicy(args.retention_days))
    print_table(result, out)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result.as_json(), indent=2) + "\n", encoding="utf-8")
    return 1 if result.missed_bounds() else 0


if __name__ == "__main__":
    sys.exit(main())

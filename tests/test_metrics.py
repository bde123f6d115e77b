"""The metrics file: Prometheus text format, totals from the database, written atomically."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlite_utils import Database

from jobs.report import SweepReport
from jobs.sweep import SweepContext, run_sweep
from qlik.times import format_time, parse_time
from scheduler.config import load_settings
from scheduler.metrics import SnapshotCollector, after_sweep, write_metrics
from scheduler.settings import Settings
from state.database import open_database
from state.metrics_reads import metrics_snapshot
from state.totals import DURATION_BUCKETS_S
from tests.fake_tenant import TENANT, FakeTenant
from tests.sweeping import NO_SLEEP, finish_started, sweep_context

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(path: Path) -> Samples:
    """Every sample of the file, by (name, sorted labels); parsing fails on a malformed file."""
    text = path.read_text(encoding="utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labelled(found: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(labels)[label]: value for (n, labels), value in found.items() if n == name}


def three_hops(tenant: FakeTenant) -> tuple[str, str, str]:
    c = tenant.add_app(3)
    b = tenant.add_app(2, tags=[f"next-{c}"])
    a = tenant.add_app(1, tags=[f"next-{b}"])
    return a, b, c


def run_chain(ctx: SweepContext, tenant: FakeTenant) -> list[SweepReport]:
    """A -> B -> C: A's external reload ends, B and C are started and succeed, over 3 sweeps."""
    a, b, c = three_hops(tenant)
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    reports = [run_sweep(ctx, tenant.now)]
    finish_started(tenant, b)
    reports.append(run_sweep(ctx, tenant.now))
    finish_started(tenant, c, tenant.now - timedelta(seconds=30))
    reports.append(run_sweep(ctx, tenant.now))
    return reports


def test_the_file_parses_and_its_counters_are_what_the_database_holds(
    ctx: SweepContext, tenant: FakeTenant, tmp_path: Path
) -> None:
    reports = run_chain(ctx, tenant)
    path = tmp_path / "reload_chain.prom"

    write_metrics(ctx.store.db, path)

    found = samples(path)
    codes = labelled(found, "reload_chain_sweeps_total", "exit_code")
    assert codes == {"0": 3, "1": 0, "2": 0, "3": 0}
    reasons = Counter[str]()
    calls = Counter[str]()
    for report in reports:
        reasons.update(report.reason_counts())
        calls.update(report.api_calls)
    assert labelled(found, "reload_chain_decisions_total", "reason") == reasons
    assert labelled(found, "reload_chain_api_calls_total", "endpoint") == calls
    assert found[("reload_chain_reloads_started_total", ())] == 2
    outcomes = labelled(found, "reload_chain_reload_outcomes_total", "outcome")
    assert outcomes == {"succeeded": 2, "failed": 0, "canceled": 0}
    assert found[("reload_chain_rate_limited_total", ())] == 0
    (newest,) = ctx.store.db.query("select max(finished_at) as t from sweeps")
    assert found[("reload_chain_last_sweep_timestamp_seconds", ())] == pytest.approx(
        parse_time(newest["t"]).timestamp()
    )


def test_a_finished_chain_run_is_one_duration_from_root_end_to_last_end(
    ctx: SweepContext, tenant: FakeTenant, tmp_path: Path
) -> None:
    run_chain(ctx, tenant)
    path = tmp_path / "m.prom"
    write_metrics(ctx.store.db, path)
    found = samples(path)
    duration = "reload_chain_chain_run_duration_seconds"
    # A's reload ended 5 minutes before now, C's (the last hop) 30 seconds before.
    assert found[(f"{duration}_count", ())] == 1
    assert found[(f"{duration}_sum", ())] == 270
    buckets = labelled(found, f"{duration}_bucket", "le")
    assert (buckets["30.0"], buckets["120.0"], buckets["300.0"], buckets["+Inf"]) == (0, 0, 1, 1)
    assert len(buckets) == len(DURATION_BUCKETS_S) + 1


def test_a_chain_run_still_running_has_no_duration(ctx: SweepContext, tenant: FakeTenant) -> None:
    a, b, _ = three_hops(tenant)
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    finish_started(tenant, b)
    run_sweep(ctx, tenant.now)  # C started, not seen finished
    snapshot = metrics_snapshot(ctx.store.db)
    assert snapshot.chain_run_durations_s == ()
    assert (snapshot.reloads_started, snapshot.reload_outcomes) == (2, {"succeeded": 1})


def record(db: Database, minute: int, **fields: Any) -> None:
    started = parse_time("2026-11-22T10:00:00Z") + timedelta(minutes=minute)
    row = {
        "sweep_id": f"s{minute:03d}",
        "started_at": format_time(started),
        "finished_at": format_time(started + timedelta(seconds=1)),
        "dry_run": 0,
        "decisions": '{"fresh": 1}',
        "api_calls": '{"GET /api/v1/audits": 1}',
        "exit_code": 0,
    }
    db.table("sweeps").insert(row | fields, alter=True)


def test_old_rows_without_a_429_count_dry_runs_and_odd_json_are_tolerated() -> None:
    db = open_database(":memory:")
    record(db, 0)  # rate_limited NULL: a sweep recorded before the column existed
    record(db, 1, rate_limited=2, exit_code=1)
    record(db, 2, dry_run=1, rate_limited=5)
    record(db, 3, decisions="not json", api_calls="[1, 2]", exit_code=2)
    snapshot = metrics_snapshot(db)
    assert snapshot.rate_limited == 2
    assert snapshot.sweeps_by_exit_code == {0: 1, 1: 1, 2: 1}
    assert snapshot.decisions_by_reason == {"fresh": 2}
    assert snapshot.api_calls == {"GET /api/v1/audits": 2}
    assert snapshot.last_success_at == parse_time("2026-11-22T10:00:01Z")
    assert snapshot.last_sweep_at == parse_time("2026-11-22T10:03:01Z")


def test_an_empty_database_has_zeros_and_no_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    write_metrics(open_database(":memory:"), path)
    found = samples(path)
    assert found[("reload_chain_sweeps_total", (("exit_code", "0"),))] == 0
    assert ("reload_chain_last_sweep_timestamp_seconds", ()) not in found
    assert found[("reload_chain_chain_run_duration_seconds_count", ())] == 0


def test_a_second_process_adds_to_the_first_ones_numbers(
    tenant: FakeTenant, tmp_path: Path
) -> None:
    database, path = tmp_path / "state.db", tmp_path / "metrics" / "reload_chain.prom"
    settings = Settings(tenant_url=TENANT, api_key="key", database=database, metrics_file=path)
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    for _ in range(2):  # two one-shot processes: each its own client, connection and counters
        with sweep_context(settings, database, sender_options=NO_SLEEP) as ctx:
            tenant.finish(a, at=tenant.now - timedelta(minutes=1))
            run_sweep(ctx, tenant.now)
            after_sweep(ctx.store.db, settings)
        finish_started(tenant, b)
        tenant.now += timedelta(minutes=15)
    found = samples(path)
    assert found[("reload_chain_sweeps_total", (("exit_code", "0"),))] == 2
    assert found[("reload_chain_reloads_started_total", ())] == 2
    # The first process's started reload was seen finished by the second.
    outcomes = labelled(found, "reload_chain_reload_outcomes_total", "outcome")
    assert outcomes["succeeded"] == 1
    audits = labelled(found, "reload_chain_api_calls_total", "endpoint")["GET /api/v1/audits"]
    assert audits >= 2


def test_no_partial_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logged: list[str]
) -> None:
    db = open_database(":memory:")
    record(db, 0)
    path = tmp_path / "m.prom"
    settings = Settings(database=tmp_path / "state.db", metrics_file=path)
    after_sweep(db, settings)
    before = path.read_text(encoding="utf-8")
    record(db, 1, exit_code=1)

    def broken(self: SnapshotCollector) -> Any:
        yield from []
        raise OSError("disk full")

    monkeypatch.setattr(SnapshotCollector, "collect", broken)
    after_sweep(db, settings)  # never raises: a sweep's exit code is not the file's business

    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]  # no temporary file left
    warnings = [line for line in logged if line.startswith("WARNING")]
    assert len(warnings) == 1 and "disk full" in warnings[0] and str(path) in warnings[0]


def test_a_path_that_cannot_be_written_is_one_warning(tmp_path: Path, logged: list[str]) -> None:
    directory = tmp_path / "a-directory.prom"
    directory.mkdir()
    settings = Settings(database=tmp_path / "state.db", metrics_file=directory)
    after_sweep(open_database(":memory:"), settings)
    assert len([line for line in logged if line.startswith("WARNING")]) == 1


def test_no_metrics_file_set_writes_nothing(tmp_path: Path) -> None:
    after_sweep(open_database(":memory:"), Settings(database=tmp_path / "state.db"))
    assert list(tmp_path.iterdir()) == []


def test_the_setting_comes_from_the_environment_or_the_file(tmp_path: Path) -> None:
    environ = {"RELOAD_CHAIN_METRICS_FILE": "~/textfile/reload_chain.prom"}
    assert load_settings(environ=environ).metrics_file == (
        Path.home() / "textfile" / "reload_chain.prom"
    )
    config = tmp_path / "reload-chain.toml"
    config.write_text('metrics_file = "metrics/reload_chain.prom"\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    assert settings.metrics_file == tmp_path / "metrics" / "reload_chain.prom"
    assert load_settings(environ={}).metrics_file is None

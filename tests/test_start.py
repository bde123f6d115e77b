"""``reload-chain start``: selection by id and tag, the sweep's guards, triggering, the CLI.

Most tests run ``run_start`` against the respx fake tenant with an injected ``now``; the CLI
tests go through ``main()``; one test runs the installed console script against the real
simulator over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.decide import Candidate, TenantFacts, decide_bare
from jobs.report import Outcome
from jobs.start import HEADERS as START_HEADERS
from jobs.start import StartReport, invalid_ids, new_start_id, run_start
from jobs.sweep import SweepContext
from qlik.client import connect
from qlik.clock import SYSTEM_CLOCK
from scheduler.cli import main
from scheduler.lock import sweep_lock
from scheduler.output import table
from scheduler.settings import Settings
from simulator.scenario import AppSpec, ReloadSpec, Scenario, SpaceSpec
from simulator.server import SimulatorServer
from state.database import open_database
from state.store import Store
from tests.conftest import NOW
from tests.fake_tenant import TENANT, FakeTenant

NO_SLEEP = {"sleep": lambda _s: None}
SCRIPT_ID = "65a1b2c3d4e5f60718293a4b"
UNKNOWN = "0f0f0f0f-1234-4abc-8def-0123456789ab"
UNAUTHORIZED = httpx.Response(401, json={"errors": [{"code": "HTTP-401", "title": "Unauthorized"}]})


def make_ctx(**settings: Any) -> Iterator[SweepContext]:
    """A sweep context on the fake tenant and an in-memory database."""
    values = Settings(tenant_url=TENANT, api_key="key", database=":memory:", **settings)  # type: ignore[arg-type]
    db = open_database(":memory:")
    client = connect(TENANT, values.api_key, sender_options=NO_SLEEP)  # type: ignore[arg-type]
    yield SweepContext(client, Store(db), values)
    client.close()
    db.close()


@pytest.fixture
def ctx(tenant: FakeTenant) -> Iterator[SweepContext]:
    yield from make_ctx()


def start(ctx: SweepContext, tenant: FakeTenant, apps=(), tags=(), **kw: Any) -> StartReport:  # type: ignore[no-untyped-def]
    return run_start(ctx, list(apps), list(tags), tenant.now, **kw)


def ledger(ctx: SweepContext) -> list[dict[str, Any]]:
    return list(ctx.store.db.table("ledger").rows) if ctx.store.db.table("ledger").exists() else []


# --- pure parts --------------------------------------------------------------------------------


def test_ids_must_be_app_guids_or_script_ids() -> None:
    good = ["00000000-0000-4000-8000-000000000001", SCRIPT_ID, SCRIPT_ID.upper()]
    assert invalid_ids([*good, "abc", "next-x", "", SCRIPT_ID + "0"]) == [
        "abc",
        "next-x",
        "",
        SCRIPT_ID + "0",
    ]


def test_start_ids_sort_and_are_marked_as_starts() -> None:
    first, second = new_start_id(NOW), new_start_id(NOW + timedelta(seconds=1))
    assert first.startswith("start-20261122T100000Z-") and first < second


def test_a_bare_candidate_has_no_source_end_and_is_never_fresh() -> None:
    from qlik.models import Reload

    latest = Reload.model_validate(
        {"id": "r1", "appId": "a", "status": "SUCCEEDED", "creationTime": "2026-11-22T09:00:00Z"}
    )
    facts = TenantFacts(edges={}, apps={"a": _facts("a")}, latest_reloads={"a": latest})
    candidate = Candidate("a", runs=())
    assert candidate.newest_source_end is None
    settings = Settings(tenant_url=TENANT, api_key="key")  # type: ignore[arg-type]
    decision = decide_bare(candidate, facts, settings, NOW)
    assert (decision.action, decision.reason, decision.latest) == ("trigger", "triggered", latest)
    assert decide_bare(candidate, facts, settings, NOW - timedelta(minutes=55)).reason == (
        "tolerance"
    )
    assert decide_bare(Candidate("b", ()), facts, settings, NOW).reason == "not_found"


def _facts(app_id: str):  # type: ignore[no-untyped-def]
    from jobs.decide import AppFacts

    return AppFacts(app_id, "A")


# --- selection, guards, triggering -------------------------------------------------------------


def test_start_by_id_triggers_and_records_under_a_start_id(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a = tenant.add_app(1)
    tenant.finish(a, at=tenant.now - timedelta(minutes=30))  # succeeded: "fresh" does not apply
    report = start(ctx, tenant, [a.upper()])

    assert tenant.started == [a]
    answer = report.as_json()
    (started,) = answer["started"]
    assert started == {"app_id": a, "name": "App 1", "reload_id": started["reload_id"]}
    assert started["reload_id"].startswith("rld-")
    assert (answer["skipped"], answer["failed"], answer["not_found"], answer["total"]) == (
        [],
        [],
        [],
        1,
    )
    (row,) = ledger(ctx)
    assert row["sweep_id"] == report.start_id and row["sweep_id"].startswith("start-")
    assert (row["decision"], row["state"], row["reload_id"]) == (
        "triggered",
        "done",
        started["reload_id"],
    )
    assert report.exit_code == 0


def test_tag_selects_every_carrier_and_selectors_are_deduplicated(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, b = tenant.add_app(1, tags=["month-end"]), tenant.add_app(2, tags=["month-end", "hr"])
    tenant.add_app(3, tags=["month-end-draft"])  # the tenant's name search is not exact
    c = tenant.add_app(4)
    report = start(ctx, tenant, [b, c, b.upper()], ["month-end", "hr", "month-end"])

    assert tenant.started == [b, c, a]
    assert report.total == 3
    assert [entry["app_id"] for entry in report.as_json()["started"]] == [b, c, a]


def test_unknown_ids_and_tags_are_reported_not_failed(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a = tenant.add_app(1)
    tenant.add_app(2, tags=["other"])
    report = start(ctx, tenant, [a, UNKNOWN], ["nosuch"])

    assert tenant.started == [a]
    assert report.as_json()["not_found"] == [UNKNOWN, "tag:nosuch"]
    assert report.total == 2  # both ids; a tag is not an app
    assert report.exit_code == 0


def test_the_sweep_guards_apply(tenant: FakeTenant) -> None:
    tenant.spaces |= {"dev": "shared", "prod": "managed"}
    running, recent, old, managed = (tenant.add_app(n, space_id="prod") for n in (1, 2, 3, 4))
    unmanaged = tenant.add_app(5, space_id="dev")
    tenant._reload(running, "RELOADING", tenant.now - timedelta(hours=2))
    tenant.finish(recent, at=tenant.now - timedelta(minutes=1))
    tenant.finish(old, at=tenant.now - timedelta(minutes=45))

    for ctx in make_ctx(only_managed_spaces=True):
        report = start(ctx, tenant, [running, recent, old, unmanaged, managed])
    reasons = {entry["app_id"]: entry["reason"] for entry in report.as_json()["skipped"]}
    assert reasons == {running: "running", recent: "tolerance", unmanaged: "not_managed"}
    assert tenant.started == [old, managed]
    assert report.exit_code == 0


def test_dry_run_starts_nothing_and_writes_nothing(ctx: SweepContext, tenant: FakeTenant) -> None:
    a, b = tenant.add_app(1, tags=["t"]), tenant.add_app(2)
    tenant.finish(b, at=tenant.now - timedelta(minutes=2))
    report = start(ctx, tenant, [b], ["t"], dry_run=True)

    assert tenant.started == []
    assert ledger(ctx) == []
    answer = report.as_json()
    assert answer["dry_run"] is True
    assert answer["started"] == [{"app_id": a, "name": "App 1", "reload_id": None}]
    assert answer["skipped"] == [{"app_id": b, "name": "App 2", "reason": "tolerance"}]
    assert report.rows()[1][1:3] == ("App 1", "would start")


def test_start_table_names_apps_briefly_and_fits_80_columns() -> None:
    named, nameless = "a281c98c-fa79-516a-8b66-1d91e2762055", UNKNOWN
    outcomes = [
        Outcome(Candidate(named, runs=()), "triggered", "triggered", reload_id=SCRIPT_ID),
        Outcome(Candidate(SCRIPT_ID, runs=()), "skipped", "access_denied"),
        Outcome(Candidate(nameless, runs=()), "failed", "rejected"),
    ]
    names = {named: "Accounts Payable and Receivable", SCRIPT_ID: "Finance extract"}
    report = StartReport("start-1", False, outcomes, names, ["tag:month-end-close"], 3)

    rows = report.rows()

    assert rows[0][:3] == ("a281c98c", "Accounts Payabl\u2026", "started")
    assert rows[0][4] == SCRIPT_ID  # the reload started, whole
    assert rows[1][:2] == (SCRIPT_ID[:8], "Finance extract")
    assert rows[2][:2] == (nameless, None)  # nothing else names it: the whole id
    assert rows[3][:3] == ("tag:month-end-close", None, "not found")
    text = table(START_HEADERS, rows[:2])
    assert max(len(line) for line in text.splitlines()) <= 80
    assert report.as_json()["started"] == [
        {"app_id": named, "name": "Accounts Payable and Receivable", "reload_id": SCRIPT_ID}
    ]


def test_a_pending_reload_is_skipped_as_running(ctx: SweepContext, tenant: FakeTenant) -> None:
    a = tenant.add_app(1)
    tenant.post_answers[a] = httpx.Response(429, json={"errors": [{"code": "RELOADS-429"}]})
    report = start(ctx, tenant, [a])
    assert report.as_json()["skipped"] == [{"app_id": a, "name": "App 1", "reason": "running"}]
    assert report.exit_code == 0


def test_a_lost_answer_is_a_failure_left_as_an_intent(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, b = tenant.add_app(1), tenant.add_app(2)
    tenant.accept_then_fail.add(a)
    report = start(ctx, tenant, [a, b])

    (failed,) = report.as_json()["failed"]
    assert (failed["app_id"], failed["reason"]) == (a, "transient") and failed["detail"]
    assert [entry["app_id"] for entry in report.as_json()["started"]] == [b]
    states = {row["app_id"]: (row["decision"], row["state"]) for row in ledger(ctx)}
    assert states == {a: ("failed", "unconfirmed"), b: ("triggered", "done")}
    assert report.exit_code == 1


def test_refused_credentials_stop_the_starts_and_exit_2(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    a, b = tenant.add_app(1), tenant.add_app(2)
    tenant.post_answers[a] = UNAUTHORIZED
    report = start(ctx, tenant, [a, b])

    assert tenant.started == []
    assert [entry["reason"] for entry in report.as_json()["failed"]] == ["auth", "auth"]
    assert report.exit_code == 2


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tenant: FakeTenant) -> Path:
    path = tmp_path / "state.db"
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", "secret-key-123")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(path))
    tenant.now = SYSTEM_CLOCK.now()
    return path


def test_an_invalid_id_is_exit_2_before_any_request(
    database: Path, tenant: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.unauthorized = True  # any request would fail differently
    assert main(["start", "--app", SCRIPT_ID, "not-an-id"]) == 2
    assert "not-an-id" in capsys.readouterr().err
    assert not database.exists()


def test_nothing_selected_is_exit_2(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["start"]) == 2
    assert "--app ID or --tag NAME" in capsys.readouterr().err


def test_start_json_through_main_and_status_shows_it(
    database: Path, tenant: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    a = tenant.add_app(1, tags=["nightly"])
    assert main(["start", "--tag", "nightly", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert set(answer) == {"dry_run", "started", "skipped", "not_found", "failed", "total"}
    assert [entry["app_id"] for entry in answer["started"]] == [a]

    assert main(["status", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["decisions"]
    assert row["sweep_id"].startswith("start-") and row["reload_id"] == tenant.reloads[-1]["id"]


def test_force_through_main_starts_a_reload_inside_the_tolerance(
    database: Path, tenant: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    recent = tenant.add_app(1)
    tenant.finish(recent, at=tenant.now - timedelta(minutes=1))
    assert main(["start", "--app", recent, "--json"]) == 0
    skipped = json.loads(capsys.readouterr().out)["skipped"]
    assert [(entry["app_id"], entry["reason"]) for entry in skipped] == [(recent, "tolerance")]

    assert main(["start", "--app", recent, "--force", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert [entry["app_id"] for entry in answer["started"]] == [recent]
    assert tenant.started == [recent]


def test_start_table_and_dry_run_without_database(
    database: Path, tenant: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.add_app(1, tags=["nightly"])
    assert main(["start", "--tag", "nightly", "nosuch", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would start" in out and "tag:nosuch" in out
    assert "1 selected: 1 would start, 0 skipped, 0 failed, 1 not found" in out
    assert tenant.started == [] and not database.exists()


def test_start_while_a_sweep_holds_the_lock_exits_3(
    database: Path, tenant: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    a = tenant.add_app(1)
    with sweep_lock(database):
        assert main(["start", "--app", a]) == 3
        assert main(["start", "--app", a, "--dry-run"]) == 0  # a dry run takes no lock
    assert tenant.started == []


# --- end to end: the installed console script against the simulator ----------------------------


def test_console_script_starts_by_tag_and_id_against_the_simulator(tmp_path: Path) -> None:
    spec = Scenario(
        name="start",
        spaces=[SpaceSpec(id="dev", name="Dev", type="shared", members={"admin": ["producer"]})],
        apps=[
            AppSpec(key="ledger", space="dev", tags=["month-end"], queue_seconds=0.05),
            AppSpec(key="payables", space="dev", tags=["month-end"], duration_seconds=60),
            AppSpec(key="extract", resource_type="script", space="dev", queue_seconds=0.05),
        ],
        reloads=[ReloadSpec(app="payables", start_in_seconds=0)],
    )
    with SimulatorServer(spec) as sim:
        ids = {app.key: app.id for app in sim.tenant.apps.values()}
        code, answer = _run(sim, tmp_path, "--tag", "month-end", "nosuch", "--app", ids["extract"])
        assert code == 0
        assert {e["app_id"] for e in answer["started"]} == {ids["ledger"], ids["extract"]}
        assert answer["skipped"] == [
            {"app_id": ids["payables"], "name": "payables", "reason": "running"}
        ]
        assert (answer["not_found"], answer["failed"], answer["total"]) == (["tag:nosuch"], [], 3)
        assert dict(sim.tenant.reload_log()) == {ids["ledger"]: 1, ids["extract"]: 1}


def _run(sim: SimulatorServer, tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    env = os.environ | {
        "QLIK_TENANT_URL": sim.url,
        "QLIK_API_KEY": sim.tenant.scenario.api_key,
        "RELOAD_CHAIN_DB": str(tmp_path / "state.db"),
    }
    program = str(Path(sys.executable).parent / "reload-chain")
    done = subprocess.run(
        [program, "start", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_force_starts_within_the_tolerance_but_never_a_running_reload(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    recent, running = tenant.add_app(1), tenant.add_app(2)
    tenant.finish(recent, at=tenant.now - timedelta(minutes=1))
    tenant._reload(running, "RELOADING", tenant.now - timedelta(minutes=5))
    report = run_start(ctx, [recent, running], [], tenant.now, force=True)

    assert tenant.started == [recent]
    reasons = {entry["app_id"]: entry["reason"] for entry in report.as_json()["skipped"]}
    assert reasons == {running: "running"}


def test_without_force_the_tolerance_guard_holds(ctx: SweepContext, tenant: FakeTenant) -> None:
    recent = tenant.add_app(1)
    tenant.finish(recent, at=tenant.now - timedelta(minutes=1))
    report = run_start(ctx, [recent], [], tenant.now)
    assert tenant.started == []
    assert report.as_json()["skipped"][0]["reason"] == "tolerance"


def test_force_is_in_the_help_and_every_option_has_help() -> None:
    from scheduler.cli import build_parser

    start_parser = build_parser()._subparsers._group_actions[0].choices["start"]  # type: ignore[union-attr]
    undocumented = [
        action.dest
        for action in start_parser._actions
        if action.help is None and action.dest not in ("help",)
    ]
    assert undocumented == []
    assert "--force" in start_parser.format_help()

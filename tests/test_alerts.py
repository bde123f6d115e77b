"""Which alerts a sweep raises (``jobs.alerts``, pure), and that a dry run raises none."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobs.alerts import (
    KINDS,
    Alerting,
    Cause,
    FailedReload,
    Raising,
    SweepHistory,
    app_link,
    causes,
    outbox_rows,
    sweep_failing,
)
from jobs.decide import Candidate
from jobs.report import Outcome
from jobs.sweep import SweepContext, run_sweep
from scheduler.alert_config import AlertRoute, destination_of
from scheduler.alert_send import hub_link
from tests.fake_tenant import TENANT, FakeTenant

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
APP = "3f0a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
ROOT = "11111111-2222-4333-8444-555555555555"
SCRIPT = "65a1f0c2b3d4e5f6a7b8c9d0"
HOOK = "json://hooks.example.com/alerts"
MAIL = "mailto://alerts:pw-1234@smtp.example.com?to=bi@example.com"
EVERYTHING = AlertRoute((HOOK,), frozenset(KINDS))
CALM = SweepHistory((0, 0, 0))


def raising(*routes: AlertRoute, **fields: Any) -> Raising:
    values: dict[str, Any] = {
        "names": {APP: "Accounts Payable", ROOT: "Finance Extract"},
        "roots": {"rld-root": ROOT},
    }
    return Raising("sweep-1", NOW, Alerting(routes or (EVERYTHING,), TENANT), **values | fields)


def outcome(reason: str, decision: str = "skipped", detail: str = "") -> Outcome:
    candidate = Candidate(APP, runs=(), chain_run_id="rld-root")
    return Outcome(candidate, decision, reason, detail=detail)  # type: ignore[arg-type]


def failed_reload() -> FailedReload:
    return FailedReload("rld-7", APP, "rld-root", NOW - timedelta(minutes=1))


def kinds(found: list[Cause]) -> list[str]:
    return [cause.kind for cause in found]


def test_a_failed_reload_we_started_names_app_root_reason_and_link() -> None:
    found = causes([], [failed_reload()], CALM)

    (row,) = outbox_rows(found, raising())

    assert (row["kind"], row["app_id"], row["chain_run_id"]) == ("reload_failed", APP, "rld-root")
    assert row["destination"] == destination_of(HOOK)
    assert (row["state"], row["attempts"], row["sweep_id"]) == ("pending", 0, "sweep-1")
    assert row["raised_at"] == "2026-11-22T10:00:00.000Z"
    assert json.loads(row["message"]) == {
        "kind": "reload_failed",
        "app_id": APP,
        "app_name": "Accounts Payable",
        "root_app_id": ROOT,
        "root_app_name": "Finance Extract",
        "reason": "reload rld-7, started by reload-chain, ended in failure at "
        "2026-11-22T09:59:00.000Z",
        "app_link": f"{TENANT}/sense/app/{APP}",
    }


@pytest.mark.parametrize(
    ("reason", "decision", "kind"),
    [
        ("access_denied", "skipped", "start_failed"),
        ("quota", "failed", "start_failed"),
        ("rejected", "failed", "start_failed"),
        ("not_found", "skipped", "not_found"),
        ("transient", "failed", None),
        ("auth", "failed", None),
        ("deferred", "skipped", None),
        ("running", "skipped", None),
        ("tolerance", "skipped", None),
        ("triggered", "triggered", None),
    ],
)
def test_which_outcomes_raise_what(reason: str, decision: str, kind: str | None) -> None:
    found = causes([outcome(reason, decision, detail="403 Forbidden")], [], CALM)
    assert kinds(found) == ([kind] if kind else [])


def test_a_refused_start_says_why_with_the_tenants_detail() -> None:
    (cause,) = causes([outcome("access_denied", detail="403 RELOADS-003")], [], CALM)
    assert cause.reason.startswith("not started (access_denied): the tenant refused the start")
    assert cause.reason.endswith(": 403 RELOADS-003")


@pytest.mark.parametrize(
    ("codes", "raised"),
    [
        ((1, 2, 1), True),
        ((2, 2, 2, 2), True),
        ((1, 1, 0), False),
        ((0, 1, 1), False),
        ((1, 1), False),
        ((3, 1, 1), False),
    ],
)
def test_sweep_failing_after_three_sweeps_with_exit_1_or_2(
    codes: tuple[int, ...], raised: bool
) -> None:
    assert (sweep_failing(SweepHistory(codes)) is not None) is raised


def test_sweep_failing_says_the_codes_and_the_last_error() -> None:
    cause = sweep_failing(SweepHistory((2, 1, 1), error="401 Unauthorized"))
    assert cause is not None
    assert cause.app_id == ""
    assert cause.reason == (
        "the last 3 sweeps ended with exit 2, 1, 1 (newest first); the last one: 401 Unauthorized"
    )


def test_sweep_failing_is_raised_once_per_streak() -> None:
    success = NOW - timedelta(hours=5)
    streak = causes([], [], SweepHistory((1, 1, 1), last_success=success))
    key = (destination_of(HOOK), "sweep_failing", "")
    # Raised at the streak's third sweep, hours ago: the streak goes on, nothing new.
    assert outbox_rows(streak, raising(last_raised={key: success + timedelta(minutes=3)})) == []
    # The last one was raised before the last success: a new streak, a new alert.
    (row,) = outbox_rows(streak, raising(last_raised={key: success - timedelta(minutes=1)}))
    assert row["kind"] == "sweep_failing"
    # No sweep ever succeeded: the one raised covers the streak.
    never = causes([], [], SweepHistory((1, 1, 1)))
    assert outbox_rows(never, raising(last_raised={key: NOW - timedelta(days=3)})) == []
    assert len(outbox_rows(never, raising())) == 1


def test_repeat_minutes_per_destination_kind_and_app() -> None:
    found = causes([], [failed_reload()], CALM)
    hook, mail = destination_of(HOOK), destination_of(MAIL)
    route = AlertRoute((HOOK, MAIL), frozenset(KINDS), repeat_minutes=60)
    recent = {(hook, "reload_failed", APP): NOW - timedelta(minutes=59)}
    old = {(hook, "reload_failed", APP): NOW - timedelta(minutes=60)}
    other_kind = {(hook, "not_found", APP): NOW - timedelta(minutes=1)}

    assert [r["destination"] for r in outbox_rows(found, raising(route, last_raised=recent))] == [
        mail
    ]
    assert len(outbox_rows(found, raising(route, last_raised=old))) == 2
    assert len(outbox_rows(found, raising(route, last_raised=other_kind))) == 2
    every_time = replace(route, repeat_minutes=0)
    just_now = {(hook, "reload_failed", APP): NOW}
    assert len(outbox_rows(found, raising(every_time, last_raised=just_now))) == 2


def test_routes_take_only_their_kinds_and_a_shared_url_gets_one_row() -> None:
    found = causes([outcome("not_found")], [failed_reload()], CALM)
    only_failures = AlertRoute((HOOK,), frozenset({"reload_failed"}))
    everything_by_mail = AlertRoute((MAIL, HOOK), frozenset(KINDS))

    rows = outbox_rows(found, raising(only_failures, everything_by_mail))

    assert sorted((r["kind"], r["destination"] == destination_of(HOOK)) for r in rows) == [
        ("not_found", False),
        ("not_found", True),
        ("reload_failed", False),
        ("reload_failed", True),
    ]


def test_no_route_no_rows() -> None:
    found = causes([outcome("not_found")], [failed_reload()], CALM)
    assert outbox_rows(found, Raising("sweep-1", NOW, Alerting((), TENANT))) == []


def test_alert_ids_are_deterministic_per_sweep_destination_kind_and_app() -> None:
    found = causes([outcome("not_found")], [failed_reload()], CALM)
    first = [row["alert_id"] for row in outbox_rows(found, raising())]
    again = [row["alert_id"] for row in outbox_rows(found, raising())]
    other_sweep = [row["alert_id"] for row in outbox_rows(found, replace(raising(), sweep_id="s2"))]
    assert first == again
    assert len(set(first)) == 2
    assert not set(first) & set(other_sweep)


def test_late_is_routed_like_the_others() -> None:
    late = Cause("late", APP, "no successful reload by 07:00 Europe/Paris on 2026-11-22")
    route = AlertRoute((HOOK,), frozenset({"late"}))
    (row,) = outbox_rows([late], raising(route))
    message = json.loads(row["message"])
    assert (message["kind"], message["reason"]) == ("late", late.reason)
    assert message["root_app_id"] is None


def test_unknown_names_a_script_and_an_app_that_is_its_own_root() -> None:
    cause = Cause("reload_failed", SCRIPT, "failed", chain_run_id="rld-own")
    (row,) = outbox_rows([cause], raising(names={}, roots={"rld-own": SCRIPT}))
    message = json.loads(row["message"])
    assert message["app_name"] is None
    assert message["root_app_id"] is None  # the app is the root of its own run
    assert message["app_link"] is None  # a script has no documented hub page


def test_app_link_is_alert_sends_hub_link() -> None:
    for app_id in (APP, APP.upper(), SCRIPT):
        assert app_link(TENANT, app_id) == hub_link(TENANT, app_id)
    assert app_link("", APP) is None


def test_a_dry_run_raises_no_alert_and_a_real_sweep_does(
    ctx: SweepContext, tenant: FakeTenant
) -> None:
    ghost = "99999999-9999-4999-8999-999999999999"
    source = tenant.add_app(1, tags=[f"next-{ghost}"])
    tenant.finish(source, at=tenant.now - timedelta(minutes=5))
    alerting = replace(ctx, alerting=Alerting((EVERYTHING,), TENANT))

    run_sweep(alerting, tenant.now, dry_run=True)
    assert alerting.store.db.table("alerts").count == 0

    run_sweep(alerting, tenant.now)
    (row,) = alerting.store.db.table("alerts").rows
    assert (row["kind"], row["app_id"], row["state"]) == ("not_found", ghost, "pending")
    message = json.loads(row["message"])
    assert message["reason"].startswith(f"a chain names it after {source}")
    assert message["app_link"] is None  # no page to open for an app that does not exist

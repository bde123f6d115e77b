"""Each sweep ends with one summary line, or one "aborted" line; and its parts are timed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import httpx
import pytest
from loguru import logger

from jobs.report import SweepReport
from jobs.sweep import SweepContext, run_sweep
from qlik.errors import AuthenticationError, RetryableError
from state.database import StateError
from tests.clocks import ManualClock
from tests.fake_tenant import FakeTenant, app_id

SUMMARY = re.compile(
    r"sweep (?P<id>\S+)(?P<dry> \(dry run\))? done in (?P<secs>\d+\.\d)s: "
    r"(?P<read>\d+) events read, (?P<new>\d+) new, (?P<invalid>\d+) invalid; "
    r"decisions: (?P<decisions>.+); (?P<calls>\d+) API calls; exit (?P<exit>\d+)"
)
ABORTED = re.compile(
    r"sweep (?P<id>\S+) aborted after \d+\.\ds; nothing it read is committed "
    r"and it will be read again: (?P<error>.+)"
)
PHASES_WITH_RUNS = ["reconcile", "read", "facts", "trigger", "commit"]
PHASES_NOTHING_NEW = ["reconcile", "read", "commit"]


@dataclass(frozen=True)
class Line:
    level: str
    message: str


@pytest.fixture
def lines() -> Iterator[list[Line]]:
    """Every line the sweep shell (jobs.sweep, jobs.summary) logs in the test, with its level."""
    seen: list[Line] = []
    sink = logger.add(
        lambda m: seen.append(Line(m.record["level"].name, m.record["message"])),
        level=0,
        format="{message}",
        filter=lambda record: record["name"] in ("jobs.sweep", "jobs.summary"),
    )
    yield seen
    logger.remove(sink)


def summaries(lines: list[Line]) -> list[re.Match[str]]:
    found = [SUMMARY.fullmatch(line.message) for line in lines]
    return [match for match in found if match is not None]


def only_summary(lines: list[Line]) -> re.Match[str]:
    (match,) = summaries(lines)
    (line,) = [line for line in lines if SUMMARY.fullmatch(line.message)]
    assert line.level == "INFO"
    return match


def decision_counts(match: re.Match[str]) -> dict[str, int]:
    text = match["decisions"]
    if text == "none":
        return {}
    pairs = (part.rsplit(" ", 1) for part in text.split(", "))
    return {reason: int(n) for reason, n in pairs}


def assert_summary_matches(match: re.Match[str], report: SweepReport) -> None:
    assert match["id"] == report.sweep_id
    assert (int(match["read"]), int(match["new"]), int(match["invalid"])) == (
        report.events_read,
        report.events_new,
        report.events_invalid,
    )
    assert decision_counts(match) == report.reason_counts()
    assert int(match["calls"]) == sum(report.api_calls.values())
    assert int(match["exit"]) == report.exit_code
    assert match["secs"] == f"{report.duration_s:.1f}"


def mixed_chain(tenant: FakeTenant) -> tuple[str, str, str]:
    """App 1 finished and names app 2 (starts), app 3 (answers 503) and an unknown app."""
    ok, flaky = tenant.add_app(2), tenant.add_app(3)
    source = tenant.add_app(1, tags=[f"next-{ok}", f"next-{flaky}", f"next-{app_id(999)}"])
    tenant.finish(source, at=tenant.now - timedelta(minutes=5))
    tenant.post_answers[flaky] = httpx.Response(503)
    return source, ok, flaky


def test_a_sweep_ends_with_one_summary_line_with_its_counts(
    ctx: SweepContext, tenant: FakeTenant, lines: list[Line]
) -> None:
    source, _, _ = mixed_chain(tenant)
    broken = tenant.event(source, "rld-broken", "ok", tenant.now - timedelta(minutes=4))
    del broken["data"]
    tenant.events.append(broken)

    report = run_sweep(ctx, tenant.now)

    match = only_summary(lines)
    assert lines[-1].message == match.string  # the last thing the sweep says
    assert match["dry"] is None
    assert_summary_matches(match, report)
    assert (match["read"], match["new"], match["invalid"]) == ("2", "1", "1")
    assert decision_counts(match) == {"triggered": 1, "transient": 1, "not_found": 1}
    assert match["exit"] == "1"  # the 503 is left for the next sweep
    assert int(match["calls"]) == sum(report.api_calls.values()) > 0
    assert not [line for line in lines if line.level == "ERROR" and "aborted" in line.message]


def test_decisions_are_listed_in_the_order_they_were_made(
    ctx: SweepContext, tenant: FakeTenant, lines: list[Line]
) -> None:
    mixed_chain(tenant)
    report = run_sweep(ctx, tenant.now)
    expected = ", ".join(f"{reason} {n}" for reason, n in report.reason_counts().items())
    assert only_summary(lines)["decisions"] == expected


def test_a_dry_run_is_marked_in_its_summary(
    ctx: SweepContext, tenant: FakeTenant, lines: list[Line]
) -> None:
    mixed_chain(tenant)

    report = run_sweep(ctx, tenant.now, dry_run=True)

    match = only_summary(lines)
    assert match["dry"] == " (dry run)"
    assert match.string.startswith(f"sweep {report.sweep_id} (dry run) done in ")
    assert_summary_matches(match, report)
    assert tenant.started == []


def test_a_sweep_with_nothing_new_says_decisions_none(
    ctx: SweepContext, tenant: FakeTenant, lines: list[Line]
) -> None:
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=3))
    run_sweep(ctx, tenant.now)
    tenant.now += timedelta(minutes=2)
    lines.clear()

    again = run_sweep(ctx, tenant.now)

    match = only_summary(lines)
    assert "decisions: none;" in match.string
    assert decision_counts(match) == {}
    assert (match["read"], match["new"], match["invalid"]) == ("1", "0", "0")
    assert (match["calls"], match["exit"]) == ("1", "0")  # one page of audits, nothing else
    assert_summary_matches(match, again)


def test_each_sweep_logs_its_own_summary(
    ctx: SweepContext, tenant: FakeTenant, lines: list[Line]
) -> None:
    reports = []
    for _ in range(3):
        reports.append(run_sweep(ctx, tenant.now))
        tenant.now += timedelta(minutes=2)

    matches = summaries(lines)
    assert [match["id"] for match in matches] == [report.sweep_id for report in reports]
    for match, report in zip(matches, reports, strict=True):
        assert_summary_matches(match, report)


def test_a_refused_key_aborts_with_one_error_line_and_moves_nothing(
    ctx: SweepContext, tenant: FakeTenant, lines: list[Line]
) -> None:
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))
    run_sweep(ctx, tenant.now)
    cursor = ctx.store.cursor()
    assert cursor is not None
    sweeps_before = ctx.store.recent_sweeps()
    lines.clear()
    tenant.now += timedelta(minutes=2)
    tenant.finish(a, at=tenant.now - timedelta(minutes=1))
    tenant.unauthorized = True

    with pytest.raises(AuthenticationError) as raised:
        run_sweep(ctx, tenant.now)

    errors = [line for line in lines if line.level == "ERROR"]
    assert len(errors) == 1
    (aborted,) = errors
    assert "aborted" in aborted.message and "nothing it read is committed" in aborted.message
    match = ABORTED.fullmatch(aborted.message)
    assert match is not None
    assert match["error"] == str(raised.value)
    assert summaries(lines) == []  # no "done" line for a sweep that did not finish
    assert ctx.store.cursor() == cursor
    # SPEC 5: the aborted sweep is recorded with its exit code, the earlier ones unchanged.
    aborted_sweep, *earlier = ctx.store.recent_sweeps()
    assert (aborted_sweep["sweep_id"], aborted_sweep["exit_code"]) == (match["id"], 2)
    assert earlier == sweeps_before
    assert tenant.started == [b]


def test_the_first_sweep_aborted_leaves_no_cursor(
    ctx: SweepContext, tenant: FakeTenant, lines: list[Line]
) -> None:
    tenant.unauthorized = True

    with pytest.raises(AuthenticationError):
        run_sweep(ctx, tenant.now)

    (aborted,) = [line for line in lines if line.level == "ERROR"]
    assert ABORTED.fullmatch(aborted.message) is not None
    assert "401" in aborted.message
    assert ctx.store.cursor() is None
    assert [sweep["exit_code"] for sweep in ctx.store.recent_sweeps()] == [2]


def test_a_failed_commit_aborts_with_the_state_error(
    ctx: SweepContext, tenant: FakeTenant, lines: list[Line], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = tenant.add_app(2)
    a = tenant.add_app(1, tags=[f"next-{b}"])
    tenant.finish(a, at=tenant.now - timedelta(minutes=5))

    def locked(*_args: object) -> None:
        raise StateError("state database :memory:: database is locked")

    monkeypatch.setattr(ctx.store, "commit_sweep", locked)

    with pytest.raises(StateError, match="database is locked"):
        run_sweep(ctx, tenant.now)

    (aborted,) = [line for line in lines if line.level == "ERROR"]
    match = ABORTED.fullmatch(aborted.message)
    assert match is not None
    assert match["error"] == "state database :memory:: database is locked"
    assert summaries(lines) == []
    assert ctx.store.cursor() is None


def test_phases_of_a_sweep_with_runs(ctx: SweepContext, tenant: FakeTenant) -> None:
    mixed_chain(tenant)

    report = run_sweep(ctx, tenant.now)

    assert list(report.phases_s) == PHASES_WITH_RUNS
    assert all(isinstance(s, float) and s >= 0 for s in report.phases_s.values())
    # The laps follow one another from the sweep's start: together they are its whole time.
    assert sum(report.phases_s.values()) >= report.duration_s - 0.01


def test_phases_of_a_sweep_with_nothing_new(ctx: SweepContext, tenant: FakeTenant) -> None:
    report = run_sweep(ctx, tenant.now)

    assert report.events_new == 0
    assert list(report.phases_s) == PHASES_NOTHING_NEW
    assert all(s >= 0 for s in report.phases_s.values())


def test_phases_of_a_dry_run(ctx: SweepContext, tenant: FakeTenant) -> None:
    mixed_chain(tenant)
    report = run_sweep(ctx, tenant.now, dry_run=True)
    assert list(report.phases_s) == PHASES_WITH_RUNS


def test_phases_are_not_in_the_json_report(ctx: SweepContext, tenant: FakeTenant) -> None:
    report = run_sweep(ctx, tenant.now)
    assert "phases_s" not in report.as_json()
    assert "phases_s" not in report.as_record(tenant.now)


def test_failed_fact_gathering_is_timed_as_facts_not_commit(
    ctx: SweepContext, tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jobs.sweep

    mixed_chain(tenant)
    clock = ManualClock(tenant.now)

    def slow_failure(*_args: object, **_kwargs: object) -> None:
        clock.advance(0.2)
        raise RetryableError("items answered 503")

    monkeypatch.setattr(jobs.sweep, "gather_facts", slow_failure)

    report = run_sweep(replace(ctx, clock=clock), tenant.now)

    assert report.exit_code == 1
    assert "facts" in report.phases_s
    assert report.phases_s["facts"] >= 0.2
    assert report.phases_s["commit"] < 0.2

"""The soak harness itself (`make soak` runs 500): it loses nothing on the soak it always had,
it sees every hole of issue 11, and it catches the planted bugs.

The randomized runs all go through one pool at once (module fixture), so they overlap.
"""

from __future__ import annotations

import multiprocessing
import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from scheduler.alert_send import AlertMessage, deliver
from simulator.reloads import SimReload
from simulator.scenario import AppSpec, Scenario, UserSpec
from simulator.tenant import SimTenant
from tests.chaos import parse_mix, run_once
from tests.chaos_alert_causes import duplicate_cause, lost_cause
from tests.chaos_alerts import Delivery, Receiver, Witness, judge_alerts, receiving
from tests.chaos_plants import PLANT_FEATURES, PLANTS, plant_ready
from tests.chaos_report import RunResult, failures_by_feature, summarize
from tests.chaos_run import make_plan
from tests.chaos_sweeps import (
    Span,
    back_up,
    empty,
    leaked_into,
    restore,
    supports_new_database,
)
from tests.chaos_tenant import DEFAULT_MIX, FEATURES, build_tenant, pick_features

LEGACY_SEEDS = range(1000, 1006)  # the soak as before issue 11: no new feature
EVERYTHING_SEEDS = (2001, 2002)  # every new feature in every run (a shared, a strict)
PLANT_SEEDS = (2, 4)  # strict runs that caught both plants 3 times out of 3, before and after
# Every feature but the opt-in one whose kills make duplicates by design (at-least-once).
EVERYTHING = dict.fromkeys(FEATURES, 1.0) | {"alert_kills": 0.0}
AFTER = {"after_faults": 1.0}
CHECKED_PLANTS = ("post-5xx-not-started", "blind-post-retry")  # the two bugs issue 11 found
ALERTS = {"alerts": 1.0}
ALERT_SEED = 2  # strict: 3 failed starts, the receiver refuses its first 3 POSTs


def _jobs() -> list[tuple[int, dict[str, float], str | None]]:
    jobs: list[tuple[int, dict[str, float], str | None]] = []
    jobs += [(seed, {}, None) for seed in LEGACY_SEEDS]
    jobs += [(seed, EVERYTHING, None) for seed in EVERYTHING_SEEDS]
    jobs += [(seed, AFTER, plant) for plant in (None, *CHECKED_PLANTS) for seed in PLANT_SEEDS]
    jobs += [(ALERT_SEED, ALERTS, plant) for plant in (None, "alert-twice")]
    return jobs


def _run(job: tuple[int, dict[str, float], str | None]) -> RunResult:
    seed, mix, plant = job
    return run_once(seed, mix, plant)


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str | None], list[RunResult]]:
    """Every randomized run of this module, by (kind, plant)."""
    jobs = _jobs()
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.map(_run, jobs, chunksize=1)
    grouped: dict[tuple[str, str | None], list[RunResult]] = {}
    for (_, mix, plant), result in zip(jobs, results, strict=True):
        kinds = {id(EVERYTHING): "everything", id(ALERTS): "alerts"}
        kind = "legacy" if not mix else kinds.get(id(mix), "after")
        grouped.setdefault((kind, plant), []).append(result)
    return grouped


def failures(results: list[RunResult]) -> list[tuple[object, ...]]:
    starts = [(r.seed, r.lost, r.duplicated, r.unexpected, r.secret_leaks) for r in results]
    alerts = [(r.alerts_lost, r.alerts_duplicated, r.alerts_unexpected) for r in results]
    return [s + a for s, a, r in zip(starts, alerts, results, strict=True) if not r.ok]


def test_the_soak_before_issue_11_loses_nothing_and_starts_nothing_twice(runs) -> None:
    results = runs["legacy", None]
    assert failures(results) == []
    totals = summarize(results, 0.0)
    assert totals["expected_starts"] > len(results)  # the runs really expected something
    assert totals["sweeps_killed_mid_run"] > 0  # and some sweeps really died mid-run


def test_runs_with_every_feature_exercise_every_feature(runs) -> None:
    totals = summarize(runs["everything", None], 0.0)
    for counter in (
        "faults_after_acting",
        "failed_settling_checks",
        "hops",
        "late_minutes_events",
        "two_sweeper_runs",
        "lost_state_runs",
        "future_events",
        "secret_runs",
        "alert_runs",
    ):
        assert totals[counter] > 0, counter


def test_runs_with_every_feature_lose_nothing_and_start_nothing_twice(runs) -> None:
    assert failures(runs["everything", None]) == []


def test_every_failed_start_is_alerted_once_though_the_receiver_refuses_at_first(runs) -> None:
    (result,) = runs["alerts", None]
    assert failures([result]) == []
    assert result.alerts and result.alert_deliveries == result.failed_starts == 3
    assert result.receiver_failures == 3  # every refusal was retried
    assert result.alerts_delivered_once == 3
    assert result.alert_deliveries_without_id == 0  # each POST had X-Reload-Chain-Alert-Id
    assert not (result.alerts_duplicated_after_key or result.alert_ids_shared)


def test_an_alert_never_marked_sent_is_caught(runs) -> None:
    (result,) = runs["alerts", "alert-twice"]
    assert result.alerts_duplicated and not result.alerts_lost
    assert all("not the kill window" in note for note in result.alert_notes)
    assert not result.ok  # the raw oracle fails it, though each repeat had the row's one id
    assert not result.alerts_duplicated_after_key
    assert all("one alert id" in note for note in result.alert_notes)


def test_the_plant_seeds_are_clean_without_a_plant(runs) -> None:
    assert failures(runs["after", None]) == []


@pytest.mark.parametrize("plant", CHECKED_PLANTS)
def test_a_planted_bug_is_caught(runs, plant: str) -> None:
    results = runs["after", plant]
    assert sum(len(r.duplicated) + len(r.lost) for r in results) > 0
    assert all(r.plant == plant for r in results)


# --- the harness's parts, without running reload-chain ---------------------------------------


def test_a_seed_always_builds_the_same_tenant_and_plan() -> None:
    def build(seed: int) -> tuple[str, object]:
        rng = random.Random(seed)
        features = pick_features(rng, DEFAULT_MIX)
        tenant = build_tenant(rng, seed % 2 == 0, features)
        return tenant.scenario.model_dump_json(), make_plan(rng, features)

    assert build(7) == build(7)
    assert build(7) != build(8)


def test_expected_starts_include_every_hop_and_nothing_beyond_the_late_window() -> None:
    for seed in range(40):
        rng = random.Random(seed)
        features = pick_features(rng, {"hops": 1.0, "late_minutes": 1.0, "future": 1.0})
        tenant = build_tenant(rng, seed % 2 == 0, features)
        keys = {app.id: app.key for app in tenant.scenario.apps}
        expected = {keys[app_id] for app_id in tenant.expected}
        assert {f"h{n}" for n in range(tenant.hops)} <= expected
        assert {f"mt{n}" for n in range(tenant.late_minutes_events)} <= expected
        assert "bt0" not in expected  # its event is older than the late window
        assert not tenant.scenario.app("z0").tags  # the 2099 event names nothing


def test_features_come_from_the_mix_and_bring_what_they_need() -> None:
    rng = random.Random(1)
    assert pick_features(rng, {}) == frozenset()
    assert pick_features(rng, dict.fromkeys(FEATURES, 1.0)) == frozenset(FEATURES)
    assert pick_features(rng, EVERYTHING) == frozenset(FEATURES) - {"alert_kills"}
    assert pick_features(rng, {"alert_kills": 1.0}) == {"alert_kills", "alerts"}
    assert pick_features(rng, {"future": 1.0}) == {"future", "hops"}
    assert pick_features(rng, {"settling": 1.0}) == {"settling", "after_faults", "hops"}
    assert pick_features(rng, {"after_faults": 1.0}) == {"after_faults", "hops"}
    assert parse_mix("none") == {} and parse_mix(None) is None
    assert parse_mix("hops,secret") == {"hops": 1.0, "secret": 1.0}
    with pytest.raises(SystemExit, match="unknown feature"):
        parse_mix("hops,nonsense")


def test_plant_registry() -> None:
    assert (
        set(PLANTS)
        == set(PLANT_FEATURES)
        >= {
            "post-5xx-not-started",
            "blind-post-retry",
            "unsettled-off",
            "lease-off",
            "lost-state-off",
        }
    )
    assert plant_ready("post-5xx-not-started") and plant_ready("blind-post-retry")
    for name in PLANTS:
        assert PLANTS[name].__doc__, name  # says what it switches off


def test_plants_patch_what_they_say() -> None:
    patched: list[tuple[str, str]] = []

    def record(owner: object, name: str, value: object) -> None:
        patched.append((getattr(owner, "__name__", ""), name))

    for name in PLANTS:
        PLANTS[name](record)
    assert patched == [
        ("jobs.trigger", "trigger"),
        ("Sender", "send"),
        ("jobs.decide", "_unsettled_reason"),
        ("state.lease", "check_unfinished"),
        ("state.lease", "hold"),
        ("state.lease", "release"),
        ("state.lease", "check_claims"),
        ("jobs.decide", "_lost_state_reason"),
        ("Store", "alert_sent"),
        ("Store", "alert_failed"),
    ]


def test_summary_keeps_the_old_keys_and_adds_the_new_counters() -> None:
    result = RunResult(1, True, 2, ["secret"], lost=["t1"], secret_exit=1, secret_leaks=["out"])
    totals = summarize([result, RunResult(2, False, 1)], 3.0)
    old = {"runs", "strict_runs", "seconds", "sweeps_under_faults", "sweeps_killed_mid_run"}
    old |= {"injected_5xx", "dropped_connections", "rate_limited_429", "duplicate_events"}
    old |= {"late_events", "expected_starts", "lost", "duplicated", "unexpected", "failed_seeds"}
    new = {"faults_after_acting", "failed_settling_checks", "hops", "late_minutes_events"}
    new |= {"two_sweeper_runs", "lost_state_runs", "future_events", "secret_runs", "secret_leaks"}
    assert old | new <= set(totals)
    assert totals["failed_seeds"] == [1]
    assert totals["secret_runs"] == 1 and totals["secret_leaks"] == 1
    assert failures_by_feature([result, RunResult(2, False, 1)]) == {
        "legacy": "0/1",
        "secret": "1/1",
    }


def test_a_secret_run_passes_only_refused_with_exit_2_and_shown_nowhere() -> None:
    assert RunResult(1, True, 0, secret_exit=2).ok
    assert not RunResult(1, True, 0, secret_exit=1).ok
    assert not RunResult(1, True, 0, secret_exit=2, secret_leaks=["secret-sweep.out"]).ok


def test_leaks_are_found_in_any_file_of_the_run(tmp_path: Path) -> None:
    (tmp_path / "secret-sweep.out").write_text("Illegal header value b'Bearer k-123\\n'")
    (tmp_path / "state.db").write_bytes(b"\x00k-123\x00")
    (tmp_path / "other.log").write_text("nothing here")
    assert leaked_into(tmp_path, "k-123") == ["secret-sweep.out", "state.db"]


def test_state_emptied_backed_up_and_restored(tmp_path: Path) -> None:
    db, backup = tmp_path / "state.db", tmp_path / "state.db.backup"
    with sqlite3.connect(db) as connection:
        connection.execute("create table t (n)")
        connection.execute("insert into t values (1)")
    connection.close()
    back_up(db, backup)
    with sqlite3.connect(db) as connection:
        connection.execute("insert into t values (2)")
    connection.close()
    Path(f"{db}-journal").write_bytes(b"stale")
    restore(db, backup)
    assert not Path(f"{db}-journal").exists()  # the backup had none
    with sqlite3.connect(db) as connection:
        assert connection.execute("select n from t").fetchall() == [(1,)]
    connection.close()
    empty(db)
    assert db.stat().st_size == 0


def test_new_database_flag_is_detected() -> None:
    assert isinstance(supports_new_database(), bool)


# --- the alerts' receiver and oracle ----------------------------------------------------------


def test_the_receiver_refuses_its_first_posts_then_keeps_what_apprise_sends() -> None:
    message = AlertMessage("reload_failed", "app-1", "Sales", None, None, "reload 0a, ...", None)
    with receiving(1) as receiver:
        assert receiver is not None
        assert not deliver([receiver.url], message, timeout_s=5).ok
        assert deliver([receiver.url], message, timeout_s=5).ok
    assert receiver.refused == 1
    (delivery,) = receiver.deliveries
    assert delivery.title == message.title and delivery.body == message.body
    assert delivery.app_id == "app-1" and delivery.reload_id is None  # not "ended in failure"
    with receiving(None) as nothing:
        assert nothing is None


def test_the_alert_oracle_counts_lost_duplicated_and_unexpected_deliveries(
    tmp_path: Path,
) -> None:
    at_once = {"queue_seconds": 0, "duration_seconds": 0}
    apps = [AppSpec(key=key, outcome="failure", **at_once) for key in "ab"]
    apps.append(AppSpec(key="c", **at_once))
    users = [UserSpec(id="admin", name="Admin", api_key="k")]
    tenant = SimTenant(Scenario(name="oracle", users=users, apps=apps))
    a, b, c = (tenant.start_reload(app, tenant.users["admin"]) for app in tenant.scenario.apps)
    assert a and b and c

    def said(reload: SimReload, at: float = 9.0, app_id: str = "") -> Delivery:
        reason = f"Reason: reload {reload.id}, started by reload-chain, ended in failure at x"
        return Delivery(at, f"title {reload.id}", f"App: n ({app_id or reload.app_id})\n{reason}")

    delivered = [said(a, at=1.0), said(a, at=2.0), said(c), said(b, app_id="another")]
    result = RunResult(1, True, 0)
    spans = [Span(0.5, 1.25, True)]
    witness = Witness(spans, tenant.clock(), tmp_path / "state.db")
    judge_alerts(result, tenant, Receiver(0, deliveries=delivered), witness)
    assert (result.failed_starts, result.alert_deliveries) == (2, 4)
    assert result.alerts_duplicated == ["a#1"] and result.alerts_lost == ["b#2"]
    assert result.alerts_unexpected == [f"title {c.id}", f"title {b.id}"]  # a success; wrong app
    assert result.alert_notes == [
        "a#1: its sweep was SIGKILLed 0.250 s after the delivery (at-least-once window); a "
        "delivery without an alert id: no receiver can drop the repeat",
        "b#2: lost; the database cannot tell why (unable to open database file)",
    ]
    assert result.killed_after_delivering == 1 and not result.ok
    assert result.alerts_duplicated_after_key == ["a#1"]  # no id: the key cannot drop it
    assert result.alert_deliveries_without_id == 4
    assert duplicate_cause(2.0, [*spans, Span(1.5, 3.0, False)]).startswith("no sweep")


def test_the_alert_id_tells_a_retried_alert_from_a_second_one(tmp_path: Path) -> None:
    at_once = {"queue_seconds": 0, "duration_seconds": 0}
    apps = [AppSpec(key=key, outcome="failure", **at_once) for key in "ab"]
    tenant = SimTenant(Scenario(name="keys", users=[UserSpec(id="u", name="U")], apps=apps))
    a, b = (tenant.start_reload(app, tenant.users["u"]) for app in tenant.scenario.apps)
    assert a and b

    def said(reload: SimReload, alert_id: str, at: float = 9.0) -> Delivery:
        reason = f"Reason: reload {reload.id}, started by reload-chain, ended in failure at x"
        return Delivery(at, reload.id, f"App: n ({reload.app_id})\n{reason}", alert_id)

    # a: one outbox row delivered twice (killed before marking it sent); b: two rows.
    delivered = [said(a, "k1", at=1.0), said(a, "k1"), said(b, "k2"), said(b, "k3")]
    result = RunResult(1, True, 0)
    witness = Witness([Span(0.5, 1.25, True)], tenant.clock(), tmp_path / "state.db")
    judge_alerts(result, tenant, Receiver(0, deliveries=delivered), witness)

    assert result.alerts_duplicated == ["a#1", "b#2"]  # the raw oracle: both are duplicates
    assert result.alerts_duplicated_after_key == ["b#2"]
    assert (result.alerts_delivered_once, result.alert_deliveries_without_id) == (0, 0)
    assert result.alert_notes[0].endswith(
        "; one alert id: a receiver honouring it drops the repeat"
    )
    assert result.alert_notes[1].endswith(
        "; 2 alert ids: 2 outbox rows for one failed reload, not explained by the key"
    )
    assert not result.ok
    totals = summarize([result], 0.0)
    assert (totals["alerts_duplicated"], totals["alerts_duplicated_after_key"]) == (2, 1)
    shared = [said(a, "k1"), said(b, "k1")]
    judge_alerts(result, tenant, Receiver(0, deliveries=shared), witness)
    assert result.alert_ids_shared == ["k1"] and not result.ok
    assert not RunResult(1, True, 0, alert_ids_shared=["k1"]).ok
    assert not RunResult(1, True, 0, alerts_duplicated_after_key=["b#2"]).ok


def test_a_lost_alert_is_told_by_what_the_ledger_says_of_its_reload(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    with closing(sqlite3.connect(db)) as connection, connection:
        connection.execute("create table ledger (reload_id, decision, outcome)")
        rows = [("r1", "triggered", None), ("r2", "triggered", "failed")]
        connection.executemany("insert into ledger values (?, ?, ?)", rows)
    assert lost_cause(db, "r0", "restored") == (
        "lost: no ledger row says reload-chain started it (the database was restored during"
        " the run)"
    )
    assert lost_cause(db, "r1", "") == "lost: its outcome was never recorded"
    assert (
        lost_cause(db, "r2", "") == "lost: its outcome (failed) was recorded, but no alert raised"
    )

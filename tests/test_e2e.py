"""End to end: the installed ``reload-chain sweep`` against the simulated tenant over real HTTP.

Each test builds a scenario in Python, serves it with ``SimulatorServer`` on an ephemeral
loopback port and runs the program as a subprocess, exactly as Task Scheduler or cron would.
Only the JSON report on stdout, the exit code, the simulator's own records and the state
database are inspected; nothing of the program is imported.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulator.scenario import AppSpec, FaultRule, FaultSpec, ReloadSpec, Scenario
from simulator.server import SimulatorServer
from tests.contract import SWEEP_JSON_KEYS
from tests.fake_tenant import age_intents
from tests.program import (
    CONSOLE_SCRIPT,
    PYTHON_MODULE,
    SUBPROCESS_TIMEOUT_S,
    app,
    dev_space,
    environment,
    run_program,
)

STATE_TABLES = ("cursor", "handled_events", "invalid_events", "settled_edges", "ledger", "sweeps")
REPORT_KEYS = set(SWEEP_JSON_KEYS)
FINISHED = ("SUCCEEDED", "FAILED")
UNKNOWN_APP = "0f0f0f0f-1234-4abc-8def-0123456789ab"

Result = tuple[int, dict[str, Any] | None, str]


# --- scenario building -----------------------------------------------------------------------


def scenario(
    apps: list[AppSpec], reloads: list[ReloadSpec], faults: FaultSpec | None = None
) -> Scenario:
    """A tenant with one shared space where the API key's user is a producer."""
    return Scenario(
        name="e2e",
        spaces=[dev_space()],
        apps=apps,
        reloads=reloads,
        faults=faults or FaultSpec(),
    )


def finished(minutes_ago: float, key: str) -> ReloadSpec:
    """A scheduled reload of ``key`` that ended ``minutes_ago``."""
    return ReloadSpec(app=key, ended_minutes_ago=minutes_ago)


def ids(sim: SimulatorServer) -> dict[str, str]:
    """App key -> app id, for the scenario the simulator serves."""
    return {spec.key: spec.id for spec in sim.tenant.apps.values()}


# --- running the program ---------------------------------------------------------------------


def parse_report(stdout: str) -> dict[str, Any] | None:
    try:
        report = json.loads(stdout)
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def sweep(
    sim: SimulatorServer,
    db: Path,
    *args: str,
    api_key: str | None = None,
    program: list[str] = CONSOLE_SCRIPT,
) -> Result:
    """Run ``<program> sweep --json [args]``: exit code, parsed report (or None), stderr."""
    key = api_key if api_key is not None else sim.tenant.scenario.api_key
    done = run_program(["sweep", "--json", *args], environment(sim, db, QLIK_API_KEY=key), program)
    return done.returncode, parse_report(done.stdout), done.stderr


def decisions(report: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The report's decisions by successor id."""
    assert report is not None, "no JSON report on stdout"
    found = {row["app_id"]: row for row in report["decisions"]}
    assert len(found) == len(report["decisions"]), "a successor was decided twice in one sweep"
    return found


def outcome(report: dict[str, Any] | None, app_id: str) -> tuple[str, str]:
    row = decisions(report)[app_id]
    return row["decision"], row["reason"]


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def reloads_finished(sim: SimulatorServer, *app_ids: str) -> None:
    """Wait until every listed app has at least one reload and all of them have finished."""

    def done() -> bool:
        now = datetime.now(UTC)
        for app_id in app_ids:
            reloads = sim.tenant.reloads_newest_first(app_id)
            if not reloads or any(r.status(now) not in FINISHED for r in reloads):
                return False
        return True

    wait_until(done, f"the reloads of {', '.join(app_ids)} to finish")


def visible_event_apps(sim: SimulatorServer) -> list[str]:
    """The source app of every audit event the tenant would list right now."""
    start = datetime.min.replace(tzinfo=UTC)
    events = sim.tenant.events(start, datetime.now(UTC), None, 100_000)
    return [event.reload.app_id for event in events]


def started(sim: SimulatorServer) -> dict[str, int]:
    """Reloads started through the API, per app id."""
    return dict(sim.tenant.reload_log())


def table_counts(db: Path) -> dict[str, int]:
    """Rows per state table; an absent database or table counts as empty."""
    if not db.exists():
        return dict.fromkeys(STATE_TABLES, 0)
    connection = sqlite3.connect(db)
    try:
        names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        return {
            table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            if table in names
            else 0
            for table in STATE_TABLES
        }
    finally:
        connection.close()


# --- chains ----------------------------------------------------------------------------------


def test_multi_hop_chain_unfolds_across_sweeps_and_starts_each_successor_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    spec = scenario(
        [
            app("extract", resource_type="script", next=["transform"]),
            app("transform", resource_type="script", next=["c1", "c2", "c3"]),
            app("c1"),
            app("c2"),
            app("c3"),
        ],
        [finished(1.0, "extract")],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        code, first, _ = sweep(sim, db)
        assert code == 0
        assert decisions(first) == {
            app_id["transform"]: {
                "app_id": app_id["transform"],
                "decision": "triggered",
                "reason": "triggered",
                "reload_id": sim.tenant.reloads_newest_first(app_id["transform"])[0].id,
                "sources": [app_id["extract"]],
            }
        }
        assert started(sim) == {app_id["transform"]: 1}

        reloads_finished(sim, app_id["transform"])
        code, second, _ = sweep(sim, db)
        assert code == 0
        assert second is not None
        assert second["events"]["new"] == 1
        hop = {app_id[key] for key in ("c1", "c2", "c3")}
        assert set(decisions(second)) == hop
        for target in hop:
            assert outcome(second, target) == ("triggered", "triggered")
            assert decisions(second)[target]["sources"] == [app_id["transform"]]

        reloads_finished(sim, *hop)
        code, third, _ = sweep(sim, db)
        assert code == 0
        assert decisions(third) == {}
        assert started(sim) == {app_id[key]: 1 for key in ("transform", "c1", "c2", "c3")}


def test_five_sources_naming_one_successor_trigger_it_once_with_all_sources(
    tmp_path: Path,
) -> None:
    sources = [f"s{n}" for n in range(1, 6)]
    spec = scenario(
        [*(app(key, next=["target"]) for key in sources), app("target")],
        [finished(1.0 + n * 0.1, key) for n, key in enumerate(sources)],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        code, report, _ = sweep(sim, tmp_path / "state.db")
        assert code == 0
        assert report is not None
        assert report["events"] == {"read": 5, "new": 5, "invalid": 0}
        assert report["sources"] == 5
        assert list(decisions(report)) == [app_id["target"]]
        assert outcome(report, app_id["target"]) == ("triggered", "triggered")
        named_by = decisions(report)[app_id["target"]]["sources"]
        assert sorted(named_by) == sorted(app_id[key] for key in sources)
        assert started(sim) == {app_id["target"]: 1}


# --- decisions -------------------------------------------------------------------------------


def test_successor_reloaded_less_than_ten_minutes_ago_is_skipped_for_tolerance(
    tmp_path: Path,
) -> None:
    spec = scenario(
        [app("source", next=["recent", "old"]), app("recent"), app("old")],
        [finished(1.0, "source"), finished(3.0, "recent"), finished(15.0, "old")],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        code, report, _ = sweep(sim, tmp_path / "state.db")
        assert code == 0
        assert outcome(report, app_id["recent"]) == ("skipped", "tolerance")
        assert decisions(report)[app_id["recent"]]["reload_id"] is None
        # The control: a successor last reloaded 15 minutes ago is past the tolerance.
        assert outcome(report, app_id["old"]) == ("triggered", "triggered")
        assert started(sim) == {app_id["old"]: 1}


def test_successor_with_a_reload_in_progress_is_skipped_as_running(tmp_path: Path) -> None:
    spec = scenario(
        [app("source", next=["busy"]), app("busy", duration_seconds=60.0)],
        [finished(1.0, "source"), ReloadSpec(app="busy", start_in_seconds=0.0)],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        now = datetime.now(UTC)
        assert sim.tenant.reloads_newest_first(app_id["busy"])[0].status(now) in (
            "QUEUED",
            "RELOADING",
        )
        code, report, _ = sweep(sim, tmp_path / "state.db")
        assert code == 0
        assert outcome(report, app_id["busy"]) == ("skipped", "running")
        assert started(sim) == {}


def test_tag_naming_an_unknown_app_is_skipped_as_not_found(tmp_path: Path) -> None:
    spec = scenario(
        [app("source", tags=[f"next-{UNKNOWN_APP}"], next=["known"]), app("known")],
        [finished(1.0, "source")],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        code, report, _ = sweep(sim, tmp_path / "state.db")
        assert code == 0
        assert outcome(report, UNKNOWN_APP) == ("skipped", "not_found")
        assert decisions(report)[UNKNOWN_APP]["sources"] == [app_id["source"]]
        assert outcome(report, app_id["known"]) == ("triggered", "triggered")
        assert started(sim) == {app_id["known"]: 1}


def test_failed_source_fires_only_its_on_failure_tags(tmp_path: Path) -> None:
    spec = scenario(
        [
            app("payables", outcome="failure", next=["dashboard"], next_onfail=["alerts"]),
            app("dashboard"),
            app("alerts"),
        ],
        [finished(1.0, "payables")],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        code, report, _ = sweep(sim, tmp_path / "state.db")
        assert code == 0
        assert set(decisions(report)) == {app_id["alerts"]}
        assert outcome(report, app_id["alerts"]) == ("triggered", "triggered")
        assert decisions(report)[app_id["alerts"]]["sources"] == [app_id["payables"]]
        assert started(sim) == {app_id["alerts"]: 1}


# --- reading events --------------------------------------------------------------------------


def test_catch_up_reads_every_page_of_events_one_audits_call_per_hundred(
    tmp_path: Path,
) -> None:
    sources = [f"s{n:02}" for n in range(13)]
    per_source = 20
    count = len(sources) * per_source
    reloads = [
        # Spread over the last 50 minutes, sources interleaved in time.
        finished(0.5 + 49.0 * (n * len(sources) + i) / count, key)
        for n in range(per_source)
        for i, key in enumerate(sources)
    ]
    spec = scenario([*(app(key, next=["target"]) for key in sources), app("target")], reloads)
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        code, report, _ = sweep(sim, tmp_path / "state.db")
        assert code == 0
        assert report is not None
        assert report["events"] == {"read": count, "new": count, "invalid": 0}
        assert report["sources"] == len(sources)
        assert report["api_calls"]["GET /api/v1/audits"] == math.ceil(count / 100)
        assert outcome(report, app_id["target"]) == ("triggered", "triggered")
        assert len(decisions(report)[app_id["target"]]["sources"]) == len(sources)
        assert started(sim) == {app_id["target"]: 1}


def test_duplicate_event_for_one_reload_counts_once_and_triggers_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    spec = scenario(
        # The target's own reload runs past the test, so its event never joins the window.
        [app("source", duplicate_events=2, next=["target"]), app("target", duration_seconds=60.0)],
        [finished(1.0, "source")],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        assert visible_event_apps(sim) == [app_id["source"]] * 2
        code, report, _ = sweep(sim, db)
        assert code == 0
        assert report is not None
        assert report["events"]["read"] == 2
        assert report["events"]["new"] == 1
        assert report["sources"] == 1
        assert outcome(report, app_id["target"]) == ("triggered", "triggered")
        assert started(sim) == {app_id["target"]: 1}

        # The overlap reads both copies again: neither is new, nothing is decided again.
        code, again, _ = sweep(sim, db)
        assert code == 0
        assert again is not None
        assert again["events"] == {"read": 2, "new": 0, "invalid": 0}
        assert decisions(again) == {}
        assert started(sim) == {app_id["target"]: 1}


def test_late_event_behind_the_cursor_is_picked_up_by_the_overlap_and_triggers_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    # The late source's event is stamped 60 s ago but appears only ~3 s from now; an on-time
    # event stamped 30 s ago moves the cursor past it at the first sweep.
    spec = scenario(
        [
            app("late", late_seconds=63.0, next=["target"]),
            app("ontime"),
            app("target"),
        ],
        [finished(1.0, "late"), finished(0.5, "ontime")],
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        assert visible_event_apps(sim) == [app_id["ontime"]]
        code, first, _ = sweep(sim, db)
        assert code == 0
        assert first is not None
        assert first["events"]["read"] == 1, "the late event was already visible: machine slow?"
        assert decisions(first) == {}

        wait_until(lambda: app_id["late"] in visible_event_apps(sim), "the late event", 10.0)
        code, second, _ = sweep(sim, db)
        assert code == 0
        assert second is not None
        assert second["events"]["new"] == 1
        assert outcome(second, app_id["target"]) == ("triggered", "triggered")
        assert decisions(second)[app_id["target"]]["sources"] == [app_id["late"]]
        assert started(sim) == {app_id["target"]: 1}

        code, third, _ = sweep(sim, db)
        assert code == 0
        assert decisions(third) == {}
        assert started(sim) == {app_id["target"]: 1}


# --- faults ----------------------------------------------------------------------------------


def test_429_with_retry_after_on_items_is_waited_out_and_the_sweep_succeeds(
    tmp_path: Path,
) -> None:
    spec = scenario([app("source", next=["target"]), app("target")], [finished(1.0, "source")])
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        sim.app.faults.add_rule(FaultRule(path="/api/v1/items", status=429, retry_after=1))
        code, report, _ = sweep(sim, tmp_path / "state.db")
        assert code == 0
        assert report is not None
        assert outcome(report, app_id["target"]) == ("triggered", "triggered")
        assert report["api_calls"]["GET /api/v1/items"] >= 2, "the 429 was not retried"
        assert report["duration_s"] >= 0.9, "Retry-After: 1 was not waited out"
        assert sim.app.faults.injected["rate_limited"] == 1
        assert started(sim) == {app_id["target"]: 1}


def test_transient_503_on_audits_is_retried_within_the_sweep(tmp_path: Path) -> None:
    spec = scenario([app("source", next=["target"]), app("target")], [finished(1.0, "source")])
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        sim.app.faults.add_rule(FaultRule(path="/api/v1/audits", status=503))
        code, report, _ = sweep(sim, tmp_path / "state.db")
        assert code == 0
        assert report is not None
        assert report["api_calls"]["GET /api/v1/audits"] == 2
        assert report["events"]["new"] == 1
        assert outcome(report, app_id["target"]) == ("triggered", "triggered")
        assert started(sim) == {app_id["target"]: 1}


def test_503_on_reload_start_fails_transiently_and_the_next_sweep_triggers_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    spec = scenario([app("source", next=["target"]), app("target")], [finished(1.0, "source")])
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        sim.app.faults.add_rule(FaultRule(path="/api/v1/reloads", method="POST", status=503))
        code, first, _ = sweep(sim, db)
        assert code == 1
        assert outcome(first, app_id["target"]) == ("failed", "transient")
        assert started(sim) == {}
        age_intents(db)  # the 503's start is in flight for a while: time passes

        code, second, _ = sweep(sim, db)
        assert code == 0
        assert outcome(second, app_id["target"]) == ("triggered", "triggered")
        assert decisions(second)[app_id["target"]]["sources"] == [app_id["source"]]
        assert started(sim) == {app_id["target"]: 1}

        code, third, _ = sweep(sim, db)
        assert code == 0
        assert decisions(third) == {}
        assert started(sim) == {app_id["target"]: 1}


def test_bad_api_key_exits_2_changes_nothing_and_never_shows_the_key(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    wrong_key = "wrong-key-5d1c0e7a9b3f4e21"
    spec = scenario([app("source", next=["target"]), app("target")], [finished(1.0, "source")])
    with SimulatorServer(spec) as sim:
        done = run_program(["sweep", "--json"], environment(sim, db, QLIK_API_KEY=wrong_key))
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip(), "no message says what went wrong"
        assert wrong_key not in done.stdout
        assert wrong_key not in done.stderr
        # SPEC 5: the sweep is recorded with its exit code; nothing else changed.
        assert table_counts(db) == dict.fromkeys(STATE_TABLES, 0) | {"sweeps": 1}
        assert started(sim) == {}


def test_dry_run_prints_decisions_starts_nothing_and_records_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    spec = scenario([app("source", next=["target"]), app("target")], [finished(1.0, "source")])
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        code, report, _ = sweep(sim, db, "--dry-run")
        assert code == 0
        assert report is not None
        assert report["dry_run"] is True
        assert outcome(report, app_id["target"]) == ("triggered", "triggered")
        assert report["api_calls"].get("POST /api/v1/reloads", 0) == 0
        assert started(sim) == {}
        assert table_counts(db) == dict.fromkeys(STATE_TABLES, 0)

        # Nothing was recorded, so a real sweep still sees the event as new and acts on it.
        code, real, _ = sweep(sim, db)
        assert code == 0
        assert real is not None
        assert real["dry_run"] is False
        assert real["events"]["new"] == 1
        assert outcome(real, app_id["target"]) == ("triggered", "triggered")
        assert started(sim) == {app_id["target"]: 1}


# --- processes -------------------------------------------------------------------------------


def test_two_concurrent_sweeps_one_exits_3_and_the_successor_starts_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state.db"
    spec = scenario(
        [app("source", next=["target"]), app("target")],
        [finished(1.0, "source")],
        FaultSpec(latency_ms=400.0),
    )
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        env = environment(sim, db, QLIK_API_KEY=sim.tenant.scenario.api_key)
        command = [*CONSOLE_SCRIPT, "sweep", "--json"]
        processes = [
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        results = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=SUBPROCESS_TIMEOUT_S)
            results.append((process.returncode, parse_report(stdout), stderr))
        results.sort(key=lambda result: result[0])

        assert [code for code, _, _ in results] == [0, 3], [err for _, _, err in results]
        (_, winner, _), (_, loser, loser_stderr) = results
        assert winner is not None
        assert winner["duration_s"] >= 1.0, "the sweep was too quick to overlap the other one"
        assert outcome(winner, app_id["target"]) == ("triggered", "triggered")
        assert loser is None
        assert "another reload-chain sweep is running" in loser_stderr
        assert started(sim) == {app_id["target"]: 1}
        assert table_counts(db)["sweeps"] == 1


def test_python_dash_m_scheduler_sweeps_like_the_console_script(tmp_path: Path) -> None:
    spec = scenario([app("source", next=["target"]), app("target")], [finished(1.0, "source")])
    with SimulatorServer(spec) as sim:
        app_id = ids(sim)
        code, report, _ = sweep(sim, tmp_path / "state.db", program=PYTHON_MODULE)
        assert code == 0
        assert report is not None
        assert set(report) == REPORT_KEYS
        assert report["dry_run"] is False
        assert report["events"] == {"read": 1, "new": 1, "invalid": 0}
        assert decisions(report) == {
            app_id["target"]: {
                "app_id": app_id["target"],
                "decision": "triggered",
                "reason": "triggered",
                "reload_id": sim.tenant.reloads_newest_first(app_id["target"])[0].id,
                "sources": [app_id["source"]],
            }
        }
        assert started(sim) == {app_id["target"]: 1}

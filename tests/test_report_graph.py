"""The report's graph and app colours from the database (``jobs.report_graph``), native task
chains from the listing a sweep kept, and the reads behind them (``state.report_reads``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlite_utils import Database

from jobs.chainfile import ChainFile
from jobs.edges import Edge, Join
from jobs.graph_native import NativeView, as_edge, edge_marks
from jobs.report_graph import (
    AppStatus,
    app_statuses,
    graph_from_database,
    missing_apps,
    stored_view,
)
from qlik.tasks import NativeTask, Upstream
from state.database import open_database
from state.native_tasks import NativeTaskStore
from state.report_reads import LatestDecision, ReportReads, SeenEdge
from state.rows import NativeSnapshot
from tests.fake_tenant import app_id

A, B, C, D, E = (app_id(n) for n in range(1, 6))
NAMES = {A: "Finance extract", B: "General Ledger", C: "Accounts Payable", D: "Alerts"}


def latest(app: str, decision: str, when: str, **fields: Any) -> LatestDecision:
    values = {"reason": decision, "state": "done", "outcome": None} | fields
    return LatestDecision(app, decision, values["reason"], values["state"], values["outcome"], when)


def test_the_graph_holds_the_edges_decisions_came_from_and_an_on_failure_branch() -> None:
    seen = [
        SeenEdge(A, B, "success"),
        SeenEdge(A, C, None),  # the source event was pruned: on success, as most are
        SeenEdge(C, D, "failure"),
        SeenEdge(C, D, None),
    ]
    graph = graph_from_database(seen, ChainFile(), NAMES)
    edges = {(e.source, e.target): (e.on, e.origin) for e in graph.edges}
    assert edges == {
        (A, B): ("success", "seen"),
        (A, C): ("success", "seen"),
        (C, D): ("failure", "seen"),
    }
    assert {app: node.name for app, node in graph.nodes.items()} == NAMES
    assert graph.cycles == []


def test_a_pair_seen_after_both_outcomes_is_any() -> None:
    graph = graph_from_database(
        [SeenEdge(A, B, "success"), SeenEdge(A, B, "failure")], ChainFile(), {}
    )
    assert [(e.on, e.source, e.target) for e in graph.edges] == [("any", A, B)]


def test_the_chain_file_edges_and_joins_come_first_and_are_not_doubled() -> None:
    declared = Edge(A, B, "failure", "chain file line 3")
    join = Join(E, (B, C), 60, "chain file line 9")
    seen = [SeenEdge(A, B, "failure"), SeenEdge(B, E, "success"), SeenEdge(C, E, "success")]
    graph = graph_from_database(seen, ChainFile(edges=(declared,), joins=(join,)), NAMES)
    assert graph.edges == [declared]
    assert graph.joins == [join]
    assert set(graph.nodes) == {A, B, C, E}
    assert graph.nodes[E].name == E  # no name known: its id, not "missing"
    assert not graph.nodes[E].missing


def test_apps_without_edges_and_missing_apps_are_nodes() -> None:
    graph = graph_from_database([], ChainFile(), NAMES, apps=[A, D], missing=[D])
    assert graph.nodes[A].name == NAMES[A]
    assert graph.nodes[D].missing


def test_cycles_are_found() -> None:
    graph = graph_from_database([SeenEdge(A, B, None), SeenEdge(B, A, None)], ChainFile(), NAMES)
    assert graph.cycles == [sorted([A, B])]


def test_an_app_is_coloured_by_the_outcome_of_its_newest_start() -> None:
    rows = [
        latest(A, "triggered", "2026-11-22T10:00:00Z", outcome="succeeded"),
        latest(B, "triggered", "2026-11-22T10:00:00Z", outcome="failed"),
        latest(C, "triggered", "2026-11-22T10:00:00Z"),
        latest(D, "triggered", "2026-11-22T10:00:00Z", outcome="canceled"),
    ]
    statuses = {app: s.status for app, s in app_statuses(rows, {}).items()}
    assert statuses == {A: "succeeded", B: "failed", C: "running", D: "failed"}


def test_a_later_skip_does_not_hide_a_start_but_a_later_failed_start_does() -> None:
    rows = [
        latest(A, "triggered", "2026-11-22T10:00:00Z", outcome="succeeded"),
        latest(A, "skipped", "2026-11-22T10:05:00Z", reason="fresh"),
        latest(B, "triggered", "2026-11-22T10:00:00Z", outcome="succeeded"),
        latest(B, "failed", "2026-11-22T10:05:00Z", reason="quota"),
        latest(C, "failed", "2026-11-22T09:00:00Z", reason="quota"),
        latest(C, "triggered", "2026-11-22T10:00:00Z", state="unconfirmed"),
    ]
    statuses = app_statuses(rows, {})
    assert statuses[A] == AppStatus("succeeded", "last reload succeeded")
    assert statuses[B] == AppStatus("failed", "start failed: quota")
    assert statuses[C].status == "running"


def test_never_started_apps_are_skipped_or_missing_and_roots_take_their_outcome() -> None:
    rows = [
        latest(A, "skipped", "2026-11-22T10:00:00Z", reason="fresh"),
        latest(B, "skipped", "2026-11-22T10:00:00Z", reason="not_found"),
    ]
    statuses = app_statuses(rows, {C: "failed", A: "succeeded"})
    assert {app: s.status for app, s in statuses.items()} == {
        A: "skipped",
        B: "missing",
        C: "failed",
    }
    assert missing_apps(statuses) == {B}


# --- the reads ---------------------------------------------------------------------------


def decision(
    db: Database, sweep: str, app: str, sources: list[str], reloads: list[str], **row: Any
) -> None:
    db.table("ledger").insert(
        {
            "sweep_id": sweep,
            "app_id": app,
            "state": "done",
            "decision": "triggered",
            "reason": "triggered",
            "sources": json.dumps(sources),
            "source_reloads": json.dumps(reloads),
            "updated_at": f"2026-11-22T10:00:0{sweep[-1]}Z",
        }
        | row
    )


@pytest.fixture
def db() -> Database:
    database = open_database(":memory:")
    events = [
        {"event_id": "e1", "reload_id": "ra", "outcome": "success", "app_id": A},
        {"event_id": "e2", "reload_id": "rc", "outcome": "failure", "app_id": C},
    ]
    database.table("handled_events").insert_all(events)
    settled = {"source_reload_id": "rc", "target_app_id": D, "decision": "triggered"}
    database.table("settled_edges").insert(settled)
    decision(database, "s1", B, [A], ["ra"], outcome="succeeded")
    decision(database, "s1", C, [A], ["ra"], outcome="failed")
    decision(database, "s2", D, [C], ["rc"])
    decision(database, "s3", B, [A], ["ra"], decision="skipped", reason="fresh")
    root = {"run_id": "ra", "root_app_id": A, "root_status": "succeeded"}
    database.table("chain_runs").insert(root | {"root_ended_at": "2026-11-22T09:59:00Z"})
    database.table("app_names").insert_all([{"app_id": k, "name": v} for k, v in NAMES.items()])
    return database


def test_the_seen_edges_mark_those_decided_after_a_failed_source(db: Database) -> None:
    seen = set(ReportReads(db, "test").seen_edges())
    assert seen == {
        SeenEdge(A, B, None),
        SeenEdge(A, C, None),
        SeenEdge(C, D, None),
        SeenEdge(C, D, "failure"),
    }
    graph = graph_from_database(seen, ChainFile(), NAMES)
    assert {(e.source, e.target): e.on for e in graph.edges}[(C, D)] == "failure"


def test_the_latest_decisions_and_roots_give_each_app_its_colour(db: Database) -> None:
    reads = ReportReads(db, "test")
    statuses = app_statuses(reads.latest_decisions(), reads.root_outcomes())
    assert {app: s.status for app, s in statuses.items()} == {
        A: "succeeded",
        B: "succeeded",
        C: "failed",
        D: "running",
    }
    assert reads.names() == NAMES


def test_the_newest_sweeps_and_alerts_come_first(db: Database) -> None:
    db.table("sweeps").insert_all(
        [
            {"sweep_id": f"s{n}", "started_at": f"2026-11-22T10:0{n}:00Z", "decisions": "{}"}
            for n in range(1, 4)
        ]
    )
    alert = {"kind": "late", "app_id": B, "state": "sent", "sweep_id": "s1", "destination": "x"}
    db.table("alerts").insert_all(
        [alert | {"alert_id": f"a{n}", "raised_at": f"2026-11-22T10:0{n}:00Z"} for n in range(3)]
    )
    reads = ReportReads(db, "test")
    assert [s["sweep_id"] for s in reads.recent_sweeps(2)] == ["s3", "s2"]
    assert reads.recent_sweeps(1)[0]["decisions"] == {}
    alerts = reads.recent_alerts(2)
    assert [a.raised_at for a in alerts] == ["2026-11-22T10:02:00Z", "2026-11-22T10:01:00Z"]
    assert not hasattr(alerts[0], "destination")


# --- native tasks --------------------------------------------------------------------------

NATIVE = (
    NativeTask("t-b", "Reload ledger", B, True, None, (Upstream(None, A, "success"),)),
    NativeTask("t-e", "Reload E", E, False, "CONSECUTIVE-FAILURES", (Upstream(None, B, "any"),)),
)


def test_native_edges_are_drawn_beside_the_seen_ones_and_the_doubled_hop_marked() -> None:
    native = NativeView.listed(NATIVE)
    graph = graph_from_database([SeenEdge(A, B, None)], ChainFile(), NAMES, native=native)
    assert [(e.source, e.target, e.origin) for e in graph.edges] == [(A, B, "seen")]
    assert graph.native is native and set(graph.nodes) == {A, B, E}
    assert graph.nodes[E].name == E  # named only when a sweep saw the name
    marks = edge_marks(graph.edges, graph.native)
    assert [m.detail for m in marks[graph.edges[0]]] == ["also native task Reload ledger"]
    assert [m.label for m in marks[as_edge(native.edges()[1])]] == [
        "disabled: CONSECUTIVE-FAILURES"
    ]
    assert graph.cycles == []


def test_the_listing_a_sweep_kept_is_drawn_and_a_refusal_said(db: Database) -> None:
    reads = ReportReads(db, "test")
    assert stored_view(reads.native_tasks()) == (NativeView(), "")
    store = NativeTaskStore(db, "test")
    read_at = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    store.keep(NativeSnapshot(read_at, NATIVE, {"t-e": "disabled:CONSECUTIVE-FAILURES"}))
    view, words = stored_view(reads.native_tasks())
    assert [task.task_id for task in view.tasks.tasks] == ["t-b", "t-e"]
    assert words == "the native tasks a sweep listed at 2026-11-22 09:30 UTC"
    store.keep(NativeSnapshot(read_at + timedelta(hours=1), None))
    view, words = stored_view(reads.native_tasks())
    assert view.refused and words == "native tasks not shown: this identity may not list them"


def test_an_app_left_to_a_native_task_takes_the_outcome_of_the_reload_qlik_started() -> None:
    rows = [
        latest(A, "skipped", "2026-11-22T10:00:00Z", reason="native_task"),
        latest(B, "skipped", "2026-11-22T10:00:00Z", reason="native_task"),
        latest(C, "skipped", "2026-11-22T10:00:00Z", reason="fresh"),
    ]
    statuses = app_statuses(rows, {A: "failed", C: "succeeded"})
    assert statuses[A] == AppStatus("failed", "left to a native task; last reload failed")
    assert statuses[B] == AppStatus("skipped", "skipped: native_task")  # never seen reloading
    assert statuses[C] == AppStatus("skipped", "skipped: fresh")

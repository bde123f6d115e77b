"""``reload-chain graph``: tag edges from the tenant, chain-file edges and joins, cycles marked,
and the tenant's native task chains beside them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from jobs.chainfile import ChainFile
from jobs.edges import Edge, Join
from jobs.graph import ChainGraph, Node, build_graph, find_cycles
from jobs.graph_native import NOT_LISTED
from jobs.graph_render import to_dot, to_json, to_mermaid
from qlik.client import QlikClient, connect
from scheduler.cli import main
from simulator.scenario import builtin_scenario
from simulator.server import SimulatorServer
from tests.fake_tenant import TENANT, FakeTenant
from tests.native_tenant import mixed
from tests.sweeping import NO_SLEEP

TASKS = "GET /api/scheduling/tasks"


def edge(source: str, target: str, on: str = "success") -> Edge:
    return Edge(source, target, on, "test")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("edges", "cycles"),
    [
        ([edge("a", "b"), edge("b", "c")], []),
        ([edge("a", "b"), edge("b", "a")], [["a", "b"]]),
        ([edge("a", "a")], [["a"]]),
        ([edge("a", "b"), edge("b", "c"), edge("c", "a"), edge("c", "d")], [["a", "b", "c"]]),
        (
            [edge("a", "b"), edge("b", "a"), edge("x", "y"), edge("y", "x")],
            [["a", "b"], ["x", "y"]],
        ),
    ],
)
def test_find_cycles(edges: list[Edge], cycles: list[list[str]]) -> None:
    assert find_cycles(edges) == cycles


def test_a_long_chain_does_not_exhaust_the_stack() -> None:
    chain = [edge(str(n), str(n + 1)) for n in range(5000)]
    assert find_cycles([*chain, edge("5000", "0")]) == [sorted(str(n) for n in range(5001))]


def sample() -> ChainGraph:
    nodes = {
        "a": Node("a", "Extract", "script"),
        "b": Node("b", "Transform"),
        "c": Node("c", None),
        "t": Node("t", "Target"),
    }
    edges = [edge("a", "b"), edge("b", "a"), edge("b", "c", "failure")]
    joins = [Join("t", ("a", "b"), 60, "test")]
    return ChainGraph(nodes, edges, joins, find_cycles(edges))


def test_mermaid_marks_failures_cycles_joins_and_missing_apps() -> None:
    text = to_mermaid(sample())
    assert text.startswith("flowchart LR")
    assert 'a0["Extract (script)"]' in text
    assert "a1 -.->|on failure| a2" in text
    assert "a0 -->|cycle| a1" in text and "a1 -->|cycle| a0" in text
    assert "linkStyle 0,1 stroke:#c00" in text
    assert 'a2["missing: c"]' in text and "class a2 missing" in text
    assert 'j0{{"all within 60 min"}}' in text and "j0 --> a3" in text


def test_dot_and_json_say_the_same() -> None:
    graph = sample()
    dot = to_dot(graph)
    assert dot.startswith("digraph chains {") and dot.rstrip().endswith("}")
    assert '"b" -> "c" [label="on failure", style=dashed]' in dot
    data = to_json(graph)
    assert data["cycles"] == [["a", "b"]]
    assert [e["in_cycle"] for e in data["edges"]] == [True, True, False]
    assert [n["id"] for n in data["nodes"] if n["missing"]] == ["c"]
    assert data["joins"][0]["after"] == ["a", "b"]


def test_graph_command_reads_tags_from_the_tenant_and_the_chain_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = builtin_scenario()
    ids = {app.key: app.id for app in scenario.apps}
    missing = "5c0f9b1e-3a2d-4c8b-9e7f-0a1b2c3d4e5f"
    config = tmp_path / "reload-chain.toml"
    config.write_text(
        f'[[edge]]\nfrom = "{ids["dashboard"]}"\nto = "{ids["transform"]}"\n'
        f'[[join]]\ntarget = "{missing}"\nafter = ["{ids["ledger"]}", "{ids["receivables"]}"]\n',
        encoding="utf-8",
    )
    with SimulatorServer(scenario) as sim:
        monkeypatch.setenv("QLIK_TENANT_URL", sim.url)
        monkeypatch.setenv("QLIK_API_KEY", scenario.api_key)
        assert main(["--config", str(config), "graph", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    pairs = {(e["from"], e["to"], e["on"]) for e in data["edges"]}
    assert (ids["extract"], ids["transform"], "success") in pairs  # a tag, found via collections
    assert (ids["payables"], ids["alerts"], "failure") in pairs  # an on-failure tag
    assert (ids["dashboard"], ids["transform"], "success") in pairs  # the chain file
    assert data["cycles"] == [
        sorted([ids["transform"], ids["ledger"], ids["receivables"], ids["dashboard"]])
    ]
    assert [n["id"] for n in data["nodes"] if n["missing"]] == [missing]
    names = {n["id"]: n["name"] for n in data["nodes"]}
    assert names[ids["extract"]] == "Finance extract"


@pytest.fixture
def qlik(tenant: FakeTenant) -> Iterator[QlikClient]:
    """A client of the fake tenant, which counts its calls."""
    client = connect(TENANT, SecretStr("key"), sender_options=NO_SLEEP)
    yield client
    client.close()


def test_native_tasks_are_listed_once_and_drawn_beside_the_chains(
    tenant: FakeTenant, qlik: QlikClient
) -> None:
    apps = mixed(tenant)
    graph = build_graph(qlik, ChainFile(), "next-", native=True)
    assert qlik.calls[TASKS] == 1
    assert [(e.source, e.target) for e in graph.edges] == [(apps.one, apps.two)]
    native = {(e.source, e.target): e.task.task_id for e in graph.native.edges()}
    assert native == {
        (apps.one, apps.two): "t-b",
        (apps.two, apps.three): "t-c",
        (apps.three, apps.four): "t-d",
    }
    assert graph.nodes[apps.four].name == "App 4"  # named by the same items lookup
    assert graph.cycles == []


def test_without_native_no_task_is_listed(tenant: FakeTenant, qlik: QlikClient) -> None:
    mixed(tenant)
    graph = build_graph(qlik, ChainFile(), "next-")
    assert TASKS not in qlik.calls and not graph.native.edges()


def test_mermaid_and_dot_draw_native_edges_teal_and_stopped_ones_grey(
    tenant: FakeTenant, qlik: QlikClient
) -> None:
    mixed(tenant)
    graph = build_graph(qlik, ChainFile(), "next-", native=True)
    mermaid = to_mermaid(graph).splitlines()
    assert mermaid[5:] == [
        "  a0 -->|also native| a1",
        "  a0 ==>|native task Reload t-b| a1",
        '  a1 ==>|"native task Reload t-c, disabled: CONSECUTIVE-FAILURES"| a2',
        "  a2 ==>|native task Reload t-d, upstream gone| a3",
        "  classDef missing fill:#fdd,stroke:#c00,stroke-dasharray:4",
        "  linkStyle 1 stroke:#00796b",
        "  linkStyle 2 stroke:#9e9e9e",
        "  linkStyle 3 stroke:#9e9e9e",
    ]
    dot = to_dot(graph)
    assert '[label="also native"];' in dot
    assert (
        '[label="native task Reload t-c, disabled: CONSECUTIVE-FAILURES", color="#9e9e9e", '
        'fontcolor="#9e9e9e", penwidth=2];'
    ) in dot
    assert '[label="native task Reload t-b", color="#00796b"' in dot


OLD_EDGE_KEYS = {"from", "to", "on", "origin", "in_cycle"}


def graph_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", "key")
    assert main(["graph", "--format", "json"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_the_json_adds_the_native_edges_and_keeps_every_key_it_had(
    tenant: FakeTenant,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_logging: None,
) -> None:
    apps = mixed(tenant)
    data, err = graph_json(monkeypatch, capsys)
    assert err == ""
    (tag,) = data["edges"]
    assert set(tag) == OLD_EDGE_KEYS | {"kind", "also_native"}
    assert (tag["kind"], tag["also_native"]) == ("tag", ["t-b"])
    by_task = {edge["task_id"]: edge for edge in data["native_edges"]}
    assert by_task["t-b"] == {
        "from": apps.one,
        "to": apps.two,
        "on": "success",
        "origin": "native task Reload t-b",
        "kind": "native-task",
        "task_id": "t-b",
        "task_name": "Reload t-b",
        "enabled": True,
        "disabled_code": None,
        "problem": None,
        "also_declared": True,
    }
    disabled = by_task["t-c"]
    assert (disabled["enabled"], disabled["disabled_code"]) == (False, "CONSECUTIVE-FAILURES")
    assert (disabled["problem"], by_task["t-d"]["problem"]) == ("disabled", "upstream_missing")
    assert [(p["task_id"], p["kind"], p["detail"]) for p in data["native_problems"]] == [
        ("t-c", "disabled", "CONSECUTIVE-FAILURES"),
        ("t-d", "upstream_missing", "t-gone"),
    ]
    assert data["native_tasks_listed"] is True


def test_a_refused_listing_draws_the_chains_alone_and_says_so_once(
    tenant: FakeTenant,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_logging: None,
) -> None:
    apps = mixed(tenant)
    errors = [{"code": "HTTP-403", "title": "Forbidden"}]
    tenant.tasks_answer = httpx.Response(403, json={"errors": errors})
    data, err = graph_json(monkeypatch, capsys)
    assert err.splitlines() == [NOT_LISTED]
    assert [(e["from"], e["to"]) for e in data["edges"]] == [(apps.one, apps.two)]
    assert data["edges"][0]["also_native"] == []
    assert (data["native_edges"], data["native_problems"]) == ([], [])
    assert data["native_tasks_listed"] is False

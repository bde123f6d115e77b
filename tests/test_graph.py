"""``reload-chain graph``: tag edges from the tenant, chain-file edges and joins, cycles marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.edges import Edge, Join
from jobs.graph import ChainGraph, Node, find_cycles
from jobs.graph_render import to_dot, to_json, to_mermaid
from scheduler.cli import main
from simulator.scenario import builtin_scenario
from simulator.server import SimulatorServer


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

"""``reload-chain graph --format text``: the demo's tree, for any tenant."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from jobs.edges import Edge, Join
from jobs.graph import ChainGraph, Node, find_cycles
from jobs.graph_native import NativeView
from jobs.graph_text import edges_with_joins, to_text
from qlik.tasks import NativeTask, Upstream
from scheduler.cli import main
from simulator.scenario import builtin_scenario
from simulator.server import SimulatorServer
from tests.fake_tenant import TENANT, FakeTenant
from tests.native_tenant import mixed

MISSING = "5c0f9b1e-3a2d-4c8b-9e7f-0a1b2c3d4e5f"


def edge(source: str, target: str, on: str = "success", origin: str = "tag next-x") -> Edge:
    return Edge(source, target, on, origin)  # type: ignore[arg-type]


def graph_of(
    names: Mapping[str, str | None], edges: list[Edge], joins: list[Join] | None = None
) -> ChainGraph:
    nodes = {app: Node(app, name) for app, name in names.items()}
    graph = ChainGraph(nodes, edges, joins or [])
    graph.cycles = find_cycles(edges_with_joins(graph))
    return graph


def graph_command(config: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    scenario = builtin_scenario()
    with SimulatorServer(scenario) as sim:
        monkeypatch.setenv("QLIK_TENANT_URL", sim.url)
        monkeypatch.setenv("QLIK_API_KEY", scenario.api_key)
        return main(["--config", str(config), "graph", "--format", "text"])


def test_the_finance_tenant_draws_the_demos_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "reload-chain.toml"
    config.write_text("", encoding="utf-8")
    assert graph_command(config, monkeypatch) == 0
    text = capsys.readouterr().out.rstrip("\n")
    tree, stopped = text.split("\n\n")
    # The tenant's native tasks beside its tags: one hop declared both ways, one task disabled.
    native = "native task Finance transform after extract"
    assert tree.splitlines()[:4] == [
        "Finance extract (script)",
        f"├─ Finance transform (script)  [also {native}]",
        "│  ├─ Accounts Payable",
        "│  │  └─ on failure: Data quality alerts",
    ]
    assert tree.splitlines()[-1] == f"└─ Finance transform (script)  [{native}]  (see above)"
    assert "[native task Accounts Receivable after transform; disabled: CONSECUTIVE-FAILURES]" in (
        tree
    )
    assert stopped.startswith("Native tasks that will not fire:\n")


def test_the_readme_chain_file_marks_cycles_joins_and_missing_apps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {app.key: app.id for app in builtin_scenario().apps}
    config = tmp_path / "reload-chain.toml"
    config.write_text(
        f'[[edge]]\nfrom = "{ids["ledger"]}"\nto = "{ids["dashboard"]}"\non = "any"\n\n'
        f'[[edge]]\nfrom = "{ids["dashboard"]}"\nto = "{ids["transform"]}"\n\n'
        f'[[join]]\ntarget = "{MISSING}"\nafter = ["{ids["ledger"]}", "{ids["receivables"]}"]\n'
        "within_minutes = 360\n",
        encoding="utf-8",
    )
    assert graph_command(config, monkeypatch) == 0
    text = capsys.readouterr().out
    join = "  [join: waits for General Ledger, Accounts Receivable within 360 min]"
    assert f"│  │  ├─ {MISSING} (missing){join}\n" in text
    assert "│  │     └─ ↻ cycle back to Finance transform (script)  [reload-chain.toml:6]\n" in text
    assert "│     ├─ always: Finance dashboard  [reload-chain.toml:1]  (see above)\n" in text
    assert text.count(f"{MISSING} (missing){join}") == 2  # under each member
    assert "Cycles (each external start runs them once):\n  Accounts Receivable, " in text
    assert f"Missing (a chain names them; the tenant does not have them):\n  {MISSING}\n" in text


def test_a_cycle_nothing_starts_is_entered_at_its_first_member() -> None:
    graph = graph_of({"b": "Beta", "a": "Alpha", "c": "Gamma"}, [edge("b", "a"), edge("a", "b")])
    graph.edges.append(edge("a", "c", "failure"))
    assert to_text(graph).split("\n\n")[0] == "\n".join(
        ["Alpha", "├─ Beta", "│  └─ ↻ cycle back to Alpha", "└─ on failure: Gamma"]
    )


def test_a_self_loop_and_an_any_edge() -> None:
    graph = graph_of({"a": "Alpha", "b": "Beta"}, [edge("a", "a"), edge("a", "b", "any")])
    assert to_text(graph).startswith("Alpha\n├─ ↻ cycle back to Alpha\n└─ always: Beta\n")
    assert to_text(graph).endswith("Cycles (each external start runs them once):\n  Alpha")


def test_a_shared_subtree_is_drawn_once_and_a_shared_leaf_each_time() -> None:
    names = {"r": "Root", "x": "Left", "y": "Right", "s": "Shared", "l": "Leaf"}
    edges = [edge("r", "x"), edge("r", "y"), edge("x", "s"), edge("y", "s"), edge("s", "l")]
    edges += [edge("x", "l", origin="/etc/rc/reload-chain.toml:4")]
    assert to_text(graph_of(names, edges)) == "\n".join(
        [
            "Root",
            "├─ Left",
            "│  ├─ Leaf  [reload-chain.toml:4]",
            "│  └─ Shared",
            "│     └─ Leaf",
            "└─ Right",
            "   └─ Shared  (see above)",
        ]
    )


def test_a_join_appears_under_each_member_and_its_successors_once() -> None:
    names = {"a": "A", "b": "B", "t": "Target", "n": "Next"}
    joins = [Join("t", ("a", "b"), 60, "reload-chain.toml:9")]
    text = to_text(graph_of(names, [edge("t", "n")], joins))
    mark = "  [join: waits for A, B within 60 min]"
    assert text == "\n".join(
        ["A", f"└─ Target{mark}", "   └─ Next", "B", f"└─ Target{mark}  (see above)"]
    )


def test_order_is_by_name_then_id_and_missing_apps_show_their_id() -> None:
    names = {"r": "root", "2": "Twin", "1": "Twin", "z": None, "m": "apple"}
    edges = [edge("r", target) for target in ("2", "1", "z", "m")]
    assert to_text(graph_of(names, edges)).splitlines()[:5] == [
        "root",
        "├─ apple",
        "├─ Twin",
        "├─ Twin",
        "└─ z (missing)",
    ]


def test_bad_tags_are_listed_and_an_empty_graph_says_so() -> None:
    graph = ChainGraph({}, [], bad_tags=[("abc", "next-nope"), ("abc", "next-")])
    assert to_text(graph) == "\n".join(
        [
            "No chains: no chain tags and no chain-file edges.",
            "",
            "Bad tags (name no app or script id; ignored):",
            "  abc: next-",
            "  abc: next-nope",
        ]
    )


def test_a_chain_deeper_than_the_recursion_limit_draws() -> None:
    names = {str(n): f"App {n}" for n in range(1500)}
    edges = [edge(str(n), str(n + 1)) for n in range(1499)] + [edge("1499", "1")]
    lines = to_text(graph_of(names, edges)).splitlines()
    assert lines[0] == "App 0" and lines[1] == "└─ App 1"
    assert lines[1500] == " " * 3 * 1499 + "└─ ↻ cycle back to App 1"


def test_native_edges_are_drawn_after_the_chains_with_their_task_and_what_stops_them(
    tenant: FakeTenant,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fresh_logging: None,
) -> None:
    mixed(tenant)
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", "key")
    assert main(["graph", "--format", "text"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "App 1",
        "├─ App 2  [also native task Reload t-b]",
        "│  └─ App 3  [native task Reload t-c; disabled: CONSECUTIVE-FAILURES]",
        "│     └─ App 4  [native task Reload t-d; upstream task t-gone not listed]",
        "└─ App 2  [native task Reload t-b]  (see above)",
        "",
        "Native tasks that will not fire:",
        '  native task "Reload t-c" (t-c) is disabled (CONSECUTIVE-FAILURES): it no longer '
        "reloads App 3 after App 2",
        '  native task "Reload t-d" (t-d) waits on task t-gone, which is not listed (deleted, '
        "or on an app this identity may not reload): it no longer reloads App 4 after App 3",
    ]


def test_a_native_edge_on_failure_and_one_from_a_chain_file() -> None:
    names = {"a": "Alpha", "b": "Beta", "c": "Gamma"}
    graph = graph_of(names, [edge("a", "b", "failure", "/etc/rc/reload-chain.toml:2")])
    task = NativeTask("t-1", "Fix", "b", True, None, (Upstream(None, "a", "failure"),))
    graph.native = NativeView.listed([task, NativeTask("t-2", "", "c", True)])
    assert to_text(graph) == "\n".join(
        [
            "Alpha",
            "├─ on failure: Beta  [reload-chain.toml:2; also native task Fix]",
            "└─ on failure: Beta  [native task Fix]",
            "Gamma",  # a scheduled task draws no edge
        ]
    )

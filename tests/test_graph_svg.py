"""``reload-chain graph --format svg``: a layered drawing, valid, readable at 300 apps."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from itertools import combinations
from pathlib import Path

import pytest

from jobs.edges import Edge, Join
from jobs.graph import ChainGraph, Node, find_cycles
from jobs.graph_svg import to_svg
from jobs.graph_svg_style import STATUS_COLOURS
from jobs.graph_text import edges_with_joins
from scheduler.cli import main
from simulator.scenario import builtin_scenario
from simulator.server import SimulatorServer
from tests.fake_tenant import TENANT, FakeTenant
from tests.native_tenant import mixed

NS = {"svg": "http://www.w3.org/2000/svg"}
MISSING = "5c0f9b1e-3a2d-4c8b-9e7f-0a1b2c3d4e5f"
Rect = tuple[float, float, float, float]


def edge(source: str, target: str, on: str = "success", origin: str = "tag next-x") -> Edge:
    return Edge(source, target, on, origin)  # type: ignore[arg-type]


def finish(nodes: dict[str, Node], edges: list[Edge], joins: list[Join]) -> ChainGraph:
    graph = ChainGraph(nodes, edges, joins)
    graph.cycles = find_cycles(edges_with_joins(graph))
    return graph


def generated(size: int, seed: int = 15) -> ChainGraph:
    """``size`` apps: a fan-out of up to 50, a random tree, cross and back edges, joins."""
    rng = random.Random(seed)
    ids = [f"{n:024x}" for n in range(size)]
    nodes = {
        app: Node(app, None if n % 13 == 12 else f"App {n} " + "x" * rng.choice([0, 5, 60]))
        for n, app in enumerate(ids)
    }
    edges = [edge(ids[0], ids[k]) for k in range(1, min(50, size - 1) + 1)]
    for k in range(51, size):
        on, origin = rng.choice(["success", "failure", "any"]), rng.choice(["tag x", "rc.toml:3"])
        edges.append(edge(ids[rng.randrange(k)], ids[k], on, origin))
    pairs = [sorted(rng.sample(range(size), 2)) for _ in range(size // 4)]
    edges += [edge(ids[a], ids[b]) for a, b in pairs[: size // 5]]  # forward, across layers
    edges += [edge(ids[b], ids[a]) for a, b in pairs[size // 5 :]]  # back: cycles
    edges.append(edge(ids[size - 1], ids[size - 1]))
    joins = [
        Join(ids[t], tuple(ids[m] for m in rng.sample(range(t), min(t, 20))), 60, "rc.toml:9")
        for t in rng.sample(range(size // 2, size), max(1, size // 30))
    ]
    return finish(nodes, edges, joins)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def nodes_of(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{{{NS['svg']}}}g") if "node" in g.get("class", "").split()]


def rects(root: ET.Element) -> list[Rect]:
    found = []
    for group in nodes_of(root):
        rect = group.find("svg:rect", NS)
        assert rect is not None
        found.append(tuple(float(rect.get(k, "nan")) for k in ("x", "y", "width", "height")))
    return found  # type: ignore[return-value]


def overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("size", [10, 100, 300])
def test_no_two_boxes_overlap_and_all_fit_in_the_picture(size: int) -> None:
    graph = generated(size)
    assert graph.cycles and graph.joins  # the generator makes both
    root = parse(to_svg(graph))
    boxes = rects(root)
    assert len(boxes) == size
    assert not [(a, b) for a, b in combinations(boxes, 2) if overlap(a, b)]
    chains = root.find("svg:g[@class='chains']", NS)
    assert chains is not None
    dx, dy = map(float, re.findall(r"[\d.]+", chains.get("transform", "")))
    width, height = float(root.get("width", 0)), float(root.get("height", 0))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    for x, y, w, h in boxes:
        assert 0 <= dx + x <= width - w and 0 <= dy + y <= height - h


def test_the_finance_tenant_with_the_readme_chain_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = builtin_scenario()
    ids = {app.key: app.id for app in scenario.apps}
    config = tmp_path / "reload-chain.toml"
    config.write_text(
        f'[[edge]]\nfrom = "{ids["dashboard"]}"\nto = "{ids["transform"]}"\n'
        f'[[join]]\ntarget = "{MISSING}"\nafter = ["{ids["ledger"]}", "{ids["receivables"]}"]\n',
        encoding="utf-8",
    )
    with SimulatorServer(scenario) as sim:
        monkeypatch.setenv("QLIK_TENANT_URL", sim.url)
        monkeypatch.setenv("QLIK_API_KEY", scenario.api_key)
        assert main(["--config", str(config), "graph", "--format", "svg"]) == 0
    root = parse(capsys.readouterr().out)
    classes = {g.get("data-app-id"): g.get("class", "") for g in nodes_of(root)}
    assert classes[ids["extract"]] == "node script unknown"
    assert classes[MISSING] == "node app unknown missing"
    assert classes[ids["dashboard"]] == "node app unknown cycle"
    edges = {
        (g.get("data-from"), g.get("data-to")): g.get("class")
        for g in root.iter(f"{{{NS['svg']}}}g")
        if g.get("data-from")
    }
    assert edges[ids["payables"], ids["alerts"]] == "edge tag on-failure"
    assert edges[ids["ledger"], MISSING] == "edge join on-success"
    assert edges[ids["dashboard"], ids["transform"]] == "edge chain-file on-success cycle back"
    # The finance tenant's native task declares this hop too.
    assert edges[ids["extract"], ids["transform"]] == "edge tag on-success also-native"
    texts = "".join(root.itertext())
    assert "missing 5c0f9b1e" in texts and "join, 1440 min" in texts and "on failure" in texts


def sample(name: str = "Extract") -> ChainGraph:
    nodes = {"a": Node("a", name, "script"), "b": Node("b", "Load"), "c": Node("c", "Report")}
    return finish(nodes, [edge("a", "b"), edge("b", "c", "failure")], [])


def test_status_colours_the_apps() -> None:
    status = {"a": "succeeded", "b": "failed", "c": "something new"}
    root = parse(to_svg(sample(), status=status))
    for group in nodes_of(root):
        outcome = {"a": "succeeded", "b": "failed", "c": "unknown"}[group.get("data-app-id", "")]
        assert outcome in group.get("class", "").split() and group.get("data-status") == outcome
        rect = group.find("svg:rect", NS)
        assert rect is not None
        assert (rect.get("fill"), rect.get("stroke")) == STATUS_COLOURS[outcome]
    legend = root.find("svg:g/svg:g[@class='legend']", NS)
    assert legend is not None
    words = "".join(legend.itertext())
    assert "succeeded" in words and "failed" in words and "running" not in words


def test_names_are_escaped_and_long_ones_cut_with_the_whole_name_on_hover() -> None:
    name = 'Q1 <draft> & "final" \x01' + " very long" * 5
    svg = to_svg(sample(name))
    root = parse(svg)
    group = next(g for g in nodes_of(root) if g.get("data-app-id") == "a")
    title, text = group.find("svg:title", NS), group.find("svg:text", NS)
    assert title is not None and text is not None
    assert title.text is not None and title.text.startswith('Q1 <draft> & "final"  very long')
    assert "id: a" in title.text
    assert text.text is not None and text.text.startswith('Q1 <draft> & "final"')
    assert text.text.endswith("…") and len(text.text) == 32
    assert "&lt;draft&gt; &amp; &quot;final&quot;" in svg


def test_the_drawing_does_not_depend_on_the_order_edges_were_found() -> None:
    graph = generated(60)
    shuffled = finish(graph.nodes, list(reversed(graph.edges)), graph.joins)
    assert to_svg(graph, status={"0" * 24: "running"}) == to_svg(
        shuffled, status={"0" * 24: "running"}
    )


def test_an_empty_graph_is_still_a_picture() -> None:
    root = parse(to_svg(ChainGraph({}, [])))
    assert "No chains" in "".join(root.itertext())
    assert float(root.get("width", 0)) > 0 and float(root.get("height", 0)) > 0


def test_native_edges_are_their_own_kind_and_stopped_ones_faded_with_why(
    tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = mixed(tenant)
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", "key")
    assert main(["graph", "--format", "svg"]) == 0
    root = parse(capsys.readouterr().out)
    edges: dict[tuple[str | None, str | None], list[ET.Element]] = {}
    for group in root.iter(f"{{{NS['svg']}}}g"):
        if group.get("data-from"):
            edges.setdefault((group.get("data-from"), group.get("data-to")), []).append(group)
    twice = {g.get("class"): g for g in edges[apps.one, apps.two]}
    assert set(twice) == {"edge tag on-success also-native", "edge native-task on-success"}
    title = twice["edge tag on-success also-native"].find("svg:title", NS)
    assert title is not None and title.text is not None
    assert title.text.endswith("on success, tag next-" + apps.two + "; also native task Reload t-b")
    (disabled,) = edges[apps.two, apps.three]
    assert disabled.get("class") == "edge native-task on-success disabled"
    assert "disabled: CONSECUTIVE-FAILURES" in "".join(disabled.itertext())
    path = disabled.find("svg:path", NS)
    assert path is not None and path.get("stroke-opacity") == "0.45"
    assert path.get("stroke") == "#00796b"
    (gone,) = edges[apps.three, apps.four]
    assert gone.get("class") == "edge native-task on-success upstream-missing"
    legend = root.find("svg:g/svg:g[@class='legend']", NS)
    assert legend is not None and "native task" in "".join(legend.itertext())

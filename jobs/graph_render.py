"""Draw a ``ChainGraph`` as mermaid, Graphviz dot, or JSON.

Native task edges (``jobs.graph_native``) are drawn after reload-chain's, in teal, labelled
with their task, grey when the task will not fire. In JSON they are a list of their own,
``native_edges``: the keys tools already read keep their meaning, only keys were added.
"""

from __future__ import annotations

import json
from typing import Any

from jobs.edges import Edge
from jobs.graph import ChainGraph, Node
from jobs.graph_native import Mark, NativeView, as_edge, edge_marks, origin_kind, twice
from jobs.native import NativeEdge

LABELS = {"success": "", "failure": "on failure", "any": "always"}
NATIVE_COLOUR, STOPPED_COLOUR = "#00796b", "#9e9e9e"


def to_json(graph: ChainGraph) -> dict[str, Any]:
    """The graph as plain data."""
    pairs = twice(graph.edges, graph.native)
    return {
        "nodes": [
            {"id": n.app_id, "name": n.name, "type": n.resource_type, "missing": n.missing}
            for n in graph.nodes.values()
        ],
        "edges": [
            {
                "from": e.source,
                "to": e.target,
                "on": e.on,
                "origin": e.origin,
                "in_cycle": graph.in_cycle(e),
                "kind": origin_kind(e),
                "also_native": [n.task.task_id for edge, n in pairs if edge == e],
            }
            for e in graph.edges
        ],
        "joins": [
            {
                "target": j.target,
                "after": list(j.after),
                "within_minutes": j.within_minutes,
                "origin": j.origin,
            }
            for j in graph.joins
        ],
        "cycles": graph.cycles,
        "bad_tags": [{"app_id": app, "tag": tag} for app, tag in graph.bad_tags],
        **_native_json(graph.native, {native for _, native in pairs}),
    }


def _native_json(view: NativeView, declared: set[NativeEdge]) -> dict[str, Any]:
    """The native edges, the tasks that will not fire, and whether the tasks could be listed."""
    problems = view.problems()
    edges = []
    for native in view.edges():
        task, problem = native.task, problems.get(native.task.task_id)
        edges.append(
            {
                "from": native.source,
                "to": native.target,
                "on": native.on,
                "origin": as_edge(native).origin,
                "kind": "native-task",
                "task_id": task.task_id,
                "task_name": task.name,
                "enabled": task.enabled,
                "disabled_code": task.disabled_code,
                "problem": problem.kind if problem is not None else None,
                "also_declared": native in declared,
            }
        )
    stopped = [
        {"task_id": p.task.task_id, "task_name": p.task.name, "app_id": p.task.app_id}
        | {"kind": p.kind, "detail": p.detail}
        for p in problems.values()
    ]
    return {
        "native_edges": edges,
        "native_problems": stopped,
        "native_tasks_listed": not view.refused,
    }


def to_mermaid(graph: ChainGraph) -> str:
    """A mermaid flowchart: failure edges dashed, cycles red, missing apps flagged, native
    task edges teal (grey when the task will not fire)."""
    key = {app_id: f"a{n}" for n, app_id in enumerate(graph.nodes)}
    marks = edge_marks(graph.edges, graph.native)
    lines = ["flowchart LR"]
    lines += [f"  {key[n.app_id]}[{json.dumps(_label(n))}]" for n in graph.nodes.values()]
    red = []
    for number, edge in enumerate(graph.edges):
        arrow = "-.->" if edge.on == "failure" else "-->"
        parts = [LABELS[edge.on], "cycle" if graph.in_cycle(edge) else ""]
        text = _mermaid_text([*parts, *(m.label for m in marks.get(edge, []))])
        lines.append(f"  {key[edge.source]} {arrow}{text} {key[edge.target]}")
        if graph.in_cycle(edge):
            red.append(number)
    native, styles = _mermaid_native(graph, key, marks)
    lines += native + _mermaid_joins(graph, key)
    missing = [key[n.app_id] for n in graph.nodes.values() if n.missing]
    lines.append("  classDef missing fill:#fdd,stroke:#c00,stroke-dasharray:4")
    if missing:
        lines.append(f"  class {','.join(missing)} missing")
    if red:
        lines.append(f"  linkStyle {','.join(map(str, red))} stroke:#c00,stroke-width:2px")
    return "\n".join(lines + styles)


def _mermaid_native(
    graph: ChainGraph, key: dict[str, str], marks: dict[Edge, list[Mark]]
) -> tuple[list[str], list[str]]:
    """The native edges (links numbered after reload-chain's edges), and their colours."""
    lines, styles = [], []
    for number, native in enumerate(graph.native.edges(), start=len(graph.edges)):
        edge = as_edge(native)
        found = marks.get(edge, [])
        arrow = "-.->" if edge.on == "failure" else "==>"
        text = _mermaid_text([edge.origin, LABELS[edge.on], *(m.label for m in found)])
        lines.append(f"  {key[edge.source]} {arrow}{text} {key[edge.target]}")
        styles.append(f"  linkStyle {number} stroke:{_native_colour(found)}")
    return lines, styles


def _mermaid_text(parts: list[str]) -> str:
    """An edge's label (``|...|``), quoted when it holds more than plain words."""
    text = ", ".join(part for part in parts if part)
    if not text:
        return ""
    if all(c.isalnum() or c in " ,-" for c in text):
        return f"|{text}|"
    return '|"' + text.replace('"', "#quot;") + '"|'


def _native_colour(marks: list[Mark]) -> str:
    return STOPPED_COLOUR if any(m.kind != "also-native" for m in marks) else NATIVE_COLOUR


def _mermaid_joins(graph: ChainGraph, key: dict[str, str]) -> list[str]:
    lines = []
    for number, join in enumerate(graph.joins):
        node = f"j{number}"
        lines.append(f'  {node}{{{{"all within {join.within_minutes} min"}}}}')
        lines += [f"  {key[member]} --> {node}" for member in join.after]
        lines.append(f"  {node} --> {key[join.target]}")
    return lines


def to_dot(graph: ChainGraph) -> str:
    """A Graphviz digraph with the same conventions as the mermaid output."""
    lines = ["digraph chains {", "  rankdir=LR;", "  node [shape=box];"]
    for node in graph.nodes.values():
        style = ' style="dashed,filled" fillcolor="#ffdddd"' if node.missing else ""
        lines.append(f"  {json.dumps(node.app_id)} [label={json.dumps(_label(node))}{style}];")
    marks = edge_marks(graph.edges, graph.native)
    for edge in graph.edges:
        words = [LABELS[edge.on], *(m.label for m in marks.get(edge, []))]
        attributes = [f"label={json.dumps(', '.join(w for w in words if w))}"]
        if edge.on == "failure":
            attributes.append("style=dashed")
        if graph.in_cycle(edge):
            attributes.append('color="#cc0000"')
        lines.append(_dot_edge(edge.source, edge.target, attributes))
    lines += _dot_native(graph, marks)
    for number, join in enumerate(graph.joins):
        lines.append(
            f'  "join{number}" [shape=diamond label="all within {join.within_minutes} min"];'
        )
        lines += [f'  {json.dumps(member)} -> "join{number}";' for member in join.after]
        lines.append(f'  "join{number}" -> {json.dumps(join.target)};')
    return "\n".join([*lines, "}"])


def _dot_native(graph: ChainGraph, marks: dict[Edge, list[Mark]]) -> list[str]:
    lines = []
    for native in graph.native.edges():
        edge = as_edge(native)
        found = marks.get(edge, [])
        words = [edge.origin, LABELS[edge.on], *(m.label for m in found)]
        colour = json.dumps(_native_colour(found))
        attributes = [f"label={json.dumps(', '.join(w for w in words if w))}"]
        attributes += [f"color={colour}", f"fontcolor={colour}", "penwidth=2"]
        if edge.on == "failure":
            attributes.append("style=dashed")
        lines.append(_dot_edge(edge.source, edge.target, attributes))
    return lines


def _dot_edge(source: str, target: str, attributes: list[str]) -> str:
    return f"  {json.dumps(source)} -> {json.dumps(target)} [{', '.join(attributes)}];"


def _label(node: Node) -> str:
    if node.missing:
        return f"missing: {node.app_id}"
    kind = " (script)" if node.resource_type == "script" else ""
    return f"{node.name}{kind}"

"""Draw a ``ChainGraph`` as mermaid, Graphviz dot, or JSON."""

from __future__ import annotations

import json
from typing import Any

from jobs.graph import ChainGraph, Node

LABELS = {"success": "", "failure": "on failure", "any": "always"}


def to_json(graph: ChainGraph) -> dict[str, Any]:
    """The graph as plain data."""
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
    }


def to_mermaid(graph: ChainGraph) -> str:
    """A mermaid flowchart: failure edges dashed, cycles red, missing apps flagged."""
    key = {app_id: f"a{n}" for n, app_id in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    lines += [f"  {key[n.app_id]}[{json.dumps(_label(n))}]" for n in graph.nodes.values()]
    red = []
    for number, edge in enumerate(graph.edges):
        arrow = "-.->" if edge.on == "failure" else "-->"
        parts = [LABELS[edge.on], "cycle" if graph.in_cycle(edge) else ""]
        label = ", ".join(part for part in parts if part)
        text = f"|{label}|" if label else ""
        lines.append(f"  {key[edge.source]} {arrow}{text} {key[edge.target]}")
        if graph.in_cycle(edge):
            red.append(number)
    lines += _mermaid_joins(graph, key)
    missing = [key[n.app_id] for n in graph.nodes.values() if n.missing]
    lines.append("  classDef missing fill:#fdd,stroke:#c00,stroke-dasharray:4")
    if missing:
        lines.append(f"  class {','.join(missing)} missing")
    if red:
        lines.append(f"  linkStyle {','.join(map(str, red))} stroke:#c00,stroke-width:2px")
    return "\n".join(lines)


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
    for edge in graph.edges:
        attributes = [f"label={json.dumps(LABELS[edge.on])}"]
        if edge.on == "failure":
            attributes.append("style=dashed")
        if graph.in_cycle(edge):
            attributes.append('color="#cc0000"')
        lines.append(
            f"  {json.dumps(edge.source)} -> {json.dumps(edge.target)} [{', '.join(attributes)}];"
        )
    for number, join in enumerate(graph.joins):
        lines.append(
            f'  "join{number}" [shape=diamond label="all within {join.within_minutes} min"];'
        )
        lines += [f'  {json.dumps(member)} -> "join{number}";' for member in join.after]
        lines.append(f'  "join{number}" -> {json.dumps(join.target)};')
    return "\n".join([*lines, "}"])


def _label(node: Node) -> str:
    if node.missing:
        return f"missing: {node.app_id}"
    kind = " (script)" if node.resource_type == "script" else ""
    return f"{node.name}{kind}"

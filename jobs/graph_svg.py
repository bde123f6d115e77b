"""``graph --format svg``: the chain graph drawn by the program itself, no Graphviz, no network.

Sources on the left, successors to the right (``jobs/graph_layout.py``). Boxes are sized to
their text; a long name is cut with an ellipsis and given whole, with the id, on hover. An
edge's colour says where it comes from (tag, chain file, join, native task), its dashes the
condition (solid on success, dashed on failure, dotted always); edges in a cycle are red and
the one that closes it runs back from right to left. Every node is a ``g.node`` with its outcome
as a class (``node succeeded``) and ``data-app-id``; every edge a ``g.edge`` with its kind and
condition (``edge tag on-failure``), and what stands out on it (``also-native``, ``disabled``,
``upstream-missing``: ``jobs.graph_native``), so the HTML report and its tests can find them.
"""

from __future__ import annotations

from collections.abc import Mapping

from jobs.edges import Edge, Join
from jobs.graph import ChainGraph, Node
from jobs.graph_layout import Box, Hop, Layout, layered_layout
from jobs.graph_native import Mark, edge_marks, origin_kind
from jobs.graph_svg_style import (
    CHAR_WIDTH,
    CONDITION_NAMES,
    DASHES,
    FONT_SIZE,
    KIND_COLOURS,
    MISSING_COLOURS,
    STATUS_COLOURS,
    STATUSES,
    STYLE,
    caption,
    clean,
    columns,
    legend,
    markers,
    number,
    point,
    shorten,
    xml,
)
from jobs.graph_text import drawn_edges, label, sort_key

NODE_HEIGHT = 30.0
PAD = 12.0
MAX_CHARS = 32
MARGIN = 16.0
LEGEND_ROOM = 34.0
LOOP_ROOM = 30.0  # right of the drawing, for a self-loop
STOPPED_OPACITY = "0.45"  # a native edge whose task will not fire
EMPTY = "No chains: no chain tags and no chain-file edges."


def to_svg(graph: ChainGraph, *, status: Mapping[str, str] | None = None) -> str:
    """A standalone SVG of the graph; ``status`` (app id -> latest outcome) colours the apps."""
    nodes = sorted(graph.nodes.values(), key=sort_key)
    texts = {node.app_id: _text(graph, node) for node in nodes}
    sizes = {a: (columns(text) * CHAR_WIDTH + 2 * PAD, NODE_HEIGHT) for a, text in texts.items()}
    edges = sorted(drawn_edges(graph), key=lambda e: _edge_key(graph, e))
    layout = layered_layout(sizes, [(edge.source, edge.target) for edge in edges])
    outcomes = {node.app_id: _outcome(node, status) for node in nodes}
    marks = edge_marks(graph.edges, graph.native)
    body = [
        '<g class="edges">',
        *(_edge(graph, edge, layout, n, marks.get(edge, [])) for n, edge in enumerate(edges)),
        *(_join(graph, join, layout.boxes[join.target]) for join in graph.joins),
        '</g><g class="nodes">',
        *(_node(graph, node, layout.boxes[node.app_id], texts, outcomes) for node in nodes),
        "</g>" if nodes else f'<text y="12">{EMPTY}</text></g>',
    ]
    key, key_width = legend(*_legend_items(graph, edges, status, outcomes))
    width = 2 * MARGIN + max(layout.width + LOOP_ROOM, key_width)
    bottom = layout.height if nodes else 2 * FONT_SIZE
    size = (width, 2 * MARGIN + LEGEND_ROOM + bottom)
    return _document(size, f"{len(nodes)} apps, {len(edges)} edges", key, body)


def _document(size: tuple[float, float], summary: str, key: str, body: list[str]) -> str:
    """The ``svg`` element: its size, title and style, the legend, then the drawing."""
    width, height = number(size[0]), number(size[1])
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="rc-graph" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="chain graph: {summary}">',
            f"<title>reload-chain: {summary}</title>",
            f"<style>{STYLE}</style>",
            markers(),
            f'<g transform="translate({number(MARGIN)},{number(MARGIN)})">{key}</g>',
            f'<g class="chains" transform="translate({number(MARGIN)},'
            f'{number(MARGIN + LEGEND_ROOM)})">',
            *body,
            "</g></svg>",
        ]
    )


def _edge_key(graph: ChainGraph, edge: Edge) -> tuple[object, ...]:
    return (
        sort_key(graph.nodes[edge.source]),
        sort_key(graph.nodes[edge.target]),
        edge.on,
        edge.origin,
    )


def _text(graph: ChainGraph, node: Node) -> str:
    if node.missing:
        return shorten(f"missing {node.app_id}", MAX_CHARS)
    cycle = "↻ " if any(node.app_id in cycle for cycle in graph.cycles) else ""
    return shorten(cycle + clean(str(node.name)), MAX_CHARS)


def _outcome(node: Node, status: Mapping[str, str] | None) -> str:
    outcome = (status or {}).get(node.app_id, "unknown")
    return outcome if outcome in STATUSES else "unknown"


def _node(
    graph: ChainGraph, node: Node, box: Box, texts: dict[str, str], outcomes: dict[str, str]
) -> str:
    outcome = outcomes[node.app_id]
    classes = ["node", node.resource_type, outcome]
    fill, stroke = MISSING_COLOURS if node.missing else STATUS_COLOURS[outcome]
    extra = ' stroke-dasharray="4 3"' if node.missing else ""
    if node.missing:
        classes.append("missing")
    if any(node.app_id in cycle for cycle in graph.cycles):
        classes.append("cycle")
        extra += ' stroke-width="2.2"'
    rounded = NODE_HEIGHT / 2 if node.resource_type == "script" else 4
    return (
        f'<g class="{" ".join(classes)}" data-app-id="{xml(node.app_id)}" data-status="{outcome}">'
        f"<title>{xml(_hover(graph, node, outcome))}</title>"
        f'<rect x="{number(box.x)}" y="{number(box.y)}" width="{number(box.width)}" '
        f'height="{number(box.height)}" rx="{number(rounded)}" fill="{fill}" '
        f'stroke="{stroke}"{extra}/>'
        f'<text x="{number(box.x + PAD)}" y="{number(box.middle + FONT_SIZE * 0.35)}">'
        f"{xml(texts[node.app_id])}</text></g>"
    )


def _hover(graph: ChainGraph, node: Node, outcome: str) -> str:
    lines = [label(node), f"id: {node.app_id}", f"latest: {outcome}"]
    for join in graph.joins:
        if join.target == node.app_id:
            members = ", ".join(label(graph.nodes[m]) for m in join.after)
            lines.append(f"join: waits for {members} within {join.within_minutes} min")
    return "\n".join(lines)


def _edge(graph: ChainGraph, edge: Edge, layout: Layout, index: int, marks: list[Mark]) -> str:
    """An edge's ``g.edge``: its path, arrowhead and label, and what it is on hover."""
    kind, back, cycle = origin_kind(edge), layout.back[index], graph.in_cycle(edge)
    classes = ["edge", kind, f"on-{edge.on}", *(["cycle"] if cycle else [])]
    colour = "cycle" if cycle or back else kind
    if back:
        classes.append("back")
    classes += [mark.kind for mark in marks]
    path, (x, y) = _path(edge, layout, index)
    text = _words(edge, back, marks)
    extra = f' stroke-dasharray="{DASHES[edge.on]}"' if DASHES[edge.on] else ""
    if any(mark.kind != "also-native" for mark in marks):
        extra += f' stroke-opacity="{STOPPED_OPACITY}"'
    hover = _edge_hover(graph, edge, back, marks)
    return (
        f'<g class="{" ".join(classes)}" data-from="{xml(edge.source)}" '
        f'data-to="{xml(edge.target)}"><title>{xml(hover)}</title>'
        f'<path d="{path}" stroke="{KIND_COLOURS[colour]}" stroke-width="1.4"{extra} '
        f'marker-end="url(#rc-arrow-{colour})"/>{caption(x, y - 4, text) if text else ""}</g>'
    )


def _path(edge: Edge, layout: Layout, index: int) -> tuple[str, tuple[float, float]]:
    """An edge's path, and where its label goes."""
    hops = layout.hops[index]
    if hops:
        return _forward_path(hops), _middle(hops[-1])
    return _self_loop(layout.boxes[edge.source])


def _join(graph: ChainGraph, join: Join, box: Box) -> str:
    """A join's window, once, just before its target where its edges meet."""
    members = ", ".join(label(graph.nodes[m]) for m in join.after)
    hover = f"join: {label(graph.nodes[join.target])} waits for {members} within"
    return (
        f'<g class="join-label" data-app-id="{xml(join.target)}">'
        f"<title>{xml(hover)} {join.within_minutes} min</title>"
        f"{caption(box.x - 8, box.y - 2, f'join, {join.within_minutes} min', 'end')}</g>"
    )


def _words(edge: Edge, back: bool, marks: list[Mark]) -> str:
    words = [CONDITION_NAMES.get(edge.on, ""), "cycle" if back else ""]
    words += [mark.label for mark in marks]
    return " · ".join(word for word in words if word)


def _edge_hover(graph: ChainGraph, edge: Edge, back: bool, marks: list[Mark]) -> str:
    source, target = label(graph.nodes[edge.source]), label(graph.nodes[edge.target])
    text = _words(edge, back, []) or "on success"
    details = "".join(f"; {mark.detail}" for mark in marks)
    return f"{source} → {target}: {text}, {edge.origin}{details}"


def _forward_path(hops: list[Hop]) -> str:
    """An S-curve across each column gap, a straight line through each column, either way."""
    parts: list[str] = []
    for (x0, y0), (x1, y1) in hops:
        mid = (x0 + x1) / 2
        parts.append(("L" if parts else "M") + point(x0, y0))
        parts.append(f"C{point(mid, y0)} {point(mid, y1)} {point(x1, y1)}")
    return " ".join(parts)


def _middle(hop: Hop) -> tuple[float, float]:
    (x0, y0), (x1, y1) = hop
    return (x0 + x1) / 2, (y0 + y1) / 2


def _self_loop(box: Box) -> tuple[str, tuple[float, float]]:
    """A loop over the box's top right corner, back into its right side."""
    x, y, right, middle = box.right - 16, box.y, box.right, box.middle
    path = f"M{point(x, y)} C{point(x, y - 22)} {point(right + 24, middle)} {point(right, middle)}"
    return path, (right + 8, y - 6)


def _legend_items(
    graph: ChainGraph, edges: list[Edge], status: Mapping[str, str] | None, outcomes: dict[str, str]
) -> tuple[list[str], list[str], list[str]]:
    kinds = {"cycle" if graph.in_cycle(edge) else origin_kind(edge) for edge in edges}
    conditions = {edge.on for edge in edges} - {"success"}
    marks = [s for s in STATUSES if status is not None and s in outcomes.values()]
    marks += ["missing"] if any(n.missing for n in graph.nodes.values()) else []
    marks += ["script"] if any(n.resource_type == "script" for n in graph.nodes.values()) else []
    return [k for k in KIND_COLOURS if k in kinds], [c for c in DASHES if c in conditions], marks

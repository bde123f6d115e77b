"""How ``graph --format svg`` looks: colours by outcome and edge kind, text, markers, legend.

Colours are written on the elements themselves (so the picture is right in any viewer); the
classes and the small scoped style sheet are hooks for the HTML report and the browser tests.
Text is measured by counting characters at a fixed size (wide East Asian characters count
twice), since the program has no fonts to measure with.
"""

from __future__ import annotations

import html
import re
import unicodedata

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
FONT_SIZE = 12.0
CHAR_WIDTH = 7.2  # a generous average at 12 px, so text stays inside its box
LABEL_SIZE = 10.0
LABEL_CHAR_WIDTH = 6.0

STATUSES = ("succeeded", "failed", "running", "skipped", "unknown")
# (fill, stroke) of a node by its app's latest outcome
STATUS_COLOURS = {
    "succeeded": ("#e3f4e5", "#2e7d32"),
    "failed": ("#fde2e1", "#c62828"),
    "running": ("#e1effb", "#1565c0"),
    "skipped": ("#f1f1f1", "#9e9e9e"),
    "unknown": ("#ffffff", "#607d8b"),
}
MISSING_COLOURS = ("#fff5f5", "#c62828")
# Stroke by where an edge comes from (``jobs.graph_native.origin_kind``); every edge of a
# cycle is red.
KIND_COLOURS = {
    "tag": "#6b6b6b",
    "chain-file": "#1f5fa8",
    "join": "#7b3fa0",
    "native-task": "#00796b",
    "seen": "#6b6b6b",
    "cycle": "#c62828",
}
KIND_NAMES = {
    "tag": "tag",
    "chain-file": "chain file",
    "join": "join",
    "native-task": "native task",
    "seen": "seen in a sweep",
    "cycle": "↻ in a cycle",
}
DASHES = {"success": "", "failure": "6 4", "any": "2 3"}
CONDITION_NAMES = {"failure": "on failure", "any": "always"}

STYLE = f"""
.rc-graph {{ font-family: {FONT}; font-size: {FONT_SIZE:g}px; }}
.rc-graph .node text {{ fill: #1a1a1a; }}
.rc-graph .node.missing text {{ fill: #b71c1c; }}
.rc-graph .edge path {{ fill: none; }}
.rc-graph .label {{ font-size: {LABEL_SIZE:g}px; fill: #333; }}
.rc-graph .halo {{ stroke: #fff; stroke-width: 3px; paint-order: stroke; }}
.rc-graph .edge:hover path {{ stroke-width: 2.6; }}
.rc-graph .node:hover rect {{ stroke-width: 2.6; }}
"""

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """``text`` without the characters XML forbids even escaped (control characters)."""
    return _NOT_XML.sub("", text)


def xml(text: str) -> str:
    """Text safe in XML content and attributes: escaped, characters XML forbids dropped."""
    return html.escape(clean(text), quote=True)


def number(value: float) -> str:
    """A coordinate, to a tenth of a pixel, without trailing zeros."""
    return f"{round(value, 1):g}"


def point(x: float, y: float) -> str:
    """``x,y`` for a path."""
    return f"{number(x)},{number(y)}"


def caption(x: float, y: float, text: str, anchor: str = "middle") -> str:
    """A small label with a white halo, readable over the edges it crosses."""
    return (
        f'<text class="label halo" x="{number(x)}" y="{number(y)}" text-anchor="{anchor}">'
        f"{xml(text)}</text>"
    )


def columns(text: str) -> int:
    """How many character widths ``text`` takes."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` character widths, ending with an ellipsis when cut."""
    if columns(text) <= limit:
        return text
    while columns(text) > limit - 1:
        text = text[:-1]
    return text.rstrip() + "…"


def markers() -> str:
    """One arrowhead per edge colour; joins end in a diamond, like the join node of mermaid."""
    shapes = []
    for kind, colour in KIND_COLOURS.items():
        shape = "M0,5 L5,0 L10,5 L5,10 z" if kind == "join" else "M0,0 L10,5 L0,10 z"
        shapes.append(
            f'<marker id="rc-arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" '
            f'markerWidth="7" markerHeight="7" orient="auto">'
            f'<path d="{shape}" fill="{colour}"/></marker>'
        )
    return "<defs>" + "".join(shapes) + "</defs>"


def legend(kinds: list[str], conditions: list[str], marks: list[str]) -> tuple[str, float]:
    """The legend row for what this drawing uses, and its width."""
    items: list[tuple[str, str]] = []
    for kind in kinds:
        colour = KIND_COLOURS[kind]
        items.append((_line(colour, "", kind), KIND_NAMES[kind]))
    for condition in conditions:
        items.append((_line("#6b6b6b", DASHES[condition], "tag"), CONDITION_NAMES[condition]))
    for mark in marks:
        items.append((_swatch(mark), mark))
    parts, x = [], 0.0
    for swatch, name in items:
        parts.append(
            f'<g transform="translate({number(x)},0)">{swatch}'
            f'<text class="label" x="34" y="9">{xml(name)}</text></g>'
        )
        x += 34 + columns(name) * LABEL_CHAR_WIDTH + 18
    return '<g class="legend">' + "".join(parts) + "</g>", x


def _line(colour: str, dash: str, kind: str) -> str:
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<path d="M0,6 L28,6" stroke="{colour}" stroke-width="1.4" fill="none"{dashes} '
        f'marker-end="url(#rc-arrow-{kind})"/>'
    )


def _swatch(mark: str) -> str:
    box = '<rect x="0" y="0" width="28" height="12" '
    if mark == "missing":
        fill, stroke = MISSING_COLOURS
        return box + f'rx="3" fill="{fill}" stroke="{stroke}" stroke-dasharray="4 3"/>'
    if mark == "script":
        return box + 'rx="6" fill="#fff" stroke="#607d8b"/>'
    fill, stroke = STATUS_COLOURS[mark]
    return box + f'rx="3" fill="{fill}" stroke="{stroke}"/>'

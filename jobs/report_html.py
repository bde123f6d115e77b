"""The HTML report: one self-contained page, viewed offline (SPEC section 8).

Inline CSS and inline SVG, no script, no font or image fetched: it opens from a file share or
a ``file://`` URL as well as from a web server. The only outside address is a link to the
tenant's hub. Every text from the tenant or the database is escaped. The same data gives the
same page, byte for byte.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from jobs.graph import ChainGraph
from jobs.graph_svg import to_svg
from jobs.graph_svg_style import STATUSES
from jobs.report_graph import MISSING, UNKNOWN, AppStatus
from jobs.report_style import CSS
from jobs.report_timeline import SEGMENTS, app_html, run_html, time_html
from jobs.runs import RUNNING, ChainRun, span
from qlik.times import parse_time
from state.report_reads import AlertRow

TITLE = "reload-chain report"
# A table cell: HTML, or (HTML, CSS class).
Cell = str | tuple[str, str]
# Runs shown open; older ones show their heading until clicked (running ones stay open).
OPEN_RUNS = 3
# The timelines' legend: a failed reload's bar, or a failed start's mark, is red.
LEGEND_SEGMENTS = (
    ("wait", SEGMENTS["wait"]),
    ("queued", SEGMENTS["queued"]),
    ("reloading", SEGMENTS["reloading"]),
    ("busy", SEGMENTS["busy"]),
    ("start-failed", "failed"),
)


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows; ``graph_source`` says in a few words where the graph came
    from (the database, or the tenant)."""

    generated_at: datetime
    graph: ChainGraph
    statuses: Mapping[str, AppStatus] = field(default_factory=dict)
    runs: Sequence[ChainRun] = ()
    deadlines: Sequence[Mapping[str, Any]] = ()
    sweeps: Sequence[Mapping[str, Any]] = ()
    alerts: Sequence[AlertRow] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    tenant_url: str | None = None
    graph_source: str = "the decisions in the database and the chain file"


def render_report(data: ReportData) -> str:
    """The whole page."""
    sections = (
        graph_section(data),
        runs_section(data),
        deadlines_section(data),
        sweeps_section(data.sweeps),
        alerts_section(data),
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{TITLE}</title><style>{CSS}</style></head>\n<body>"
        f"{_header(data)}<main>{''.join(sections)}</main>"
        f"<footer>Written by reload-chain from its state database.</footer></body></html>\n"
    )


def _header(data: ReportData) -> str:
    tenant = ""
    if data.tenant_url:
        hub = data.tenant_url.rstrip("/") + "/hub"
        tenant = f' · tenant <a href="{escape(hub)}">{escape(data.tenant_url)}</a>'
    links = "".join(
        f'<a href="#{key}">{label}</a>'
        for key, label in (
            ("graph", "graph"),
            ("runs", "chain runs"),
            ("deadlines", "deadlines"),
            ("sweeps", "sweeps"),
            ("alerts", "alerts"),
        )
    )
    return (
        f'<header><h1>{TITLE}</h1><p class="muted">generated '
        f"{time_html(data.generated_at)}{tenant}</p><nav>{links}</nav></header>"
    )


def graph_section(data: ReportData) -> str:
    """The chain graph, each app coloured by its latest outcome, with its legend."""
    shown = {app: _status_of(data, app) for app in data.graph.nodes}
    counts = Counter(shown.values())
    legend = _legend((f"st-{s}", f"{s} {counts[s]}") for s in (*STATUSES, MISSING) if counts[s])
    if not data.graph.nodes:
        body = '<p class="muted">no chain known yet: the first sweep that acts draws it</p>'
    else:
        body = f'<div class="scroll graph-scroll">{to_svg(data.graph, status=shown)}</div>'
    note = f'<p class="muted">Drawn from {escape(data.graph_source)}.</p>'
    return f'<section id="graph"><h2>Chain graph</h2>{legend}{body}{note}</section>'


def runs_section(data: ReportData) -> str:
    """The recent chain runs, newest first, each as a timeline."""
    legend = _legend(LEGEND_SEGMENTS)
    runs = "".join(
        run_html(run, data.generated_at, expanded=n < OPEN_RUNS or run.status == RUNNING)
        for n, run in enumerate(data.runs)
    )
    body = runs or '<p class="muted">no chain runs yet</p>'
    return f'<section id="runs"><h2>Recent chain runs</h2>{legend}{body}</section>'


def deadlines_section(data: ReportData) -> str:
    """Each deadline's state today: met, late, pending..."""
    rows = [
        (
            app_html(item["app_id"], data.names.get(item["app_id"])),
            f"{escape(str(item['by']))} {escape(str(item['timezone']))}",
            (escape(str(item["summary"])), f"state-{escape(str(item['state']))}"),
        )
        for item in data.deadlines
    ]
    table = _table(("app", "by", "today"), rows, "no deadlines set")
    return f'<section id="deadlines"><h2>Deadlines today</h2>{table}</section>'


def sweeps_section(sweeps: Iterable[Mapping[str, Any]]) -> str:
    """The last sweeps: when, how long, how they ended, what they decided."""
    rows = [
        (
            time_html(_time(sweep.get("started_at"))),
            (span(sweep.get("duration_s")), "num"),
            _exit_cell(sweep.get("exit_code")),
            escape(_counts(sweep.get("decisions"))),
        )
        for sweep in sweeps
    ]
    table = _table(("started", "took", "exit", "decisions"), rows, "no sweep recorded yet")
    return f'<section id="sweeps"><h2>Last sweeps</h2>{table}</section>'


def alerts_section(data: ReportData) -> str:
    """The newest alerts: kind, app, whether sent; one line for all of an alert's destinations."""
    groups: dict[tuple[str, str, str | None], list[AlertRow]] = {}
    for alert in data.alerts:
        groups.setdefault((alert.sweep_id, alert.kind, alert.app_id), []).append(alert)
    rows = [
        (
            escape(first.kind),
            app_html(first.app_id, data.names.get(first.app_id)) if first.app_id else "-",
            _alert_state(rows),
            time_html(_time(first.raised_at)),
        )
        for first, rows in ((rows[0], rows) for rows in groups.values())
    ]
    table = _table(("kind", "app", "state", "raised"), rows, "no alert raised")
    return f'<section id="alerts"><h2>Recent alerts</h2>{table}</section>'


def _status_of(data: ReportData, app_id: str) -> str:
    """The app's colour: its latest outcome; ``missing`` when the tenant does not have it."""
    if data.graph.nodes[app_id].missing:
        return MISSING
    found = data.statuses.get(app_id)
    return found.status if found else UNKNOWN


def _alert_state(rows: Sequence[AlertRow]) -> tuple[str, str]:
    states = Counter(row.state for row in rows)
    if len(states) == 1:
        (state,) = states
        return escape(state), f"state-{escape(state)}"
    text = ", ".join(f"{state} {count}" for state, count in sorted(states.items()))
    return escape(text), "state-mixed"


def _table(heads: Sequence[str], rows: Sequence[Sequence[Cell]], empty: str) -> str:
    """A table in its own scrolling box; a cell is HTML, or (HTML, CSS class)."""
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(name)}</th>" for name in heads)
    body = "".join("<tr>" + "".join(map(_cell, row)) + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _cell(cell: Cell) -> str:
    if isinstance(cell, tuple):
        return f'<td class="{cell[1]}">{cell[0]}</td>'
    return f"<td>{cell}</td>"


def _legend(items: Iterable[tuple[str, str]]) -> str:
    entries = "".join(
        f'<li><span class="swatch {escape(kind)}"></span>{escape(label)}</li>'
        for kind, label in items
    )
    return f'<ul class="legend">{entries}</ul>'


def _exit_cell(code: Any) -> tuple[str, str]:
    if code is None:
        return "-", "num"
    return escape(str(code)), "num code-ok" if code == 0 else "num code-bad"


def _counts(counts: Any) -> str:
    if not isinstance(counts, Mapping) or not counts:
        return "-"
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parse_time(str(value)).astimezone(UTC)
    except ValueError:
        return None

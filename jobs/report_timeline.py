"""The report's chain runs as timelines: where each hop spent its time (pure HTML).

Each run is one axis, from when the chain began to act (its root reload's end) to its last
reload's end (or the report's time while it runs). Each reload it started is a row of up to
three segments: waiting for a sweep (the source's end to the start being sent), queued (sent
to the engine's start), reloading (the engine's start to the end). The engine's start comes
from the finish event's duration; without it, queued and reloading are one segment. Bars are
positioned in percent, so the page reflows at any width without scrolling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

from jobs.runs import FAILED, RUNNING, ChainRun, RunReload, span

# Segment kinds, as CSS classes and as the legend names them.
SEGMENTS = {
    "wait": "waiting for a sweep",
    "queued": "queued",
    "reloading": "reloading",
    "busy": "queued or reloading (start not known)",
    "start-failed": "start failed",
}


@dataclass(frozen=True)
class Axis:
    """A run's time axis: ``start`` at 0 %, ``end`` at 100 %."""

    start: datetime
    end: datetime

    def percent(self, moment: datetime) -> float:
        """Where ``moment`` falls on the axis, clamped to it."""
        total = (self.end - self.start).total_seconds()
        if total <= 0:
            return 0.0
        return min(max((moment - self.start).total_seconds() / total * 100, 0.0), 100.0)


def run_html(run: ChainRun, now: datetime, *, expanded: bool = True) -> str:
    """One run: a heading, one row per reload it started, the successors it skipped.

    A collapsed run shows its heading alone until opened (``details``: no script needed).
    """
    axis = _axis(run, now)
    rows = "".join(hop_html(reload, axis, now) for reload in run.reloads)
    took = f" · took {span(run.duration_s)}" if run.duration_s is not None else ""
    root = run.root
    head = (
        f'<summary><h3><span class="badge {run.status}">{run.status}</span> '
        f"{app_html(root.app_id, root.app_name)} "
        f'<span class="muted">{time_html(run.started_at)}{took} · '
        f"{len(run.reloads)} reload{'' if len(run.reloads) == 1 else 's'}</span></h3></summary>"
    )
    skipped = "".join(
        f"<li>{app_html(s.app_id, s.app_name)}: {escape(s.reason)}</li>" for s in run.skipped
    )
    listed = f'<ul class="skips"><li class="muted">skipped</li>{skipped}</ul>' if skipped else ""
    hops = f'<div class="hops">{rows}</div>' if rows else '<p class="muted">no reload started</p>'
    opening = f'<details class="run {run.status}" data-run-id="{escape(run.run_id)}"'
    opening += " open>" if expanded else ">"
    return f"{opening}{head}{hops}{listed}</details>"


def hop_html(reload: RunReload, axis: Axis, now: datetime) -> str:
    """One reload's row: its app, its segments on the run's axis, how long it took."""
    bars = "".join(_segment(kind, start, end, axis) for kind, start, end in segments(reload, now))
    shown = "canceled" if reload.reason == "canceled" else reload.status
    took = _between(reload.triggered_at, reload.ended_at)
    return (
        f'<div class="hop {reload.status}" data-app-id="{escape(reload.app_id)}">'
        f"{app_html(reload.app_id, reload.app_name)}"
        f'<div class="bar">{bars}</div>'
        f'<span class="took {reload.status}">{escape(shown)} {span(took)}</span></div>'
    )


def segments(reload: RunReload, now: datetime) -> Iterator[tuple[str, datetime, datetime]]:
    """(kind, start, end) of each known part of a reload's time."""
    sent = reload.triggered_at
    if sent is None:
        return
    if reload.hop_latency_s is not None:
        yield "wait", sent - timedelta(seconds=reload.hop_latency_s), sent
    if reload.status == FAILED and reload.reload_id is None:
        yield "start-failed", sent, sent
        return
    end = reload.ended_at or now
    if reload.reload_started_at is None:
        yield "busy", sent, end
        return
    # The engine's start is the tenant's time, the send ours: a clock apart by a second must
    # not draw a negative wait.
    began = min(max(reload.reload_started_at, sent), end)
    yield "queued", sent, began
    yield "reloading", began, end


def _segment(kind: str, start: datetime, end: datetime, axis: Axis) -> str:
    left = axis.percent(start)
    width = axis.percent(end) - left
    title = f"{SEGMENTS[kind]}: {span(_between(start, end))}"
    return (
        f'<span class="seg {kind}" style="left:{left:.2f}%;width:{width:.2f}%" '
        f'title="{escape(title)}"></span>'
    )


def _axis(run: ChainRun, now: datetime) -> Axis:
    moments = [
        moment
        for reload in run.reloads
        for _, start, end in segments(reload, now)
        for moment in (start, end)
    ]
    start = run.started_at or min(moments, default=now)
    end = run.ended_at if run.status != RUNNING and run.ended_at else now
    return Axis(min([start, *moments]), max([end, *moments]))


def app_html(app_id: str, name: str | None) -> str:
    """An app by name, its id on hover (the id alone when no name is known)."""
    shown = name or app_id
    return f'<span class="app" title="{escape(app_id)}">{escape(shown)}</span>'


def time_html(moment: datetime | None) -> str:
    """``2026-11-22 10:00:02Z`` in a ``time`` element; ``-`` when not known."""
    if moment is None:
        return "-"
    moment = moment.astimezone(UTC)
    iso = moment.isoformat().replace("+00:00", "Z")
    return f'<time datetime="{escape(iso)}">{moment:%Y-%m-%d %H:%M:%S}Z</time>'


def _between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None

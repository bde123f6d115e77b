"""The HTML report page (``jobs.report_html``, ``jobs.report_timeline``) from data built here.

What the browser renders is checked by ``tests/test_report_browser.py``; here: the content,
the escaping, that nothing is fetched from elsewhere, and that the page is deterministic.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from html.parser import HTMLParser

from jobs.edges import Edge
from jobs.graph import ChainGraph, Node
from jobs.report_graph import AppStatus
from jobs.report_html import ReportData, render_report
from jobs.report_timeline import Axis, segments
from jobs.runs import ChainRun, RunReload, RunRoot, SkippedApp
from state.report_reads import AlertRow
from tests.conftest import NOW
from tests.fake_tenant import app_id

A, B, C, D = (app_id(n) for n in range(1, 5))
NAMES = {A: "Finance extract", B: "General Ledger", C: "Accounts Payable", D: "Alerts"}
TENANT = "https://example.eu.qlikcloud.com"
URL = re.compile(r"""(?:src|href|url\()\s*=?\s*["']?([^"' )>]+)""", re.IGNORECASE)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def hop(app: str, sent: float, began: float | None, ended: float | None, status: str) -> RunReload:
    """A reload started ``sent`` s after the root's end (its source ended 1 s before)."""
    return RunReload(
        app,
        NAMES.get(app),
        f"reload-{app[-4:]}",
        "r0",
        at(sent),
        at(ended) if ended is not None else None,
        status,
        1.0,
        reload_started_at=at(began) if began is not None else None,
    )


def finance_run() -> ChainRun:
    reloads = (hop(B, 2, 3, 9, "succeeded"), hop(C, 2, 4, 6, "failed"))
    skipped = (SkippedApp(D, NAMES[D], "fresh"),)
    root = RunRoot(A, NAMES[A], "r0", "succeeded", NOW)
    return ChainRun("r0", "failed", root, NOW, at(9), reloads, skipped)


def data(**changes: object) -> ReportData:
    graph = ChainGraph(
        {app: Node(app, name) for app, name in NAMES.items()},
        [
            Edge(A, B, "success", "seen"),
            Edge(A, C, "success", "seen"),
            Edge(C, D, "failure", "seen"),
        ],
    )
    statuses = {A: "succeeded", B: "succeeded", C: "failed", D: "skipped"}
    sweep = {"started_at": "2026-11-22T10:00:05Z", "duration_s": 0.4, "exit_code": 0}
    fields: dict[str, object] = {
        "generated_at": at(60),
        "graph": graph,
        "statuses": {app: AppStatus(status, "") for app, status in statuses.items()},
        "runs": [finance_run()],
        "sweeps": [sweep | {"decisions": {"triggered": 2, "fresh": 1}}],
        "alerts": [AlertRow("reload_failed", C, "sent", "2026-11-22T10:00:07Z", None, "s1")],
        "names": NAMES,
        "tenant_url": TENANT,
    }
    return ReportData(**(fields | changes))  # type: ignore[arg-type]


class Collector(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: str) -> Collector:
    collector = Collector()
    collector.feed(page)
    return collector


def test_the_page_names_every_app_with_its_id_on_hover() -> None:
    page = render_report(data())
    titles = {attrs.get("title") for tag, attrs in parsed(page).tags if tag == "span"}
    assert {A, B, C, D} <= titles
    for name in NAMES.values():
        assert name in page
    assert "<title>reload-chain report</title>" in page
    assert "2026-11-22 10:01:00Z" in page  # generated at


def test_every_section_is_there() -> None:
    ids = {attrs.get("id") for _, attrs in parsed(render_report(data())).tags}
    assert {"graph", "runs", "deadlines", "sweeps", "alerts"} <= ids


def test_the_failed_hop_is_marked_failed_and_the_skipped_app_listed() -> None:
    page = render_report(data())
    hops = {
        attrs["data-app-id"]: attrs["class"]
        for tag, attrs in parsed(page).tags
        if tag == "div" and "data-app-id" in attrs
    }
    assert hops == {B: "hop succeeded", C: "hop failed"}
    assert "Alerts</span>: fresh" in page


def test_a_hop_has_three_segments_when_the_reload_start_is_known() -> None:
    kinds = [kind for kind, _, _ in segments(hop(B, 2, 3, 9, "succeeded"), at(60))]
    assert kinds == ["wait", "queued", "reloading"]
    unknown = [kind for kind, _, _ in segments(hop(B, 2, None, 9, "succeeded"), at(60))]
    assert unknown == ["wait", "busy"]
    failed_start = RunReload(C, None, None, "r0", at(2), None, "failed", 1.0, "quota")
    assert [kind for kind, _, _ in segments(failed_start, at(60))] == ["wait", "start-failed"]


def test_an_engine_start_before_the_send_is_a_clock_apart_not_a_negative_wait() -> None:
    early = hop(B, 2, 1.5, 9, "succeeded")
    assert list(segments(early, at(60)))[1:] == [
        ("queued", at(2), at(2)),
        ("reloading", at(2), at(9)),
    ]


def test_a_running_hop_runs_until_the_report_time() -> None:
    running = hop(B, 2, 3, None, "running")
    assert list(segments(running, at(30)))[-1] == ("reloading", at(3), at(30))


def test_the_axis_places_moments_in_percent() -> None:
    axis = Axis(NOW, at(10))
    assert (axis.percent(at(-5)), axis.percent(at(2.5)), axis.percent(at(20))) == (0, 25, 100)
    assert Axis(NOW, NOW).percent(NOW) == 0


def test_deadlines_sweeps_and_alerts_tables() -> None:
    deadline = {"app_id": B, "by": "07:00", "timezone": "Europe/Oslo", "state": "late"}
    page = render_report(data(deadlines=[deadline | {"summary": "late (alert 07:05)"}]))
    assert '<td class="state-late">late (alert 07:05)</td>' in page
    assert "fresh 1, triggered 2" in page
    assert '<td class="state-sent">sent</td>' in page and "reload_failed" in page


def test_an_alert_sent_to_two_destinations_is_one_line_never_with_its_url() -> None:
    rows = [
        AlertRow("late", B, "sent", "2026-11-22T10:00:07Z", None, "s1"),
        AlertRow("late", B, "pending", "2026-11-22T10:00:07Z", None, "s1"),
    ]
    page = render_report(data(alerts=rows))
    assert page.count("<td>late</td>") == 1
    assert "pending 1, sent 1" in page


def test_an_empty_database_says_so() -> None:
    page = render_report(ReportData(NOW, ChainGraph({}, [])))
    for words in ("no chain known yet", "no chain runs yet", "no sweep recorded yet"):
        assert words in page


def test_every_text_is_escaped() -> None:
    evil = "<script>alert(1)</script>"
    names = NAMES | {C: evil}
    graph = ChainGraph({app: Node(app, name) for app, name in names.items()}, [])
    run = finance_run()
    reloads = tuple(replace(r, app_name=evil) if r.app_id == C else r for r in run.reloads)
    run = replace(run, reloads=reloads, skipped=(SkippedApp(D, evil, f"reason {evil}"),))
    deadline = {"app_id": C, "by": evil, "timezone": "UTC", "state": "met", "summary": evil}
    alert = AlertRow(evil, C, evil, "2026-11-22T10:00:07Z", None, "s1")
    sweep = {"started_at": "x", "duration_s": 1.0, "exit_code": 0, "decisions": {evil: 1}}
    page = render_report(
        data(
            graph=graph,
            names=names,
            runs=[run],
            deadlines=[deadline],
            alerts=[alert],
            sweeps=[sweep],
            tenant_url=f'https://x.example.com/"{evil}',
        )
    )
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_nothing_is_fetched_and_the_only_outside_link_is_the_tenant_hub() -> None:
    page = render_report(data())
    outside = [url for url in URL.findall(page) if "://" in url]
    assert outside == [f"{TENANT}/hub"]
    assert not [
        (tag, attrs)
        for tag, attrs in parsed(page).tags
        if tag in ("script", "link", "img", "iframe")
    ]
    assert "@import" not in page and "@font-face" not in page


def test_the_page_is_deterministic() -> None:
    assert render_report(data()) == render_report(data())

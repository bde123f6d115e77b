"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright, which never downloads a browser of its own here.

The report is the one the last sweep wrote (``report_file``) after the demo's finance chain
was swept until it settled over real HTTP. Chromium opens it from a ``file://`` URL and the
tests read what it renders: every app's name, each box coloured by its app's latest outcome,
Accounts Payable's failed hop in red, no console error, no request but the file itself, and
at 1280x800 and 390x844 a screenshot that is not blank and a page that does not scroll
sideways. A generated 100-app tenant's report must load in under 2 s, boxes apart.

The module is skipped only where no Chromium can be found (``.ci/run`` installs it).
Set ``RELOAD_CHAIN_SCREENSHOTS=DIR`` to keep the screenshots (``report-1280.png``...).
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from jobs.edges import Edge
from jobs.graph import ChainGraph, Node
from jobs.graph_svg_style import STATUS_COLOURS
from jobs.report_graph import AppStatus
from jobs.report_html import ReportData, render_report
from jobs.runs import ChainRun, RunReload, RunRoot
from simulator.scenario import builtin_scenario
from simulator.server import SimulatorServer
from simulator.tenant import SimTenant
from tests.conftest import NOW
from tests.fake_tenant import app_id
from tests.test_runs_e2e import sweep_until_settled


def find_chromium() -> str | None:
    """``$CHROMIUM``, else ``chromium`` (or ``chromium-browser``) on the PATH."""
    named = os.environ.get("CHROMIUM")
    found = named or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    return found


CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip(
        "Chromium not found: install Debian's chromium (apt-get install chromium) or set "
        "CHROMIUM to a Chromium binary; .ci/run installs it",
        allow_module_level=True,
    )

SIZES = ((1280, 800), (390, 844))
LOAD_BOUND_MS = 2000
# Colours in a screenshot of the report; a blank or nearly blank page has a handful.
MIN_COLOURS = 40
DISTINCT_COLOURS_JS = """async (src) => {
  const img = new Image(); img.src = src; await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width; canvas.height = img.height;
  const context = canvas.getContext("2d"); context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, img.width, img.height).data;
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4) {
    seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return seen.size;
}"""
BOXES_JS = """() => [...document.querySelectorAll("svg .node rect")].map(r => {
  const b = r.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom];
})"""


@pytest.fixture(scope="module")
def finance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimTenant, Path]]:
    """The finance chain swept until it settled; the report its last sweep wrote."""
    folder = tmp_path_factory.mktemp("report")
    report = folder / "report.html"
    with SimulatorServer(builtin_scenario()) as sim:
        env = {
            "QLIK_TENANT_URL": sim.url,
            "QLIK_API_KEY": sim.tenant.scenario.api_key,
            "RELOAD_CHAIN_DB": str(folder / "state.db"),
            "RELOAD_CHAIN_REPORT_FILE": str(report),
        }
        sweep_until_settled(sim.tenant, env)
        yield sim.tenant, report


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


class Opened:
    """A page with the report loaded, and what the browser complained about or fetched."""

    def __init__(self, browser: Browser, path: Path, width: int = 1280, height: int = 800):
        self.page: Page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(path.as_uri(), wait_until="load")

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.errors.append(f"{message.type}: {message.text}")

    def style(self, selector: str, name: str) -> str:
        """The computed ``name`` of the first element matching ``selector``."""
        script = "([s, n]) => getComputedStyle(document.querySelector(s)).getPropertyValue(n)"
        return str(self.page.evaluate(script, [selector, name]))


@pytest.fixture
def opened(browser: Browser, finance: tuple[SimTenant, Path]) -> Iterator[Opened]:
    page = Opened(browser, finance[1])
    yield page
    page.page.close()


def rgb(colour: str) -> str:
    """``#c62828`` as the browser computes it: ``rgb(198, 40, 40)``."""
    red, green, blue = (int(colour[n : n + 2], 16) for n in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def ids(tenant: SimTenant) -> dict[str, str]:
    return {app.key: app.id for app in tenant.apps.values()}


def test_every_app_of_the_tenant_is_named_on_the_page(
    opened: Opened, finance: tuple[SimTenant, Path]
) -> None:
    tenant, _ = finance
    text = opened.page.evaluate("document.body.textContent")
    for app in tenant.apps.values():
        assert app.name in text
        assert opened.page.locator(f'[title="{app.id}"]').count() >= 1, app.name


def test_each_box_is_coloured_by_its_apps_latest_outcome(
    opened: Opened, finance: tuple[SimTenant, Path]
) -> None:
    apps = ids(finance[0])
    for key, app in apps.items():
        status = "failed" if key == "payables" else "succeeded"
        box = f'svg .node[data-app-id="{app}"] rect'
        assert opened.style(box, "fill") == rgb(STATUS_COLOURS[status][0]), key
        assert opened.style(box, "stroke") == rgb(STATUS_COLOURS[status][1]), key


def test_the_failed_hop_is_red_and_the_others_are_not(
    opened: Opened, finance: tuple[SimTenant, Path]
) -> None:
    red = rgb(STATUS_COLOURS["failed"][1])
    for key, app in ids(finance[0]).items():
        # The roots (the run's heading, not a hop): the extract, and the transform that Qlik's
        # native task reloaded.
        if key in ("extract", "transform"):
            continue
        hop = f'.hop[data-app-id="{app}"]'
        colours = {opened.style(f"{hop} .seg.reloading", "background-color")}
        colours.add(opened.style(f"{hop} .app", "color"))
        assert (red in colours) == (key == "payables"), key
    assert opened.page.locator(".run .badge.failed").count() == 1


def test_nothing_is_fetched_and_nothing_complains(
    opened: Opened, finance: tuple[SimTenant, Path]
) -> None:
    assert opened.errors == []
    assert opened.requests == [finance[1].as_uri()]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_the_page_fits_its_width_and_is_not_blank(
    browser: Browser, finance: tuple[SimTenant, Path], width: int, height: int
) -> None:
    opened = Opened(browser, finance[1], width, height)
    assert opened.page.evaluate("document.documentElement.scrollWidth") <= width
    shot = opened.page.screenshot()
    keep = os.environ.get("RELOAD_CHAIN_SCREENSHOTS")
    if keep:
        Path(keep, f"report-{width}.png").write_bytes(shot)
    source = "data:image/png;base64," + base64.b64encode(shot).decode()
    assert opened.page.evaluate(DISTINCT_COLOURS_JS, source) >= MIN_COLOURS
    opened.page.close()


def hundred_apps() -> ReportData:
    """Ten layers of ten apps, each feeding two of the next; 20 runs of 12 hops each."""
    apps = [app_id(n) for n in range(100)]
    names = {app: f"App {n:03d} {'Sales ' * (n % 4)}region {n % 10}" for n, app in enumerate(apps)}
    edges = [
        Edge(
            apps[n], apps[(n // 10 + 1) * 10 + (n + k) % 10], "failure" if k else "success", "seen"
        )
        for n in range(90)
        for k in (0, 3)
    ]
    graph = ChainGraph({app: Node(app, names[app]) for app in apps}, edges)
    outcomes = ("succeeded", "failed", "running", "skipped")
    statuses = {app: AppStatus(outcomes[n % 7 % 4], "") for n, app in enumerate(apps)}
    runs = [_run(number, apps, names) for number in range(20)]
    sweeps = [{"started_at": "2026-11-22T10:00:00Z", "duration_s": 0.5, "exit_code": 0}] * 10
    return ReportData(NOW + timedelta(hours=2), graph, statuses, runs, sweeps=sweeps, names=names)


def _run(number: int, apps: list[str], names: dict[str, str]) -> ChainRun:
    start = NOW - timedelta(minutes=number * 5)
    reloads = tuple(
        RunReload(
            apps[hop * 8 + number % 8],
            names[apps[hop * 8 + number % 8]],
            f"r{number}-{hop}",
            None,
            start + timedelta(seconds=40 * hop + 5),
            start + timedelta(seconds=40 * hop + 35),
            "failed" if hop == number % 12 else "succeeded",
            5.0,
            reload_started_at=start + timedelta(seconds=40 * hop + 10),
        )
        for hop in range(12)
    )
    root = RunRoot(apps[0], names[apps[0]], f"root{number}", "succeeded", start)
    return ChainRun(f"root{number}", "failed", root, start, reloads[-1].ended_at, reloads, ())


def test_a_hundred_app_report_loads_in_under_two_seconds_with_boxes_apart(
    browser: Browser, tmp_path: Path, record_property: Any
) -> None:
    path = tmp_path / "hundred.html"
    path.write_text(render_report(hundred_apps()), encoding="utf-8")
    opened = Opened(browser, path)
    timing = "performance.getEntriesByType('navigation')[0].loadEventEnd"
    load_ms = float(opened.page.evaluate(timing))
    record_property("load_ms", load_ms)
    print(f"100-app report: {path.stat().st_size} bytes, loaded in {load_ms:.0f} ms")
    assert 0 < load_ms < LOAD_BOUND_MS
    boxes = opened.page.evaluate(BOXES_JS)
    assert len(boxes) == 100
    overlapping = [
        (a, b)
        for a, b in combinations(boxes, 2)
        if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
    ]
    assert overlapping == []
    assert opened.errors == []
    assert opened.page.evaluate("document.documentElement.scrollWidth") <= 1280
    opened.page.close()

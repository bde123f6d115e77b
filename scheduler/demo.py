"""``reload-chain demo``: the real sweep against the built-in simulated tenant, narrated.

It serves the finance scenario on a free loopback port, starts a local alert receiver, sweeps
every two seconds with the same code as ``reload-chain sweep`` (alerts configured by an
``[[alert]]`` table, read as the settings file's are), and shows each sweep's decisions with
the alerts it sent, then the whole chain and the chain run's timeline as ``reload-chain runs``
draws it.
"""

from __future__ import annotations

import tempfile
import time
import tomllib
from pathlib import Path
from typing import TextIO

from rich.console import Console
from sqlite_utils import Database

from jobs.graph import ChainGraph, build_graph
from jobs.graph_text import to_text
from jobs.report import SweepReport
from jobs.runs import RUNNING, ChainRun, chain_runs
from jobs.sweep import run_sweep
from scheduler.alert_config import AlertRoute, parse_alerts
from scheduler.demo_receiver import AlertReceiver, describe
from scheduler.output import table
from scheduler.report import build_report, write_atomically
from scheduler.runs_view import render_runs
from scheduler.runtime import Runtime
from scheduler.settings import Settings
from simulator.reloads import SimReload
from simulator.scenario import builtin_scenario
from simulator.server import SimulatorServer
from simulator.tenant import SimTenant
from state.runs import read_runs

SWEEP_EVERY_S = 2.0
TIMEOUT_S = 50.0
# What the timeline is drawn in when the output is not a terminal (``make demo > file``).
PLAIN_WIDTH = 80
YOUR_TENANT = (
    "To use your own tenant: put tenant_url and api_key in reload-chain.toml (or set "
    "QLIK_TENANT_URL and QLIK_API_KEY), tag source apps next-<appId>, then run "
    "`reload-chain sweep --dry-run`."
)


def run_demo(
    runtime: Runtime,
    out: TextIO,
    sweep_every_s: float = SWEEP_EVERY_S,
    timeout_s: float = TIMEOUT_S,
    *,
    receiver: AlertReceiver | None = None,
    report_path: Path | None = None,
) -> int:
    """Run the demo, writing to ``out``; 0 when the chain unfolded, 1 on timeout.

    It sweeps the simulated tenant with a runtime of its own settings and ``runtime``'s clock,
    sending alerts to ``receiver`` (a started one, kept by a caller that checks what it got)
    or else to one of its own.
    """
    if receiver is None:
        with AlertReceiver() as own:
            return run_demo(
                runtime, out, sweep_every_s, timeout_s, receiver=own, report_path=report_path
            )
    scenario = builtin_scenario("finance")
    with SimulatorServer(scenario) as sim, tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            tenant_url=sim.url, api_key=scenario.api_key, database=Path(folder) / "state.db"
        )
        alerts_text, alerts = demo_alerts(receiver.url)
        with runtime.derived(settings, alerts) as demo:
            graph = build_graph(demo.client(), demo.chain, settings.tag_prefix, native=True)
            out.write(_introduction(sim, to_text(graph), alerts_text, sweep_every_s))
            db = demo.database()
            sweeps = _Sweeps(sim.tenant, demo, db, receiver, out)
            settled = sweeps.until_settled(sweep_every_s, timeout_s)
            runs = _runs(db, str(settings.database))
            report = write_demo_report(demo, db, graph, report_path or default_report_path())
        out.write("\n" + final_state(sim.tenant) + "\n\n")
        out.write("The chain run, as `reload-chain runs` shows it:\n\n")
        show_timeline(runs, out)
        out.write("\n" + _summary(sim.tenant, sweeps.reports, receiver) + "\n")
        out.write(f"The HTML report (reload-chain report --html): {report}\n")
        out.write(YOUR_TENANT + "\n")
        return 0 if settled else 1


def default_report_path() -> Path:
    """Where ``make demo`` leaves its report: outside the repository, kept after the demo."""
    return Path(tempfile.gettempdir()) / "reload-chain-demo-report.html"


def write_demo_report(demo: Runtime, db: Database, graph: ChainGraph, path: Path) -> Path:
    """The report of the demo's database, with the tenant's whole graph (tags and native
    tasks included)."""
    page = build_report(db, demo.settings, demo.chain, (), demo.clock.now(), graph=graph)
    write_atomically(path, page)
    return path.resolve()


def _introduction(sim: SimulatorServer, chains: str, alerts_text: str, every_s: float) -> str:
    """The tenant, its chains (as ``reload-chain graph --format text`` draws them), where
    alerts go, and what starts it all."""
    return (
        f"reload-chain demo: a simulated Qlik Cloud tenant at {sim.url}\n\n"
        "Its chains, as `reload-chain graph --format text` draws them: tags (next-<id>), and\n"
        "Qlik Cloud's own native tasks beside them:\n"
        f"{_indent(chains)}\n\n"
        "Alerts go to a local receiver, as this reload-chain.toml table sends them:\n"
        f"{_indent(alerts_text)}\n\n"
        "Qlik's nightly task starts Finance extract and its native task the transform; "
        f"sweeping every {every_s:g} s.\n\n"
    )


def _summary(tenant: SimTenant, reports: list[SweepReport], receiver: AlertReceiver) -> str:
    """Sweeps, reloads started, API calls and alerts delivered, in one line."""
    started = sum(tenant.reload_log().values())
    calls = sum(sum(report.api_calls.values()) for report in reports)
    alerts = _count(len(receiver.received), "alert")
    return (
        f"{len(reports)} sweeps, {started} reloads started by reload-chain, {calls} API calls, "
        f"{alerts} delivered."
    )


def demo_alerts(url: str) -> tuple[str, tuple[AlertRoute, ...]]:
    """The demo's ``[[alert]]`` table sending to ``url``, and its routes as the settings file
    would read them."""
    kinds = '["reload_failed", "start_failed", "not_found", "native_task_disabled"]'
    text = f'[[alert]]\nurl = "{url}"\non = {kinds}\n'
    return text, parse_alerts(tomllib.loads(text), text, "the demo's [[alert]] table")


def show_timeline(runs: list[ChainRun], out: TextIO) -> None:
    """The runs as ``reload-chain runs`` draws them on a terminal, whatever ``out`` is."""
    width = None if out.isatty() else PLAIN_WIDTH
    render_runs(runs, Console(file=out, markup=False, highlight=False, width=width))


class _Sweeps:
    """The demo's sweeps: each one run, described, followed by the alerts it sent."""

    def __init__(
        self,
        tenant: SimTenant,
        runtime: Runtime,
        db: Database,
        receiver: AlertReceiver,
        out: TextIO,
    ) -> None:
        self.tenant, self.receiver, self.out = tenant, receiver, out
        self.ctx = runtime.sweep_context(db)
        self.clock = runtime.clock
        self.db, self.where = db, str(runtime.settings.database)
        self.reports: list[SweepReport] = []

    def until_settled(self, every_s: float, timeout_s: float) -> bool:
        """Sweep every ``every_s`` until the chain has settled; False after ``timeout_s``."""
        deadline = self.clock.monotonic() + timeout_s
        while self.clock.monotonic() < deadline:
            time.sleep(every_s)
            self.reports.append(run_sweep(self.ctx, self.clock.now()))
            self.out.write(describe_sweep(len(self.reports), self.reports[-1], self.tenant) + "\n")
            for alert in self.receiver.take_new():
                self.out.write(_indent(describe(alert)) + "\n\n")
            if _settled(self.tenant, _runs(self.db, self.where)):
                return True
        return False


def _settled(tenant: SimTenant, runs: list[ChainRun]) -> bool:
    """Something was started, nothing runs, and every reload started has its outcome read."""
    now = tenant.refresh()
    active = any(r.status(now) in ("QUEUED", "RELOADING") for r in tenant.reloads.values())
    finished = bool(runs) and all(run.status != RUNNING for run in runs)
    return bool(tenant.api_starts) and not active and finished


def _runs(db: Database, where: str) -> list[ChainRun]:
    """The newest chain run (the demo's one), as ``reload-chain runs`` assembles it."""
    return chain_runs(read_runs(db, where, limit=1))


def describe_sweep(number: int, report: SweepReport, tenant: SimTenant) -> str:
    """One sweep: a header line, then its decisions with app names."""
    events = "event" if report.events_read == 1 else "events"
    head = f"sweep {number}: {report.events_read} {events} read, {report.events_new} new"
    if not report.outcomes:
        return head + ", nothing to decide"
    rows = [
        (
            _name(tenant, o.app_id),
            o.decision,
            o.reason,
            ", ".join(_name(tenant, s) for s in o.candidate.source_apps),
        )
        for o in report.outcomes
    ]
    return head + "\n" + _indent(table(("app", "decision", "reason", "because of"), rows)) + "\n"


def final_state(tenant: SimTenant) -> str:
    """Each app's latest reload: its status and who started it."""
    now = tenant.refresh()
    started_by_us = {reload.id for reload in tenant.api_starts}
    rows = []
    for app in tenant.apps.values():
        reloads = tenant.reloads_newest_first(app.id)
        latest = reloads[0] if reloads else None
        status = latest.status(now) if latest else "never reloaded"
        who = _started_by(latest, started_by_us)
        rows.append((app.name, status, who))
    return "Final state:\n" + _indent(table(("app", "latest reload", "started by"), rows))


def _started_by(latest: SimReload | None, started_by_us: set[str]) -> str:
    if latest is None:
        return "-"
    if latest.id in started_by_us:
        return "reload-chain"
    return "native task" if latest.type == "choreographer" else "schedule"


def _name(tenant: SimTenant, app_id: str) -> str:
    app = tenant.apps.get(app_id)
    return app.name if app else app_id


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())

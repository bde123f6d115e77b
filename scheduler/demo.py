"""``reload-chain demo``: the real sweep against the built-in simulated tenant, narrated.

It serves the finance scenario on a free loopback port, sweeps every two seconds with the same
code as ``reload-chain sweep``, and shows each sweep's decisions and then the whole chain.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TextIO

from jobs.edges import edges_from_tags
from jobs.report import SweepReport
from jobs.sweep import run_sweep
from scheduler.output import table
from scheduler.runtime import Runtime
from scheduler.settings import DEFAULT_TAG_PREFIX, Settings
from simulator.scenario import AppSpec, builtin_scenario
from simulator.server import SimulatorServer
from simulator.tenant import SimTenant

SWEEP_EVERY_S = 2.0
TIMEOUT_S = 50.0
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
) -> int:
    """Run the demo, writing to ``out``; 0 when the chain unfolded, 1 on timeout.

    It sweeps the simulated tenant with a runtime of its own settings and ``runtime``'s clock.
    """
    scenario = builtin_scenario("finance")
    with SimulatorServer(scenario) as sim, tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            tenant_url=sim.url, api_key=scenario.api_key, database=Path(folder) / "state.db"
        )
        out.write(f"reload-chain demo: a simulated Qlik Cloud tenant at {sim.url}\n\n")
        out.write(
            chain_tree(sim.tenant)
            + "\n\nThe nightly schedule starts Finance extract; sweeping every "
            f"{sweep_every_s:g} s.\n\n"
        )
        with runtime.derived(settings) as demo:
            reports = _sweep_until_settled(sim.tenant, demo, sweep_every_s, timeout_s, out)
        out.write("\n" + final_state(sim.tenant) + "\n\n")
        started = sum(sim.tenant.reload_log().values())
        calls = sum(sum(report.api_calls.values()) for report in reports)
        summary = f"{len(reports)} sweeps, {started} reloads started by reload-chain"
        out.write(f"{summary}, {calls} API calls.\n")
        out.write(YOUR_TENANT + "\n")
        return 0 if _settled(sim.tenant, reports) else 1


def _sweep_until_settled(
    tenant: SimTenant, runtime: Runtime, every_s: float, timeout_s: float, out: TextIO
) -> list[SweepReport]:
    ctx = runtime.sweep_context(runtime.database())
    clock = runtime.clock
    reports: list[SweepReport] = []
    deadline = clock.monotonic() + timeout_s
    while clock.monotonic() < deadline and not _settled(tenant, reports):
        time.sleep(every_s)
        reports.append(run_sweep(ctx, clock.now()))
        out.write(describe_sweep(len(reports), reports[-1], tenant) + "\n")
    return reports


def _settled(tenant: SimTenant, reports: list[SweepReport]) -> bool:
    """Something was started, nothing is running, and the last sweep found nothing new."""
    now = tenant.refresh()
    active = any(r.status(now) in ("QUEUED", "RELOADING") for r in tenant.reloads.values())
    return bool(tenant.api_starts) and not active and bool(reports) and not reports[-1].outcomes


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


def chain_tree(tenant: SimTenant) -> str:
    """The chain as declared by tags, drawn as a tree from the apps no tag names."""
    named = {target for app in tenant.apps.values() for _, target in _edges(app)}
    lines = ["The chain, declared with tags (next-<id> on success, next-onfail-<id> on failure):"]
    for root in (app for app in tenant.apps.values() if app.id not in named):
        lines += _branch(tenant, root, "  ", "")
    return "\n".join(lines)


def _branch(tenant: SimTenant, app: AppSpec, indent: str, label: str) -> list[str]:
    kind = " (script)" if app.resource_type == "script" else ""
    lines = [f"{indent}{label}{app.name}{kind}"]
    edges = _edges(app)
    child_indent = indent + ("   " if label.startswith("└") else "│  " if label else "")
    for number, (condition, target) in enumerate(edges, start=1):
        glyph = "└─ " if number == len(edges) else "├─ "
        prefix = "on failure: " if condition == "failure" else ""
        lines += _branch(tenant, tenant.apps[target], child_indent, glyph + prefix)
    return lines


def _edges(app: AppSpec) -> list[tuple[str, str]]:
    edges, _bad = edges_from_tags(app.id, app.tags, DEFAULT_TAG_PREFIX)
    return [(edge.on, edge.target) for edge in edges]


def final_state(tenant: SimTenant) -> str:
    """Each app's latest reload: its status and who started it."""
    now = tenant.refresh()
    started_by_us = {reload.id for reload in tenant.api_starts}
    rows = []
    for app in tenant.apps.values():
        reloads = tenant.reloads_newest_first(app.id)
        latest = reloads[0] if reloads else None
        status = latest.status(now) if latest else "never reloaded"
        who = (
            "reload-chain"
            if latest and latest.id in started_by_us
            else ("schedule" if latest else "-")
        )
        rows.append((app.name, status, who))
    return "Final state:\n" + _indent(table(("app", "latest reload", "started by"), rows))


def _name(tenant: SimTenant, app_id: str) -> str:
    app = tenant.apps.get(app_id)
    return app.name if app else app_id


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())

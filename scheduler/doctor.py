"""``reload-chain doctor``: check settings, tenant, identity, permissions, chains and native
tasks.

Every failed check says what to do about it. The tenant's checks share one ``Probe``: the
chain graph (tags, chain file, native tasks) is built once for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from jobs.chainfile import ChainFile
from jobs.graph import ChainGraph, build_graph
from qlik.client import QlikClient
from qlik.errors import ApiError, AuthenticationError, QlikError
from scheduler.doctor_native import native_checks
from scheduler.doctor_settings import Check, settings_checks, sources_lines
from scheduler.runtime import Runtime
from scheduler.settings import Settings, SettingsError
from state.database import StateError, check_file

# An app id no tenant has: enough to learn how reloads can be listed, without side effects.
PROBE_APP = "00000000-0000-0000-0000-000000000000"


def run_doctor(runtime: Runtime, out: TextIO) -> int:
    """Print where the settings came from, run every check, print one line each, and return
    0 only when none failed (a WARN does not fail)."""
    for line in sources_lines(runtime.settings, runtime.origins, runtime.config_path):
        out.write(line + "\n")
    checks = diagnose(runtime, runtime.clock.now())
    for check in checks:
        mark = "FAIL" if not check.ok else "WARN" if check.warn else "ok  "
        out.write(f"{mark} {check.name}: {check.detail}\n")
        if check.fix:
            out.write(f"     -> {check.fix}\n")
    failed = sum(not check.ok for check in checks)
    warned = sum(check.ok and check.warn for check in checks)
    if failed:
        out.write(f"{failed} check(s) failed\n")
    else:
        out.write("all checks passed" + (f", {warned} warning(s)" if warned else "") + "\n")
    return 0 if not failed else 1


def _database(path: Path) -> Check:
    """The state database is sound (``PRAGMA quick_check``), if there is one yet."""
    if not path.exists():
        return Check("database", True, f"{path} does not exist yet; the first sweep creates it")
    try:
        check_file(path)
    except StateError as error:
        return Check(
            "database", False, str(error), "restore it from a backup (reload-chain backup)"
        )
    return Check("database", True, f"{path} passed PRAGMA quick_check")


def diagnose(runtime: Runtime, now: datetime) -> list[Check]:
    """The checks, in order; the tenant is only asked once the settings are complete."""
    settings = runtime.settings
    sources = settings_checks(runtime.origins, runtime.config_path)
    try:
        tenant_url, _ = settings.require_tenant()
    except SettingsError as error:
        return [Check("settings", False, str(error), "set it and run doctor again"), *sources]
    checks = [
        Check("settings", True, f"tenant {tenant_url}, database {settings.database}"),
        *sources,
        _database(settings.database),
    ]
    client = runtime.client()
    identity = _identity(client)
    checks.append(identity)
    if identity.ok:
        probe = Probe(client, settings, runtime.chain, now)
        checks += [check for step in STEPS for check in _check(step, probe)]
    return checks


def _identity(client: QlikClient) -> Check:
    try:
        me = client.current_user()
    except AuthenticationError as error:
        return Check(
            "identity", False, str(error), "create a new API key (or OAuth client) and set it"
        )
    except QlikError as error:
        return Check(
            "identity",
            False,
            f"cannot reach the tenant: {error}",
            "check tenant_url and the network",
        )
    return Check("identity", True, f"signed in as {me.name or me.id} ({me.id})")


@dataclass
class Probe:
    """What the tenant's checks work with; the graph is built on first use, then kept."""

    client: QlikClient
    settings: Settings
    chain: ChainFile
    now: datetime
    built: ChainGraph | None = None

    def graph(self) -> ChainGraph:
        """The chain graph with the native tasks: tags and tasks listed once for every check."""
        if self.built is None:
            prefix = self.settings.tag_prefix
            self.built = build_graph(self.client, self.chain, prefix, native=True)
        return self.built


Step = Callable[[Probe], Check | list[Check]]


def _check(step: Step, probe: Probe) -> list[Check]:
    try:
        found = step(probe)
    except QlikError as error:
        name = step.__name__.removeprefix("_").replace("_", " ")
        return [Check(name, False, str(error), "see the troubleshooting section of the README")]
    return found if isinstance(found, list) else [found]


def _audits(probe: Probe) -> Check:
    client, now = probe.client, probe.now
    try:
        first = next(
            client.audit_event_pages(probe.settings.event_type, now - timedelta(days=1), now), []
        )
    except ApiError as error:
        return Check(
            "audits",
            False,
            str(error),
            "give the identity the TenantAdmin role, which can read audits",
        )
    return Check(
        "audits", True, f"readable; {len(first)} reload events on the first page of the last 24 h"
    )


def _reload_listing(probe: Probe) -> Check:
    client = probe.client
    client.latest_reloads([PROBE_APP], probe.now - timedelta(hours=1))
    kind = "tenant-wide (one call a sweep)" if client.tenant_wide_listing else "per app"
    return Check("reloads", True, f"readable; latest reloads are listed {kind}")


def _chains(probe: Probe) -> Check:
    graph = probe.graph()
    chained = _chained_apps(graph)
    problems = _chain_problems(graph, chained)
    summary = f"{len(graph.edges)} edges and {len(graph.joins)} joins over {len(chained)} apps"
    if problems:
        return Check(
            "chains",
            False,
            f"{summary}; " + "; ".join(problems),
            "fix or remove those tags and chain-file entries",
        )
    return Check("chains", True, summary)


def _chained_apps(graph: ChainGraph) -> list[str]:
    """The apps of reload-chain's own edges and joins (not those only native tasks join)."""
    apps = {app for edge in graph.edges for app in (edge.source, edge.target)}
    apps |= {app for join in graph.joins for app in (join.target, *join.after)}
    return sorted(apps)


def _chain_problems(graph: ChainGraph, chained: list[str]) -> list[str]:
    problems = [f"missing app {app_id}" for app_id in chained if graph.nodes[app_id].missing]
    problems += [f"tag {tag!r} on {app_id} names no valid id" for app_id, tag in graph.bad_tags]
    names = {app_id: node.name or app_id for app_id, node in graph.nodes.items()}
    problems += [
        "cycle "
        + " <-> ".join(names.get(app_id, app_id) for app_id in cycle)
        + " (each external start runs it once)"
        for cycle in graph.cycles
    ]
    return problems


def _personal_spaces(probe: Probe) -> Check:
    client, graph = probe.client, probe.graph()
    targets = {edge.target for edge in graph.edges} | {join.target for join in graph.joins}
    items = client.items(targets) if targets else {}
    me = client.current_user()
    stuck = [
        f"{item.name} ({app_id})"
        for app_id, item in items.items()
        if item.space_id is None and item.owner_id not in (None, me.id)
    ]
    if stuck:
        return Check(
            "permissions",
            False,
            "in other users' personal spaces: " + ", ".join(stuck),
            "move them to a shared or managed space",
        )
    return Check("permissions", True, f"{len(items)} chained apps can be given reload access")


def _native_tasks(probe: Probe) -> list[Check]:
    return native_checks(probe.graph())


STEPS: tuple[Step, ...] = (_audits, _reload_listing, _chains, _personal_spaces, _native_tasks)

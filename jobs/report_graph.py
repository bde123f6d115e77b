"""The report's chain graph and each app's latest outcome, from the database alone (pure).

After every sweep the report is rewritten, and a sweep with nothing new costs one API call:
drawing the graph must cost none. So the graph is what the database knows: every (source app,
successor) pair a decision came from (origin ``seen``: on failure when the source reload that
led to it failed), the chain file's edges and joins, and the names the sweeps saw. An edge
no sweep has acted on yet (a tag added today, an on-failure branch never taken) is not in it;
``reload-chain report --html`` can draw the tenant's full graph instead. Native task chains
come from the listing the last sweep kept (``state.native_tasks``); their apps are named only
when a sweep saw the name.

An app's colour is its latest outcome: the outcome of the newest reload this program started
for it (``running`` until seen finished), unless a start failed since; an app never started
is ``skipped`` (``missing`` when the tenant did not have it); an app that only ever rooted
chain runs takes its newest root reload's outcome, and so does one whose latest decision left
it to a native task (skipped as ``native_task``): Qlik reloaded it, and that reload's outcome
is the one to see (it roots a chain run when the app is a source).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC

from jobs.chainfile import ChainFile
from jobs.edges import Condition, Edge
from jobs.graph import ChainGraph, Node, find_cycles
from jobs.graph_native import NativeView
from state.native_tasks import StoredNative
from state.report_reads import LatestDecision, SeenEdge

SUCCEEDED, FAILED, RUNNING = "succeeded", "failed", "running"
SKIPPED, MISSING, UNKNOWN = "skipped", "missing", "unknown"
SEEN = "seen"
NATIVE_TASK = "native_task"  # the skip reason of a successor a native task starts
_STARTED = ("triggered", "pending")
_UNSETTLED = ("intent", "unconfirmed")


def graph_from_database(
    seen: Iterable[SeenEdge],
    chain: ChainFile,
    names: Mapping[str, str],
    *,
    apps: Iterable[str] = (),
    missing: Iterable[str] = (),
    native: NativeView | None = None,
) -> ChainGraph:
    """The graph of the chain file and the edges decisions came from, and ``native`` tasks'
    edges beside them; ``apps`` are added as nodes even without an edge, ``missing`` apps are
    drawn as not found in the tenant."""
    native = native or NativeView()
    joined = {(member, join.target) for join in chain.joins for member in join.after}
    declared = {(edge.source, edge.target) for edge in chain.edges}
    edges = list(chain.edges)
    for (source, target), condition in sorted(_conditions(seen).items()):
        if (source, target) not in declared | joined:
            edges.append(Edge(source, target, condition, SEEN))
    ids = {app for edge in edges for app in (edge.source, edge.target)} | set(apps)
    ids |= {app for join in chain.joins for app in (join.target, *join.after)} | native.apps()
    gone = set(missing)
    nodes = {app: Node(app, None if app in gone else names.get(app, app)) for app in sorted(ids)}
    join_edges = [Edge(m, j.target, "success", j.origin, j) for j in chain.joins for m in j.after]
    cycles = find_cycles([*edges, *join_edges])
    return ChainGraph(nodes, edges, list(chain.joins), cycles, native=native)


def stored_view(stored: StoredNative) -> tuple[NativeView, str]:
    """The kept native task listing as the graph draws it, and a few words on where it came
    from ("" when no sweep has listed the tasks yet)."""
    if stored.refused_at is not None:
        return NativeView(refused=True), "native tasks not shown: this identity may not list them"
    if stored.read_at is None:
        return NativeView(), ""
    at = stored.read_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return NativeView.listed(stored.tasks), f"the native tasks a sweep listed at {at}"


def _conditions(seen: Iterable[SeenEdge]) -> dict[tuple[str, str], Condition]:
    """Per pair: ``failure`` when only failed sources led to it, ``any`` when both did."""
    outcomes: dict[tuple[str, str], set[str]] = {}
    for edge in seen:
        found = outcomes.setdefault((edge.source, edge.target), set())
        if edge.outcome in ("success", "failure"):
            found.add(edge.outcome)
    conditions: dict[tuple[str, str], Condition] = {}
    for pair, found in outcomes.items():
        conditions[pair] = (
            "any" if len(found) == 2 else "failure" if "failure" in found else "success"
        )
    return conditions


@dataclass(frozen=True)
class AppStatus:
    """An app's colour in the report and the few words its tooltip says about it."""

    status: str
    detail: str


def app_statuses(
    latest: Iterable[LatestDecision], roots: Mapping[str, str]
) -> dict[str, AppStatus]:
    """Each app's latest outcome (see the module's docstring)."""
    by_app: dict[str, dict[str, LatestDecision]] = {}
    for row in latest:
        kind = "triggered" if row.decision in _STARTED else row.decision
        kept = by_app.setdefault(row.app_id, {}).get(kind)
        if kept is None or row.updated_at > kept.updated_at:
            by_app[row.app_id][kind] = row
    statuses = {app: AppStatus(_outcome(status), "root reload") for app, status in roots.items()}
    for app, rows in by_app.items():
        status, root = _status(rows), statuses.get(app)
        if root is not None and status.status == SKIPPED and rows[SKIPPED].reason == NATIVE_TASK:
            status = AppStatus(root.status, f"left to a native task; last reload {root.status}")
        statuses[app] = status
    return statuses


def _status(rows: Mapping[str, LatestDecision]) -> AppStatus:
    started, failed, skipped = rows.get("triggered"), rows.get("failed"), rows.get("skipped")
    if failed is not None and (started is None or failed.updated_at > started.updated_at):
        return AppStatus(FAILED, f"start failed: {failed.reason}")
    if started is not None:
        if started.state in _UNSETTLED or started.decision == "pending" or not started.outcome:
            return AppStatus(RUNNING, "started, not seen finished yet")
        return AppStatus(_outcome(started.outcome), f"last reload {started.outcome}")
    if skipped is not None:
        status = MISSING if skipped.reason == "not_found" else SKIPPED
        return AppStatus(status, f"skipped: {skipped.reason}")
    return AppStatus(UNKNOWN, "")


def _outcome(outcome: str) -> str:
    """A stored outcome as a colour: canceled counts as failed, as in chain runs."""
    return SUCCEEDED if outcome == SUCCEEDED else FAILED


def missing_apps(statuses: Mapping[str, AppStatus]) -> set[str]:
    """The apps whose latest decision found them missing from the tenant."""
    return {app for app, status in statuses.items() if status.status == MISSING}

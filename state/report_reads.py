"""Reads for the HTML report: the edges the sweeps acted on, each app's latest decisions and
the latest outcome of each chain's root, the apps' names, the native tasks last listed, the
newest sweeps and alerts.

All from the database, so the report rewritten after every sweep costs no API call.
``ReportReads`` is a ``StateAccess``: sqlite errors of every public method become
``StateError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from state.access import StateAccess
from state.native_tasks import NativeTaskStore, StoredNative
from state.rows import decoded

# Each decision's source apps -> its app.
_EDGES_SQL = """
select distinct s.value, l.app_id from ledger l join json_each(coalesce(l.sources, '[]')) s
"""
# The pairs decided after a failed source reload: on-failure edges (failures are few).
_FAILURE_EDGES_SQL = """
select distinct h.app_id, s.target_app_id from handled_events h
join settled_edges s on s.source_reload_id = h.reload_id
where h.outcome = 'failure'
"""
# Per app and kind of decision, its newest row: the maximum from the covering index
# (app_id, decision, updated_at), then that row.
_LATEST_SQL = """
with newest as (
    select app_id, decision, max(updated_at) as at from ledger group by app_id, decision
)
select l.app_id, l.decision, l.reason, l.state, l.outcome, l.updated_at
from newest n join ledger l
    on l.app_id = n.app_id and l.decision = n.decision and l.updated_at = n.at
order by l.app_id, l.decision, l.sweep_id
"""
_ROOTS_SQL = """
with newest as (
    select root_app_id, max(root_ended_at) as at from chain_runs group by root_app_id
)
select c.root_app_id, c.root_status from newest n join chain_runs c
    on c.root_app_id = n.root_app_id and c.root_ended_at = n.at
order by c.root_app_id, c.run_id
"""
_ALERTS_SQL = """
select kind, app_id, state, raised_at, sent_at, sweep_id from alerts
order by raised_at desc, alert_id limit ?
"""


@dataclass(frozen=True)
class SeenEdge:
    """A source app a decision about ``target`` came from; ``outcome`` ``failure`` when a
    failed reload of it led to one (an on-failure edge), else None."""

    source: str
    target: str
    outcome: str | None


@dataclass(frozen=True)
class LatestDecision:
    """An app's newest ledger row of one kind of decision (triggered, skipped, failed...)."""

    app_id: str
    decision: str
    reason: str
    state: str
    outcome: str | None
    updated_at: str


@dataclass(frozen=True)
class AlertRow:
    """One outbox row as the report shows it: never its destination URL nor its error."""

    kind: str
    app_id: str | None
    state: str
    raised_at: str
    sent_at: str | None
    sweep_id: str


class ReportReads(StateAccess):
    """What the report reads; each query is bounded by the number of apps, or by a limit."""

    def seen_edges(self) -> list[SeenEdge]:
        """Every (source app, successor) pair some decision came from; those decided after a
        failed source reload also with outcome ``failure``."""
        seen = self.db.execute(_EDGES_SQL).fetchall()
        failed = self.db.execute(_FAILURE_EDGES_SQL).fetchall()
        return [SeenEdge(source, target, None) for source, target in seen] + [
            SeenEdge(source, target, "failure") for source, target in failed
        ]

    def latest_decisions(self) -> list[LatestDecision]:
        """Each app's newest decision of each kind."""
        rows = self.db.execute(_LATEST_SQL).fetchall()
        return [
            LatestDecision(app, decision, reason or "", state or "done", outcome, updated or "")
            for app, decision, reason, state, outcome, updated in rows
        ]

    def root_outcomes(self) -> dict[str, str]:
        """app id -> how its newest reload that rooted a chain run ended."""
        rows = self.db.execute(_ROOTS_SQL).fetchall()
        return {app: status for app, status in rows if status}

    def names(self) -> dict[str, str]:
        """app id -> the name a sweep last saw for it."""
        rows = self.db.execute("select app_id, name from app_names").fetchall()
        return {app: name for app, name in rows if name}

    def native_tasks(self) -> StoredNative:
        """The native task listing the last sweep that read one kept."""
        return NativeTaskStore.of(self).stored()

    def recent_sweeps(self, limit: int) -> list[dict[str, Any]]:
        """The newest sweep records, newest first, their JSON columns decoded."""
        rows = self.db.table("sweeps").rows_where(order_by="started_at desc", limit=limit)
        return [decoded(row, ("decisions", "api_calls")) for row in rows]

    def recent_alerts(self, limit: int) -> list[AlertRow]:
        """The newest outbox rows, newest first (one per destination)."""
        rows = self.db.execute(_ALERTS_SQL, [limit]).fetchall()
        return [AlertRow(*row) for row in rows]

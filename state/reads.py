"""Reads of sweep state: the cursors, what was handled or settled before, the ledger.

Lookups by many ids go through ``StateAccess._rows_in``, in chunks; sqlite errors are mapped
for every method here by ``StateAccess``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from qlik.events import FinishedReload
from qlik.times import format_time, parse_time
from state import lease
from state.access import DB_NOW, StateAccess
from state.lease import Fence
from state.rows import LedgerRow, Started, decoded

AUDIT_CURSOR = "audit_events"
LATE_CHECK = "late_check"
HIGH_WATER = "high_water"
RECOVERY = "recovering_until"
# Intents not yet known to have reached the tenant: written before the start was sent
# (``intent``), or whose answer was lost (``unconfirmed``, the attempt is over).
UNFINISHED = ("intent", "unconfirmed")


class StoreReads(StateAccess):
    """Every read of sweep state; ``Store`` adds the writes."""

    def cursor(self, name: str = AUDIT_CURSOR) -> datetime | None:
        """Time up to which every event has been handled, or None before the first sweep.

        ``name=LATE_CHECK``: when a sweep last re-read the late window.
        """
        rows = list(self.db.table("cursor").rows_where("name = ?", [name]))
        return parse_time(rows[0]["position"]) if rows else None

    def fence(self, sweep_id: str) -> Fence:
        """The lease as a sweep finds it when it begins (see ``state.lease``)."""
        return Fence(sweep_id, lease.current(self.db)[1])

    def handled(
        self, event_ids: Iterable[str], runs: Iterable[tuple[str, str]]
    ) -> tuple[set[str], set[tuple[str, str]]]:
        """Which of these event ids, and which (reload id, outcome) pairs, were handled before."""
        events = self._existing("handled_events", "event_id", event_ids)
        wanted = set(runs)
        sql = "select reload_id, outcome from handled_events where reload_id in ({})"
        found = {(row[0], row[1]) for row in self._rows_in(sql, (r for r, _ in wanted))}
        return events, found & wanted

    def known_invalid(self, keys: Iterable[str]) -> set[str]:
        """Which invalid events are already recorded."""
        return self._existing("invalid_events", "key", keys)

    def settled_edges(self, reload_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(source reload id, target app id) pairs already decided for good."""
        sql = (
            "select source_reload_id, target_app_id from settled_edges"
            " where source_reload_id in ({})"
        )
        return {(row[0], row[1]) for row in self._rows_in(sql, reload_ids)}

    def started_reloads(self, reload_ids: Iterable[str]) -> dict[str, Started]:
        """For reloads this program started: the app, and the source apps and reloads behind it."""
        sql = (
            "select reload_id, app_id, sources, source_reloads, chain_run_id from ledger "
            "where decision = 'triggered' and reload_id in ({})"
        )
        return {
            reload_id: Started(
                app_id,
                tuple(json.loads(sources or "[]")),
                tuple(json.loads(reloads or "[]")),
                chain_run_id,
            )
            for reload_id, app_id, sources, reloads, chain_run_id in self._rows_in(sql, reload_ids)
        }

    def last_successes(self, app_ids: Iterable[str]) -> dict[str, datetime]:
        """When each app last finished a reload successfully, as far as events were read."""
        sql = (
            "select app_id, max(event_time) from handled_events "
            "where outcome = 'success' and app_id in ({}) group by app_id"
        )
        return {app_id: parse_time(ended) for app_id, ended in self._rows_in(sql, app_ids)}

    def unfinished_intents(self) -> list[LedgerRow]:
        """Starts whose outcome is unknown: the sweep died, or the answer was ambiguous."""
        rows = self.db.table("ledger").rows_where(
            "state in (?, ?)", list(UNFINISHED), order_by="updated_at"
        )
        return [LedgerRow.from_record(row) for row in rows]

    def recent_start_ages(self, window_s: float = 300.0) -> list[float]:
        """Seconds since each start request of the last ``window_s`` was sent (any process).

        Qlik counts reload starts per user over five minutes, across processes: a one-shot
        sweep seeds its rate limiter with these before it starts anything.
        """
        age = f"(julianday({DB_NOW}) - julianday(written_at)) * 86400"
        sql = f"select {age} from ledger where written_at is not null and {age} < ?"
        return [float(row[0]) for row in self.db.execute(sql, [window_s]).fetchall()]

    def intent_ages(self) -> dict[tuple[str, str], tuple[float, float | None]]:
        """For each unfinished start: seconds since it was sent, and how long it may be in flight.

        Measured by SQLite's clock at both ends: the sweep's ``now`` is when the sweep began,
        possibly many minutes before the start was sent, and only the elapsed time matters.
        How long a start may be in flight is the writer's own (``in_flight_s``), not the reader's.
        """
        sql = (
            f"select sweep_id, app_id, (julianday({DB_NOW}) - julianday(written_at)) * 86400, "
            "in_flight_s from ledger where state in (?, ?) and written_at is not null"
        )
        rows = self.db.execute(sql, list(UNFINISHED)).fetchall()
        return {(sweep, app): (float(age), flight) for sweep, app, age, flight in rows}

    def settled_without_outcome(self, since: datetime | None = None) -> list[FinishedReload]:
        """Finish events already handled of reloads this program started whose row has no
        outcome yet: a start settled after its reload finished (``jobs.sweep`` judges them).

        ``since``: only rows settled (updated) since then. Rows written before outcomes were
        recorded (migration 0006) have none either; judging them would raise an alert for
        every old failure, and scan the whole ledger on every sweep.
        """
        sql = (
            "select h.event_id, h.event_time, h.app_id, h.reload_id, h.outcome from ledger l "
            "join handled_events h on h.reload_id = l.reload_id "
            "where l.decision = 'triggered' and l.outcome is null and l.state = 'done' "
            "and l.updated_at >= ?"
        )
        after = format_time(since) if since is not None else ""
        return [
            FinishedReload(event_id, parse_time(at), app_id, reload_id, outcome, parse_time(at))
            for event_id, at, app_id, reload_id, outcome in self.db.execute(sql, [after])
        ]

    def ever_succeeded(self) -> bool:
        """Whether a sweep ever ended with exit 0 here: the tenant was reachable as configured."""
        return (
            self.db.execute("select 1 from sweeps where exit_code = 0 limit 1").fetchone()
            is not None
        )

    def recent_sweeps(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest sweep records, newest first, with their JSON columns decoded."""
        rows = self.db.table("sweeps").rows_where(order_by="started_at desc", limit=limit)
        return [decoded(row, ("decisions", "api_calls")) for row in rows]

    def recent_decisions(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ledger rows, newest first, with their JSON columns decoded."""
        rows = self.db.table("ledger").rows_where(order_by="updated_at desc", limit=limit)
        return [decoded(row, ("sources", "source_reloads")) for row in rows]

    def _existing(self, table: str, column: str, values: Iterable[str]) -> set[str]:
        sql = f"select {column} from {table} where {column} in ({{}})"
        return {row[0] for row in self._rows_in(sql, values)}

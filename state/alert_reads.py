"""Reads for alerts: which started reloads failed, names and roots, the outbox and past sweeps.

``AlertReads`` shares the ``Store``'s database (``AlertReads.of(store)``); sqlite errors of every
method are mapped to ``StateError`` by ``StateAccess``. The outbox's writes are the ``Store``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from qlik.times import parse_time
from state.access import StateAccess

PENDING = "pending"


class AlertReads(StateAccess):
    """What the alert rules and the delivery read from the state database."""

    @classmethod
    def of(cls, store: StateAccess) -> AlertReads:
        """Reads on the same database (and error naming) as ``store``."""
        return cls(store.db, store.where, store.scrub, store.in_flight_s)

    def unjudged_starts(self, reload_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """Of these reloads, those this program started whose outcome is not yet recorded:
        reload id -> (app id, chain run id). A recorded outcome was alerted on already."""
        sql = (
            "select reload_id, app_id, chain_run_id from ledger where decision = 'triggered'"
            " and outcome is null and reload_id in ({})"
        )
        return {row[0]: (row[1], row[2]) for row in self._rows_in(sql, reload_ids)}

    def root_apps(self, run_ids: Iterable[str]) -> dict[str, str]:
        """The app at the root of each chain run: an external reload's, or a ``start``'s."""
        wanted = set(run_ids)
        sql = "select run_id, root_app_id from chain_runs where run_id in ({})"
        roots = {row[0]: row[1] for row in self._rows_in(sql, wanted)}
        sql = (
            "select reload_id, app_id from ledger"
            " where decision = 'triggered' and reload_id in ({})"
        )
        roots.update({row[0]: row[1] for row in self._rows_in(sql, wanted - set(roots))})
        return roots

    def app_names(self, app_ids: Iterable[str]) -> dict[str, str]:
        """The names the sweeps last saw for these apps."""
        sql = "select app_id, name from app_names where app_id in ({})"
        return {row[0]: row[1] for row in self._rows_in(sql, app_ids) if row[1]}

    def last_raised(self, app_ids: Iterable[str]) -> dict[tuple[str, str, str], datetime]:
        """The newest raise per (destination, kind, app id), for these app ids."""
        sql = (
            "select destination, kind, app_id, max(raised_at) from alerts"
            " where app_id in ({}) group by destination, kind, app_id"
        )
        return {(row[0], row[1], row[2]): parse_time(row[3]) for row in self._rows_in(sql, app_ids)}

    def sweep_history(self, limit: int) -> tuple[tuple[int, ...], datetime | None]:
        """The exit codes of the newest ``limit`` recorded sweeps, newest first, and when the
        newest successful one started."""
        codes = self.db.execute(
            "select exit_code from sweeps where exit_code is not null"
            " order by started_at desc limit ?",
            [limit],
        ).fetchall()
        success = self.db.execute("select max(started_at) from sweeps where exit_code = 0")
        last = success.fetchone()[0]
        return tuple(int(row[0]) for row in codes), parse_time(last) if last else None

    def pending_alerts(self) -> list[dict[str, Any]]:
        """Every outbox row still to deliver, oldest first."""
        rows = self.db.table("alerts").rows_where(
            "state = ?", [PENDING], order_by="raised_at, alert_id"
        )
        return list(rows)

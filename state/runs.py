"""Read-only queries of ``reload-chain runs``: chain runs, their ledger rows, the apps' names.

A chain run is named by the reload at its root (``ledger.chain_run_id``): an external source
reload, recorded in ``chain_runs`` by the sweep that first acted on it, or a reload started by
``reload-chain start``, which has no ``chain_runs`` row and roots a run of its own (its ledger
row's ``chain_run_id`` is its own reload id). Runs are ordered by when the chain began to act:
the external root's end, or the start's time. Only committed rows are in the database, so
nothing of a dry run appears here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from qlik.times import parse_time
from state.access import StateAccess

_RUNS_SQL = """
with runs as (
    select run_id, root_app_id as app_id, root_status as status, root_ended_at as ended_at,
        root_ended_at as began_at, 0 as started
    from chain_runs
    union all
    select reload_id, app_id, outcome, ended_at, coalesce(written_at, updated_at), 1
    from ledger
    where decision = 'triggered' and chain_run_id = reload_id
        and reload_id not in (select run_id from chain_runs)
)
select run_id, app_id, status, ended_at, began_at, started from runs
where :app is null or app_id = :app
    or run_id in (select chain_run_id from ledger where app_id = :app)
order by began_at desc, run_id desc
limit :limit
"""

_ROWS_SQL = (
    "select chain_run_id, sweep_id, app_id, decision, reason, state, reload_id, source_reloads,"
    " source_end, written_at, updated_at, outcome, ended_at, reload_started_at from ledger"
    " where chain_run_id in ({})"
)


@dataclass(frozen=True)
class RootRecord:
    """The reload at a chain run's root, as stored.

    ``status`` is ``succeeded``, ``failed`` or ``canceled``; None for a started root not yet
    seen finished. ``began_at`` is when the chain began to act: an external root's end, or
    the time a ``start`` root was sent. ``started``: the root is a reload this program started.
    """

    run_id: str
    app_id: str
    status: str | None
    ended_at: datetime | None
    began_at: datetime | None
    started: bool = False


@dataclass(frozen=True)
class DecisionRecord:
    """One ledger row (one decision about one app in one sweep) of a chain run."""

    run_id: str
    sweep_id: str
    app_id: str
    decision: str
    reason: str
    state: str = "done"
    reload_id: str | None = None
    source_reloads: tuple[str, ...] = ()
    source_end: datetime | None = None
    written_at: datetime | None = None
    updated_at: datetime | None = None
    outcome: str | None = None
    ended_at: datetime | None = None
    # When the engine began the reload (its end less its event's duration), if known.
    reload_started_at: datetime | None = None


@dataclass
class RunRecords:
    """The newest chain runs' roots (newest first), their ledger rows, and the apps' names."""

    roots: list[RootRecord] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)


class RunReads(StateAccess):
    """The queries of ``runs``; sqlite errors are mapped by ``StateAccess``."""

    def records(self, limit: int, app_id: str | None = None) -> RunRecords:
        """The newest ``limit`` chain runs, with ``app_id`` (root or any decision) if given."""
        params = {"app": app_id, "limit": limit}
        roots = [_root(row) for row in self.db.execute(_RUNS_SQL, params).fetchall()]
        rows = self._rows_in(_ROWS_SQL, (root.run_id for root in roots))
        decisions = [_decision(row) for row in rows]
        apps = {root.app_id for root in roots} | {row.app_id for row in decisions}
        sql = "select app_id, name from app_names where app_id in ({})"
        names = {app: name for app, name in self._rows_in(sql, apps) if name}
        return RunRecords(roots, decisions, names)


def read_runs(
    db: Database | None, where: str, *, limit: int, app_id: str | None = None
) -> RunRecords:
    """``RunReads.records`` of ``db``; ``db`` None (no database file yet): no runs."""
    if db is None:
        return RunRecords()
    return RunReads(db, where).records(limit, app_id)


def _time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


def _root(row: tuple[Any, ...]) -> RootRecord:
    run_id, app_id, status, ended_at, began_at, started = row
    return RootRecord(
        run_id,
        app_id,
        status or None,
        _time(ended_at),
        _time(began_at),
        bool(started),
    )


def _decision(row: tuple[Any, ...]) -> DecisionRecord:
    run_id, sweep_id, app_id, decision, reason, state, reload_id, sources, *times = row
    source_end, written_at, updated_at, outcome, ended_at, reload_started_at = times
    return DecisionRecord(
        run_id,
        sweep_id,
        app_id,
        decision,
        reason or "",
        state or "done",
        reload_id or None,
        tuple(json.loads(sources or "[]")),
        _time(source_end),
        _time(written_at),
        _time(updated_at),
        outcome or None,
        _time(ended_at),
        _time(reload_started_at),
    )

"""The retention rules: one function per table, saying what it prunes and why the rest is kept.

Each rule deletes at most ``batch`` rows, oldest first, inside the sweep's transaction, and
folds what the metrics file counted of them into ``totals`` before they go. The horizons and
the order the rules run in are ``state.retention``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlite_utils import Database

from qlik.times import format_time
from state.metrics_reads import finished_run_durations, json_sums_sql
from state.reads import UNFINISHED
from state.totals import (
    API_CALLS,
    DECISIONS,
    RATE_LIMITED,
    RELOAD_OUTCOMES,
    RELOADS_STARTED,
    SWEEPS,
    add_selected,
    add_totals,
    durations_folded,
)

_OPEN = f"state in {UNFINISHED}"
# A chain run's hops are reloads, each queued and run in minutes to hours: even the fifty hops
# the cycle guard walks back rarely take a month. Rows of a run older than this go anyway.
LONGEST_RUN = timedelta(days=30)
_DOOMED = "(select id from temp.prune_rows)"
# The time in a sweep id (``20261122T101500Z-3fa9``, ``start-20261122T101500Z-3fa9``); NULL
# for any other id, which is then never pruned.
_SWEEP_TIME = (
    "(case when sweep_id glob 'start-[0-9]*' then substr(sweep_id, 7, 16)"
    " when sweep_id glob '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T*'"
    " then substr(sweep_id, 1, 16) end)"
)


@dataclass(frozen=True)
class Horizons:
    """Rows older than these may go: ``history`` (now less ``retention_days``), ``safe`` (also
    before any event a window can still read), ``events`` (safe, and before the longest join
    window, whose members' last successes joins read). See ``state.retention``."""

    history: datetime
    safe: datetime
    events: datetime


def temp_tables(db: Database) -> None:
    """The scratch tables of the rules that fold before they delete (per connection)."""
    db.execute("create temp table if not exists prune_rows (id integer primary key)")
    db.execute("create temp table if not exists prune_reloads (reload_id text primary key)")


def handled_events(db: Database, horizons: Horizons, batch: int) -> int:
    """Handled events older than ``events``: no window can read them again, and no join
    window reaches them. Oldest inserted first (the events' own order, give or take a late
    re-read, which is merely kept a little longer)."""
    return _delete_head(db, "handled_events", "event_time < ?", [_t(horizons.events)], batch)


def settled_edges(db: Database, horizons: Horizons, batch: int) -> int:
    """Settled pairs whose sweep ran before ``safe``: their source reload's events were read
    by then, so they are too old to be read again, and the pair can never be decided again."""
    stamp = f"{horizons.safe:%Y%m%dT%H%M%SZ}"
    return _delete_head(db, "settled_edges", f"{_SWEEP_TIME} < ?", [stamp], batch)


def invalid_events(db: Database, horizons: Horizons, batch: int) -> int:
    """Malformed events seen before ``safe``: one still readable, once forgotten, would be
    counted and reported again as new."""
    return _delete_head(db, "invalid_events", "seen_at < ?", [_t(horizons.safe)], batch)


def chain_runs(db: Database, horizons: Horizons, batch: int) -> int:
    """Chain runs whose root ended before ``history`` and none of whose decisions is still
    open or, unless the run began ``LONGEST_RUN`` before that, newer; a finished one's
    duration is folded into the metrics' histogram."""
    doomed = _doom(
        db,
        "select c.rowid from chain_runs c where c.root_ended_at < :h and not exists ("
        f"select 1 from ledger l where l.chain_run_id = c.run_id and (l.{_OPEN}"
        " or (l.updated_at >= :h and c.root_ended_at >= :cap)))"
        " order by c.root_ended_at limit :n",
        {"h": _t(horizons.history), "cap": _t(horizons.history - LONGEST_RUN), "n": batch},
    )
    if doomed:
        runs = f"c.rowid in {_DOOMED}"
        add_totals(db, durations_folded(finished_run_durations(db, runs)))
    return _delete_doomed(db, "chain_runs")


def untriggered_decisions(db: Database, horizons: Horizons, batch: int) -> int:
    """Ledger rows that started nothing, written before ``history``; never an intent or an
    unconfirmed start, which ``reconcile`` must settle first. Nothing reads them for safety:
    the pairs they settled are in ``settled_edges``."""
    return _delete_selected(
        db,
        "ledger",
        "select rowid from ledger where decision != 'triggered' and updated_at < ?"
        f" and not {_OPEN} order by updated_at limit ?",
        [_t(horizons.history), batch],
    )


def started_reloads(db: Database, horizons: Horizons, batch: int) -> int:
    """Ledger rows of reloads this program started, written before ``safe``, once their chain
    run is over: no row of the run is newer or open, since the cycle guard walks a chain back
    through them (a run still going ``LONGEST_RUN`` later loses its oldest rows all the same,
    or one that never ends would be kept for ever), and its ``chain_runs`` row is gone (its
    duration folded). Each pruned reload is folded into the started and outcome counters."""
    count = _doom(
        db,
        "select l.rowid from ledger l where l.decision = 'triggered' and l.updated_at < :h"
        f" and not l.{_OPEN}"
        " and not exists (select 1 from chain_runs c where c.run_id = l.chain_run_id)"
        " and (l.updated_at < :cap or not exists (select 1 from ledger y"
        f" where y.chain_run_id = l.chain_run_id and (y.updated_at >= :h or y.{_OPEN})))"
        " order by l.updated_at limit :n",
        {"h": _t(horizons.safe), "cap": _t(horizons.safe - LONGEST_RUN), "n": batch},
    )
    if not count:
        return 0
    db.execute("delete from temp.prune_reloads")
    db.execute(
        "insert or ignore into temp.prune_reloads select reload_id from ledger"
        f" where rowid in {_DOOMED} and reload_id is not null"
    )
    before = _started_counts(db)
    deleted = _delete_doomed(db, "ledger")
    after = _started_counts(db)
    add_totals(db, [(name, before[name] - after.get(name, 0)) for name in before])
    return deleted


def sweeps(db: Database, horizons: Horizons, batch: int) -> int:
    """Sweep records started before ``history``, except the newest successful one (``health``
    and the alerts measure a failing streak from it); their counts are folded."""
    newest_success = db.execute(
        "select sweep_id from sweeps where exit_code = 0 order by started_at desc limit 1"
    ).fetchone()
    count = _doom(
        db,
        "select rowid from sweeps where started_at < ? and sweep_id is not ?"
        " order by started_at limit ?",
        [_t(horizons.history), newest_success[0] if newest_success else None, batch],
    )
    if count:
        _fold_sweeps(db)
    return _delete_doomed(db, "sweeps")


def alerts(db: Database, horizons: Horizons, batch: int) -> int:
    """Outbox rows sent or expired, raised before ``history``; a pending one is still to be
    delivered (the delivery expires it after a day). ``repeat_minutes`` (at most a week, the
    shortest retention) reads only newer ones."""
    return _delete_selected(
        db,
        "alerts",
        "select rowid from alerts where state in ('sent', 'expired') and raised_at < ?"
        " order by raised_at limit ?",
        [_t(horizons.history), batch],
    )


def deadline_days(db: Database, horizons: Horizons, batch: int) -> int:
    """Deadline days before ``history``: the judge reads the last two days only."""
    day = horizons.history.date().isoformat()
    sql = "select rowid from deadline_days where day < ? limit ?"
    return _delete_selected(db, "deadline_days", sql, [day, batch])


def app_names(db: Database, horizons: Horizons, batch: int) -> int:
    """Names of apps no sweep has looked up since ``history``: gone, or never a successor."""
    sql = "select rowid from app_names where updated_at < ? limit ?"
    return _delete_selected(db, "app_names", sql, [_t(horizons.history), batch])


def _fold_sweeps(db: Database) -> None:
    """Add what the doomed sweep records count in the metrics file to the totals."""
    counted = f"s.rowid in {_DOOMED} and coalesce(s.dry_run, 0) = 0"
    add_selected(
        db,
        f"select '{SWEEPS}:' || exit_code, count(*) from sweeps s where {counted}"
        " and exit_code is not null group by exit_code",
    )
    limited = f"select sum(rate_limited) as total from sweeps s where {counted}"
    add_selected(db, f"select '{RATE_LIMITED}', total from ({limited}) where total is not null")
    for column, prefix in (("decisions", DECISIONS), ("api_calls", API_CALLS)):
        sums = json_sums_sql(column, f"s.rowid in {_DOOMED}")
        add_selected(db, f"select '{prefix}:' || name, total from ({sums}) where 1")


def _started_counts(db: Database) -> dict[str, int]:
    """The started and outcome counters, over the reloads being pruned."""
    among = "decision = 'triggered' and reload_id in (select reload_id from temp.prune_reloads)"
    started = db.execute(f"select count(distinct reload_id) from ledger where {among}")
    outcomes = db.execute(
        f"select '{RELOAD_OUTCOMES}:' || outcome, count(distinct reload_id) from ledger"
        f" where {among} and outcome is not null group by outcome"
    )
    return {RELOADS_STARTED: started.fetchone()[0], **dict(outcomes.fetchall())}


def _delete_head(db: Database, table: str, condition: str, params: list[Any], batch: int) -> int:
    """Delete the rows matching ``condition`` among the ``batch`` oldest inserted (rowid).

    For tables with no index on their time: the scan is ``batch`` rows, whatever the size.
    """
    head = f"(select max(r) from (select rowid as r from {table} order by rowid limit ?))"
    sql = f"delete from {table} where rowid <= {head} and {condition}"
    return int(db.execute(sql, [batch, *params]).rowcount)


def _delete_selected(db: Database, table: str, select: str, params: list[Any]) -> int:
    """Delete the rows whose rowids ``select`` returns."""
    return int(db.execute(f"delete from {table} where rowid in ({select})", params).rowcount)


def _doom(db: Database, select: str, params: Any) -> int:
    """Mark the rows whose rowids ``select`` returns, for a fold and then ``_delete_doomed``."""
    db.execute("delete from temp.prune_rows")
    return int(db.execute(f"insert into temp.prune_rows (id) {select}", params).rowcount)


def _delete_doomed(db: Database, table: str) -> int:
    return int(db.execute(f"delete from {table} where rowid in {_DOOMED}").rowcount)


def _t(moment: datetime) -> str:
    return format_time(moment)

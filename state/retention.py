"""Retention: what a sweep's commit prunes (``retention_days``), so the database stays bounded.

reload-chain runs for years unattended, and a tenant with 5,000 reloads a day adds millions of
rows a year. Each sweep's commit (``Store.commit_sweep``) ends with ``prune``: in the same
transaction, each table loses at most ``batch`` rows, oldest first, so a first run on a database
years old catches up over several sweeps, never in one long transaction. What a pruned row
counted for the metrics file is folded into ``totals`` first (``state.totals``). Cursors, the
lease and migrations are never pruned; neither is an intent or an unconfirmed start. The rules
themselves, one per table with why it keeps what it keeps, are in ``state.retention_rules``.

Two horizons:

- **history**, now less ``retention_days``: what people read. Sweep records, chain runs, sent
  or expired alerts, deadline days, app names not seen since, decisions that started nothing.
- **safe**: history, and also before the oldest event any window can still read. Qlik keeps
  audit events 90 days: no window reaches further back, whatever its overlap, late window
  (at most 90 days) or ``--since``; one day more in case the audit service purges late. An
  event that can still be read must still be known as handled, with the pairs it settled and
  the lineage of the reloads behind it, or a re-read would act on it a second time. Counted
  from the cursor, the tenant's time, or from this machine's clock when that is behind: a
  clock set years ahead may prune history, never what safety needs. So whatever
  ``retention_days`` says, handled events, settled pairs and started reloads stay 91 days.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from loguru import logger
from sqlite_utils import Database

from qlik.times import parse_time
from state.reads import AUDIT_CURSOR
from state.retention_rules import (
    Horizons,
    alerts,
    app_names,
    chain_runs,
    deadline_days,
    handled_events,
    invalid_events,
    settled_edges,
    started_reloads,
    sweeps,
    temp_tables,
    untriggered_decisions,
)

DEFAULT_RETENTION_DAYS = 90
# Rows per table and sweep: a few hundred milliseconds of deletes at most, in one transaction.
BATCH_ROWS = 5_000
# Qlik's audit retention, and a day in case its purge runs late.
READ_REACH = timedelta(days=90 + 1)

# Chain runs before the started reloads: a run's duration is folded while its rows are there.
RULES = (
    ("chain_runs", chain_runs),
    ("ledger", untriggered_decisions),
    ("ledger_started", started_reloads),
    ("sweeps", sweeps),
    ("handled_events", handled_events),
    ("settled_edges", settled_edges),
    ("invalid_events", invalid_events),
    ("alerts", alerts),
    ("deadline_days", deadline_days),
    ("app_names", app_names),
)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long history is kept (``retention_days``), the chain file's longest join window
    (its members' last successes must stay readable), and the most rows one sweep deletes
    from one table."""

    days: int = DEFAULT_RETENTION_DAYS
    longest_join_minutes: int = 0
    batch: int = BATCH_ROWS


def horizons_at(policy: RetentionPolicy, now: datetime, cursor: datetime | None) -> Horizons:
    """The horizons of a sweep committing at ``now`` with the audit ``cursor`` (see above)."""
    history = now - timedelta(days=policy.days)
    safe = min(history, min(now, cursor or now) - READ_REACH)
    joins = now - timedelta(minutes=policy.longest_join_minutes)
    return Horizons(history, safe, min(safe, joins))


def prune(db: Database, policy: RetentionPolicy, now: datetime) -> dict[str, int]:
    """Apply every rule inside the caller's transaction; return the rows deleted per rule.

    In a savepoint: a rule that fails (a database changed by hand) costs this sweep its
    pruning, with one WARNING line, never its commit.
    """
    horizons = horizons_at(policy, now, _cursor(db))
    try:
        with db.atomic():
            temp_tables(db)
            pruned = {name: rule(db, horizons, policy.batch) for name, rule in RULES}
    except sqlite3.Error as error:
        if not db.conn.in_transaction:
            raise  # the transaction itself is gone: the commit cannot go on
        logger.warning("pruning skipped this sweep: {}", error)
        return {}
    _report(pruned, policy.batch)
    return pruned


def _cursor(db: Database) -> datetime | None:
    row = db.execute("select position from cursor where name = ?", [AUDIT_CURSOR]).fetchone()
    return parse_time(row[0]) if row and row[0] else None


def _report(pruned: dict[str, int], batch: int) -> None:
    """One line when something was pruned: INFO while catching up, else DEBUG."""
    total = sum(pruned.values())
    if not total:
        return
    behind = [name for name, count in pruned.items() if count >= batch]
    more = f"; more next sweep: {', '.join(behind)}" if behind else ""
    counts = ", ".join(f"{name} {count}" for name, count in pruned.items() if count)
    level = "INFO" if behind else "DEBUG"
    logger.log(level, "pruned {} rows past retention ({}){}", total, counts, more)

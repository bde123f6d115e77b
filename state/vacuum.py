"""Giving the space of pruned rows back to the disk: an incremental vacuum at most once a day.

Pruning (``state.retention``) frees pages inside the file, which new rows reuse: the file stops
growing either way. Giving free pages back to the disk, after a first prune of an old database
for instance, needs ``auto_vacuum = INCREMENTAL``, which ``state.database`` sets on every new
database. An older database needs one full ``VACUUM`` to switch: done here after a commit when
the file is small (about a second), else the administrator is told once how to do it, since it
blocks every sweep for as long as it runs and needs as much free disk again.
"""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from datetime import datetime, timedelta

from loguru import logger
from sqlite_utils import Database

from qlik.times import format_time, parse_time

# Rows of the cursor table: when the last daily vacuum ran, and when the advice was given.
VACUUMED = "vacuumed_at"
ADVISED = "vacuum_advised"
EVERY = timedelta(days=1)
# Free pages given back per run at most (100 MB of 4 KiB pages); the rest the next day.
PAGES_PER_RUN = 25_000
# Fewer free pages than this (1 MB of 4 KiB pages) are left for new rows to reuse.
MIN_PAGES = 256
# An older database this small is switched to incremental vacuum at once.
SMALL_BYTES = 64 * 1024 * 1024
INCREMENTAL = 2
NONE = 0


def vacuum_daily(db: Database, now: datetime, where: str = "state database") -> None:
    """After a sweep's commit, once a day: give free pages back to the disk (see above).

    Never raises for the database's sake: the sweep is committed, and a vacuum that could not
    run (another program reading the file) is one WARNING line, tried again the next day.
    """
    if db.conn.in_transaction:
        return  # a caller's transaction: neither a vacuum nor a commit of it belongs here
    try:
        if _due(db, now) and _vacuum(db, where, now):
            _mark(db, VACUUMED, now)
    except sqlite3.Error as error:
        logger.warning("state database {}: vacuum skipped, tried again tomorrow: {}", where, error)
        _try_mark(db, now)


def _due(db: Database, now: datetime) -> bool:
    last = _position(db, VACUUMED)
    return last is None or not timedelta(0) <= now - last < EVERY


def _vacuum(db: Database, where: str, now: datetime) -> bool:
    """Vacuum if there is enough to give back; whether it did (the day's vacuum is done)."""
    mode = _pragma(db, "auto_vacuum")
    if mode == INCREMENTAL:
        free = _pragma(db, "freelist_count")
        if free < MIN_PAGES:
            return False  # not worth it yet: looked at again after the next commit
        pages = min(free, PAGES_PER_RUN)
        # executescript: execute() steps this pragma once, which frees a single page.
        db.conn.executescript(f"PRAGMA incremental_vacuum({pages});")
        logger.debug("state database {}: {} free pages given back to the disk", where, pages)
        return True
    if mode == NONE:
        _switch_or_advise(db, where, now)
        return True
    return False


def _switch_or_advise(db: Database, where: str, now: datetime) -> None:
    """An older database: switched now when small, else the one-time advice (once ever)."""
    size = _pragma(db, "page_count") * _pragma(db, "page_size")
    megabytes = size / 1024 / 1024
    if size <= SMALL_BYTES:
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")
        logger.info("state database {} ({:.0f} MB) now gives pruned space back", where, megabytes)
        return
    if _position(db, ADVISED) is not None:
        return
    logger.warning(
        "state database {} ({:.0f} MB) keeps the space of pruned rows for new ones; to give it "
        'back to the disk, once, while no sweep runs: python -c "import sqlite3; c = '
        "sqlite3.connect(r'{}'); c.execute('PRAGMA auto_vacuum = INCREMENTAL'); "
        "c.execute('VACUUM')\"",
        where,
        megabytes,
        _file(db) or where,
    )
    _mark(db, ADVISED, now)


def _pragma(db: Database, name: str) -> int:
    return int(db.execute(f"PRAGMA {name}").fetchone()[0])


def _position(db: Database, name: str) -> datetime | None:
    row = db.execute("select position from cursor where name = ?", [name]).fetchone()
    return parse_time(row[0]) if row and row[0] else None


def _file(db: Database) -> str:
    """The database's file ('' in memory)."""
    return str(db.execute("PRAGMA database_list").fetchone()[2] or "")


def _mark(db: Database, name: str, when: datetime) -> None:
    """Record ``when`` in the cursor table, in a transaction of its own."""
    at = format_time(when)
    with db.atomic():
        db.execute(
            "insert into cursor (name, position, updated_at) values (?, ?, ?)"
            " on conflict (name) do update set position = excluded.position,"
            " updated_at = excluded.updated_at",
            [name, at, at],
        )


def _try_mark(db: Database, now: datetime) -> None:
    """A failed vacuum waits a day too: one WARNING a day at most."""
    with suppress(sqlite3.Error):  # the next sweep tries again
        _mark(db, VACUUMED, now)

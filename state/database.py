"""Open the state database, apply pending migrations, and map sqlite errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from state.migrations import MIGRATIONS, Migration

BUSY_TIMEOUT_MS = 10_000


class StateError(Exception):
    """The state database cannot be read or written."""

    exit_code = 1


class SchemaTooNewError(StateError):
    """The database was written by a newer reload-chain; this one must not touch it."""

    exit_code = 2


@contextmanager
def state_errors(path: str) -> Iterator[None]:
    """Turn any sqlite3 error inside the block into a ``StateError`` naming the file."""
    try:
        yield
    except sqlite3.Error as error:
        raise StateError(f"state database {path}: {error}") from error


def open_database(path: str | Path, migrations: tuple[Migration, ...] = MIGRATIONS) -> Database:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    ``":memory:"`` gives a private in-memory database, for tests.
    """
    where = str(path)
    with state_errors(where):
        if where == ":memory:":
            db = Database(memory=True)
        else:
            Path(where).parent.mkdir(parents=True, exist_ok=True)
            # The background runner sweeps on a worker thread; max_instances=1 keeps it
            # to one thread at a time, so sharing the connection across threads is safe.
            connection = sqlite3.connect(where, check_same_thread=False)
            db = Database(connection)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            migrate(db, migrations, where)
        except BaseException:
            # An open handle keeps the file locked on Windows.
            db.close()
            raise
        return db


def migrate(db: Database, migrations: tuple[Migration, ...], where: str) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names."""
    db.table("migrations").create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    applied = {row["name"] for row in db.table("migrations").rows}
    unknown = applied - {migration.name for migration in migrations}
    if unknown:
        raise SchemaTooNewError(
            f"state database {where} was written by a newer reload-chain "
            f"(unknown migrations: {', '.join(sorted(unknown))}); upgrade reload-chain"
        )
    done = []
    for migration in migrations:
        if migration.name in applied:
            continue
        with db.atomic():
            migration.apply(db)
            # SQLite's clock: the Python wall clock is read only in scheduler/clock.py.
            db.execute(
                "insert into migrations (name, applied_at)"
                " values (?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                [migration.name],
            )
        done.append(migration.name)
    return done

"""Open the state database, apply pending migrations, and map sqlite errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from qlik.errors import ReloadChainError
from state.migrations import MIGRATIONS, Migration
from state.watermark import watermark_path

BUSY_TIMEOUT_MS = 10_000


class StateError(ReloadChainError):
    """The state database cannot be read or written."""


class SchemaTooNewError(StateError):
    """The database was written by a newer reload-chain; this one must not touch it."""

    exit_code = 2


class DamagedDatabaseError(StateError):
    """The file is not a sound reload-chain database; it will not mend itself (exit 2)."""

    exit_code = 2


class EmptiedDatabaseError(StateError):
    """An existing database file of zero bytes: its memory of past starts is gone."""

    exit_code = 2


_DAMAGED = (
    "not a reload-chain state database, or damaged; left as it is: restore it from a backup "
    "or set RELOAD_CHAIN_DB to another file"
)
# What an administrator can do about the sqlite errors that are not the program's own fault.
_HINTS = {
    "SQLITE_NOTADB": _DAMAGED,
    "SQLITE_CORRUPT": _DAMAGED,
    "SQLITE_BUSY": "another program holds a write lock on it",
    "SQLITE_READONLY": "the file or its folder is read-only; make both writable for this user",
    "SQLITE_CANTOPEN": "it must be a file, in a folder this user can write",
}


@contextmanager
def state_errors(path: str) -> Iterator[None]:
    """Turn any sqlite3 error inside the block into a ``StateError`` naming the file."""
    try:
        yield
    except sqlite3.Error as error:
        name = getattr(error, "sqlite_errorname", "")
        hint = _HINTS.get(name, "")
        suffix = f" ({hint})" if hint else ""
        damaged = name in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
        kind = DamagedDatabaseError if damaged else StateError
        raise kind(f"state database {path}: {error}{suffix}") from error


def check_integrity(db: Database, where: str) -> None:
    """``PRAGMA quick_check``: a damaged database is one clear line, never a crash later on."""
    with state_errors(where):
        problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        first = " ".join(problems[0].replace("*** in database main ***", "").split())[:200]
        raise DamagedDatabaseError(
            f"state database {where} is damaged (PRAGMA quick_check: {first}); {_DAMAGED}"
        )


def refuse_emptied(path: Path) -> None:
    """An existing zero-byte database file that once committed a sweep is an error.

    It forgot every start it made. Without a watermark beside it, it never committed one
    (SQLite creates the file before the first write), so it is simply new.
    """
    try:
        emptied = path.is_file() and path.stat().st_size == 0 and watermark_path(path).exists()
    except OSError:
        return  # opening it will say what is wrong
    if emptied:
        raise EmptiedDatabaseError(
            f"state database {path} is an empty file (0 bytes): it was emptied or truncated and "
            "no longer knows which reloads it started; restore it from a backup, or start afresh "
            "with --new-database (its first sweep then treats successors that reloaded after "
            "their source as handled)"
        )


class StateDatabase(Database):
    """sqlite-utils' ``Database`` whose outermost ``atomic()`` block begins ``IMMEDIATE``.

    With a deferred ``BEGIN`` a write block reads first and asks for the write lock later;
    when another program holds a write transaction, SQLite then answers "database is
    locked" at once instead of waiting ``BUSY_TIMEOUT_MS``. ``BEGIN IMMEDIATE`` takes the
    write lock first, so it waits for the other writer like any other lock.
    """

    @contextmanager
    def atomic(self) -> Iterator[StateDatabase]:
        """One transaction (a savepoint when nested) that holds the write lock from its start."""
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.rollback()
            raise


def open_database(
    path: str | Path,
    migrations: tuple[Migration, ...] = MIGRATIONS,
    *,
    new_database: bool = False,
) -> Database:
    """Open (creating if needed) the database at ``path`` and bring its schema up to date.

    ``":memory:"`` gives a private in-memory database, for tests. An existing file of zero
    bytes is refused (``EmptiedDatabaseError``) unless ``new_database``.
    """
    where = str(path)
    with state_errors(where):
        if where == ":memory:":
            db = StateDatabase(memory=True)
        else:
            if not new_database:
                refuse_emptied(Path(where))
            _make_folder(Path(where))
            # The background runner sweeps on a worker thread; max_instances=1 keeps it
            # to one thread at a time, so sharing the connection across threads is safe.
            connection = sqlite3.connect(where, check_same_thread=False)
            db = StateDatabase(connection)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:
            _incremental_if_new(db)
            migrate(db, migrations, where)
        except BaseException:
            # An open handle keeps the file locked on Windows.
            db.close()
            raise
        return db


def _incremental_if_new(db: Database) -> None:
    """A new database gives the pages that pruning frees back to the disk, a few at a time.

    ``auto_vacuum`` can only be chosen before the first table exists; an older database is
    converted once by ``state.vacuum``, or told how to be.
    """
    if db.execute("select count(*) from sqlite_master").fetchone()[0] == 0:
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")


def _make_folder(path: Path) -> None:
    """Create the database's folder; a path that cannot hold one is a ``StateError``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        # A file where the folder should be: the OS says "File exists", which misleads.
        blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocked} is a file, not a folder" if blocked else error.strerror or error
        raise StateError(
            f"state database {path}: cannot create its folder {path.parent}: {reason}"
        ) from None


def migrate(db: Database, migrations: tuple[Migration, ...], where: str) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names."""
    if not db.table("migrations").exists():
        # Only when missing: a database that is up to date is opened without writing to it.
        db.table("migrations").create({"name": str, "applied_at": str}, pk="name")
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
            # SQLite's clock: the Python wall clock is read only in qlik/clock.py.
            db.execute(
                "insert into migrations (name, applied_at)"
                " values (?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                [migration.name],
            )
        done.append(migration.name)
    return done


def open_existing(path: Path) -> Database | None:
    """The migrated database, or None when there is no file yet (a fresh machine)."""
    if path.exists():
        return open_database(path)
    # A path that can never hold a database is an error now, not "no sweep yet".
    blocked = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise StateError(f"state database {path}: {blocked} is a file, not a folder")
    return None


def check_file(path: Path) -> None:
    """Check the database file read-only (``PRAGMA quick_check``), migrating nothing.

    For ``doctor``: a ``StateError`` says what is wrong with the file.
    """
    refuse_emptied(path)
    with state_errors(str(path)):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        check_integrity(Database(conn), str(path))
    finally:
        conn.close()

"""One sweep at a time across processes: an OS file lock next to the database.

The operating system releases the lock when its process dies, even by ``kill -9``, so a
crashed sweep never blocks the next one; only a live sweep makes another exit with code 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from qlik.errors import ReloadChainError
from scheduler.settings import SettingsError


class LockHeldError(ReloadChainError):
    """Another reload-chain process is sweeping this database right now."""

    exit_code = 3


def lock_path(database: Path) -> Path:
    """``state.db`` -> ``state.db.lock``, beside the database."""
    return database.with_name(database.name + ".lock")


@contextmanager
def sweep_lock(database: Path) -> Iterator[None]:
    """Hold the sweep lock for the block, or raise ``LockHeldError`` at once."""
    path = lock_path(database)
    lock = FileLock(str(path), timeout=0)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise LockHeldError(
            f"another reload-chain sweep is running on {database} (lock {path}); "
            "this one stops without doing anything"
        ) from None
    except OSError as error:  # after Timeout, which is an OSError too
        raise SettingsError(
            f"cannot lock the database {database}: {error.strerror or error} ({path}); "
            "set RELOAD_CHAIN_DB to a writable folder"
        ) from None
    try:
        yield
    finally:
        lock.release()

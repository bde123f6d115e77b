"""``reload-chain backup FILE``: a consistent copy of the state database, safe while sweeps run.

SQLite's online backup API copies the database page by page under a shared lock, so a sweep
committing meanwhile waits a moment (its busy timeout) or makes the copy start again: the copy
is always one committed state, never half of a sweep. The copy is written beside the target
and renamed over it, so a crash leaves the previous backup whole.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from state.database import StateError, check_integrity, state_errors

PAGES_PER_STEP = 4096  # 16 MB at 4 KiB pages: a sweep waits for one step at most


class BackupError(StateError):
    """Nothing to back up, or the backup cannot go where it was asked to: fix the command."""

    exit_code = 2


@dataclass(frozen=True)
class Backup:
    """What was copied where."""

    source: Path
    target: Path
    pages: int
    size_bytes: int


def backup_database(source: Path, target: Path) -> Backup:
    """Copy ``source`` to ``target`` (replaced if it exists), checked with ``quick_check``.

    Raises ``BackupError`` (exit 2) when there is no database yet, when the target is the
    database itself or cannot be written; ``StateError`` (exit 1: try again) when the database
    stays locked; the target is then left as it was.
    """
    if not source.is_file():
        raise BackupError(f"state database {source} does not exist yet: nothing to back up")
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"backup {target}: that is the state database itself; name another file")
    partial = target.with_name(target.name + ".partial")
    try:
        pages = _copy(source, partial)
        os.replace(partial, target)
    except OSError as error:
        raise BackupError(f"backup {target}: cannot write it: {error.strerror or error}") from None
    finally:
        partial.unlink(missing_ok=True)
    return Backup(source, target, pages, target.stat().st_size)


def _copy(source: Path, partial: Path) -> int:
    """The online backup into ``partial``, then its integrity check; the pages copied."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.unlink(missing_ok=True)
    with state_errors(str(source)):
        reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        with state_errors(str(partial)):
            copy = sqlite3.connect(partial)
        try:
            with state_errors(str(source)):
                reader.backup(copy, pages=PAGES_PER_STEP)
            check_integrity(Database(copy), str(source))
            (pages,) = copy.execute("PRAGMA page_count").fetchone()
        finally:
            copy.close()
    finally:
        reader.close()
    return int(pages)

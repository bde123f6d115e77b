"""The highest cursor this database ever committed, kept beside it in a small file.

A database replaced by an older copy (a restored backup) or by a new one forgets which
source reloads it already handled, and its next sweeps would read them again as new. The
watermark file survives that: events up to its time may have been handled by the lost
state, so their successors are judged with the lost-state rule (``jobs.decide``). It only
ever moves forward, and is written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from loguru import logger

from qlik.times import format_time, parse_time


def watermark_path(database: Path) -> Path:
    """``state.db`` -> ``state.db.watermark``, beside the database."""
    return database.with_name(database.name + ".watermark")


class Watermark:
    """Reads and advances the watermark of one database file."""

    def __init__(self, database: Path) -> None:
        self.path = watermark_path(database)

    def read(self) -> datetime | None:
        """The highest cursor committed, or None (no file, or one that cannot be read)."""
        try:
            return parse_time(self.path.read_text(encoding="utf-8").strip())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            logger.warning("watermark {} unreadable, ignored: {}", self.path, error)
            return None

    def advance(self, cursor: datetime) -> None:
        """Record ``cursor`` if it is beyond the current watermark; a failure is only logged.

        The sweep has committed by now; losing the watermark costs only the lost-state check.
        """
        known = self.read()
        if known is not None and known >= cursor:
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(format_time(cursor) + "\n", encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as error:
            logger.warning("cannot write the watermark {}: {}", self.path, error)

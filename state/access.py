"""What every part of the ``Store`` shares: the database, its sqlite errors mapped once, and
the one query that looks up many ids at a time.

A subclass of ``StateAccess`` has every public method wrapped by ``state_errors``: any
``sqlite3.Error`` inside it becomes a ``StateError`` naming the database (``where``), and no
method needs a ``with`` block of its own. A public method must therefore finish its work with
the database before it returns: a lazy iterator handed back would escape the mapping.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlite_utils import Database

from state.database import state_errors

T = TypeVar("T")
# The database's clock, for elapsed times only: see ``StoreReads.intent_ages``.
DB_NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
# SQLite limits the variables of one statement, so a catch-up's ids go in chunks this long.
CHUNK = 500


def _unchanged(text: str) -> str:
    return text


class StateAccess:
    """The program's handle on its SQLite database, shared by the Store's reads and writes.

    ``scrub`` removes secrets from free text (error details, raw events) before it is stored.
    """

    def __init__(
        self,
        db: Database,
        where: str = "state database",
        scrub: Callable[[str], str] = _unchanged,
        in_flight_s: float = 60.0,
    ) -> None:
        self.db = db
        self.where = where
        self.scrub = scrub
        # How long a start sent by this process may take to land (twice its request deadline).
        self.in_flight_s = in_flight_s

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Map the sqlite errors of every public method the subclass defines."""
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(value):
                setattr(cls, name, _mapped(value))

    def _rows_in(self, sql: str, values: Iterable[str]) -> list[tuple[Any, ...]]:
        """``sql`` with its ``{}`` filled by placeholders, run per chunk of the distinct values."""
        rows: list[tuple[Any, ...]] = []
        distinct = sorted(set(values))
        for start in range(0, len(distinct), CHUNK):
            chunk = distinct[start : start + CHUNK]
            statement = sql.format(",".join("?" * len(chunk)))
            rows.extend(self.db.execute(statement, chunk).fetchall())
        return rows


def _mapped(method: Callable[..., T]) -> Callable[..., T]:
    """``method`` with any sqlite error inside it raised as a ``StateError``."""

    @functools.wraps(method)
    def mapped(self: StateAccess, *args: Any, **kwargs: Any) -> T:
        with state_errors(self.where):
            return method(self, *args, **kwargs)

    return mapped

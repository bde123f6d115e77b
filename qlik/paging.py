"""Whether a listing's ``next`` link may be followed: a chain that does not advance is stopped.

A tenant (or a proxy in front of it) that hands out a new link with every page would otherwise
be paged for ever. Every listing stops when a link repeats or after ``MAX_PAGES`` pages; the
audit listing, sorted by event time, also stops when its pages stop moving forward in time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qlik.errors import BadResponseError
from qlik.models import Page
from qlik.times import parse_time

# 10,000 pages of 100 rows: far beyond any real window, still a bound.
MAX_PAGES = 10_000
# A page of 100 events within one second is legal, so one page that does not advance is too;
# this many in a row is a chain going round.
MAX_STALLED_PAGES = 20


class PageGuard:
    """Checks each ``next`` link of one listing before it is followed."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._followed: set[str] = set()

    def follow(self, page: Page, link: str) -> None:
        """Allow following ``link`` from ``page``, else raise ``BadResponseError``."""
        if link in self._followed:
            raise BadResponseError(f"{self._endpoint}: next link repeats: {link}")
        if len(self._followed) + 1 >= MAX_PAGES:
            raise BadResponseError(f"{self._endpoint}: more than {MAX_PAGES} pages; stopped")
        self._followed.add(link)


class TimeOrderedGuard(PageGuard):
    """A ``PageGuard`` for events sorted by ``eventTime`` ascending: time must move on."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        self._newest: datetime | None = None
        self._stalled = 0

    def follow(self, page: Page, link: str) -> None:
        """Also raise ``BadResponseError`` after ``MAX_STALLED_PAGES`` pages in a row whose
        newest event is no later than the newest of the pages before them."""
        newest = _newest_event_time(page.data)
        if newest is not None and (self._newest is None or newest > self._newest):
            self._newest = newest
            self._stalled = 0
        else:
            self._stalled += 1
        if self._stalled >= MAX_STALLED_PAGES:
            raise BadResponseError(
                f"{self._endpoint}: {self._stalled} pages in a row not later than "
                f"{self._newest}: the next links do not advance; stopped"
            )
        super().follow(page, link)


def _newest_event_time(rows: list[Any]) -> datetime | None:
    """The newest readable ``eventTime`` of a page; malformed rows are not this guard's business."""
    times: list[datetime] = []
    for row in rows:
        value = row.get("eventTime") if isinstance(row, dict) else None
        if isinstance(value, str):
            try:
                times.append(parse_time(value))
            except ValueError:
                continue
    return max(times, default=None)

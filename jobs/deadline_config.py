"""``[[deadline]]`` tables of the settings TOML: an app must have reloaded by a local time.

Validated when the file is loaded, like the chain tables (``jobs.chainfile``): an error names
the file and the line. Times are local wall times in an IANA timezone: ``by`` on a day when the
clocks change resolves as ``zoneinfo`` does with ``fold=0``: a time the clocks skip (02:30 when
they jump from 02:00 to 03:00) counts with the offset before the change, so it falls one hour
later by the new clock (03:30); a time that happens twice counts at its first occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from jobs.chainfile import _known_keys, _Locator, _tables

DEADLINE_TABLE = "deadline"
DEADLINE_KEYS = frozenset({"app", "by", "timezone", "days"})
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY_DAY = frozenset(range(7))
_HH_MM = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True)
class Deadline:
    """``app_id`` must have a successful reload that ended before ``by`` local time on ``days``.

    ``days`` holds weekday numbers (Monday is 0); ``name`` is the alias it was written with.
    """

    app_id: str
    by: time
    timezone: str = "UTC"
    days: frozenset[int] = EVERY_DAY
    name: str | None = None
    origin: str = ""

    @property
    def zone(self) -> tzinfo:
        """The timezone as a ``tzinfo``."""
        return zone_named(self.timezone)

    @property
    def label(self) -> str:
        """The alias when there is one, else the app id."""
        return self.name or self.app_id

    @property
    def by_text(self) -> str:
        """``by`` as written in the settings, ``HH:MM``."""
        return self.by.strftime("%H:%M")

    def applies_on(self, day: date) -> bool:
        """Is ``day`` one of the deadline's weekdays?"""
        return day.weekday() in self.days

    def local_day(self, moment: datetime) -> date:
        """The date in the deadline's timezone at ``moment`` (an aware time)."""
        return moment.astimezone(self.zone).date()

    def by_at(self, day: date) -> datetime:
        """The instant (UTC) of ``by`` on the local ``day``; ``fold=0`` on clock changes."""
        return datetime.combine(day, self.by, tzinfo=self.zone).astimezone(UTC)

    def day_start(self, day: date) -> datetime:
        """The instant (UTC) the local ``day`` begins."""
        return datetime.combine(day, time(0), tzinfo=self.zone).astimezone(UTC)


def zone_named(name: str) -> tzinfo:
    """The IANA zone ``name``; ``UTC`` needs no time zone database (Windows without tzdata)."""
    if name.upper() == "UTC":
        return UTC
    return ZoneInfo(name)


def parse_deadlines(
    document: Mapping[str, Any], text: str, path: str, aliases: Mapping[str, str] | None = None
) -> tuple[Deadline, ...]:
    """Validate and resolve the ``[[deadline]]`` tables; ``aliases`` are the ``[apps]`` ones."""
    where = _Locator(text, path, aliases or {})
    deadlines: list[Deadline] = []
    for index, table in enumerate(_tables(document, DEADLINE_TABLE, where)):
        deadline = _deadline(table, index, where)
        _check_overlap(deadline, deadlines, index, where)
        deadlines.append(deadline)
    return tuple(deadlines)


def _deadline(table: dict[str, Any], index: int, where: _Locator) -> Deadline:
    _known_keys(table, DEADLINE_KEYS, "deadline", index, where)
    if "app" not in table:
        raise where.error("deadline", index, None, "[[deadline]] needs app = alias or id")
    app_id = where.app(table["app"], "deadline", index, "app")
    if "by" not in table:
        raise where.error("deadline", index, None, '[[deadline]] needs by = "HH:MM"')
    return Deadline(
        app_id=app_id,
        by=_by(table["by"], index, where),
        timezone=_timezone(table.get("timezone", "UTC"), index, where),
        days=_days(table.get("days", list(WEEKDAYS)), index, where),
        name=_name_of(table["app"], app_id, where.aliases),
        origin=f"{where.path}:{where.line('deadline', index, None)}",
    )


def _by(value: Any, index: int, where: _Locator) -> time:
    by = _clock_time(value)
    if by is None:
        message = f'by = {value!r}: write the local time as "HH:MM" (24 h), e.g. "07:00"'
        raise where.error("deadline", index, "by", message)
    if by == time(0):
        message = 'by = "00:00" leaves no time in the day; for its end write "23:59"'
        raise where.error("deadline", index, "by", message)
    return by


def _clock_time(value: Any) -> time | None:
    """``"HH:MM"`` text, or a TOML local time (``07:00:00``) in whole minutes."""
    if isinstance(value, time):
        whole = value.tzinfo is None and value.second == 0 and value.microsecond == 0
        return value if whole else None
    match = _HH_MM.match(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return time(int(match[1]), int(match[2]))


def _timezone(value: Any, index: int, where: _Locator) -> str:
    if not isinstance(value, str) or not value:
        raise where.error("deadline", index, "timezone", "timezone must be an IANA name")
    try:
        zone_named(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder ("Europe")
        hint = "" if available_timezones() else " (no time zone database: install tzdata)"
        message = f"timezone = {value!r} is not an IANA name such as Europe/Paris{hint}"
        raise where.error("deadline", index, "timezone", message) from None
    return value


def _days(value: Any, index: int, where: _Locator) -> frozenset[int]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        raise where.error("deadline", index, "days", 'days must list weekdays, e.g. ["mon"]')
    days = set()
    for name in names:
        if not isinstance(name, str) or name.lower() not in WEEKDAYS:
            message = f"days: {name!r} is not one of {', '.join(WEEKDAYS)}"
            raise where.error("deadline", index, "days", message)
        days.add(WEEKDAYS.index(name.lower()))
    return frozenset(days)


def _name_of(written: Any, app_id: str, aliases: Mapping[str, str]) -> str | None:
    if isinstance(written, str) and written in aliases:
        return written
    return next((alias for alias, ident in aliases.items() if ident == app_id), None)


def _check_overlap(
    deadline: Deadline, earlier: list[Deadline], index: int, where: _Locator
) -> None:
    """One deadline per app and day: a day is judged once (``deadline_days`` is keyed so)."""
    for other in earlier:
        shared = deadline.days & other.days
        if other.app_id == deadline.app_id and shared:
            day = WEEKDAYS[min(shared)]
            message = f"{deadline.label} already has a deadline on {day} ({other.origin})"
            raise where.error("deadline", index, "app", message)

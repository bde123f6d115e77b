"""The ``[[alert]]`` tables of the settings file: where alerts go, which kinds, how often.

Each table becomes an ``AlertRoute``: its Apprise URLs, the kinds it takes and its
``repeat_minutes``. A URL holds passwords and tokens, so it is never stored or logged: the
outbox names each URL by its ``destination``, a stable hash, and ``url_secrets`` lists what the
scrubber must hide. Errors name the file and the line, and exit 2 (``SettingsError``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from jobs.alerts import KINDS
from scheduler.settings import SettingsError

ALERT_TABLE = "alert"
ALERT_KEYS = frozenset({"url", "on", "repeat_minutes"})
DEFAULT_REPEAT_MINUTES = 60
MAX_REPEAT_MINUTES = 7 * 24 * 60


def destination_of(url: str) -> str:
    """A URL's stable name in the outbox: 16 hex digits of its SHA-256, never the URL."""
    return hashlib.sha256(url.strip().encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class AlertRoute:
    """One ``[[alert]]`` table: its URLs (never shown), kinds, repeat window and origin."""

    urls: tuple[str, ...] = field(repr=False)
    kinds: frozenset[str]
    repeat_minutes: int = DEFAULT_REPEAT_MINUTES
    origin: str = ""  # file:line, for messages

    @property
    def destinations(self) -> tuple[str, ...]:
        """Each URL's ``destination_of``, in order: an alert is one outbox row per URL."""
        return tuple(destination_of(url) for url in self.urls)


def parse_alerts(document: Mapping[str, Any], text: str, path: str) -> tuple[AlertRoute, ...]:
    """The routes of every ``[[alert]]`` table of the settings document, validated."""
    if ALERT_TABLE not in document:
        return ()
    where = _Lines(text, path)
    tables = document[ALERT_TABLE]
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise where.error(0, None, "write [[alert]] tables, one per destination")
    return tuple(_route(table, index, where) for index, table in enumerate(tables))


def alert_secrets(routes: Iterable[AlertRoute]) -> list[str]:
    """Every password and token of the routes' URLs, for the scrubber."""
    return [secret for route in routes for url in route.urls for secret in url_secrets(url)]


def url_secrets(url: str) -> list[str]:
    """The URL's password (as written and decoded) and the fields Apprise declares private."""
    # Apprise takes a tenth of a second to import: only settings with alerts pay for it. Its
    # parsing is alert_send's, under the filter that keeps Apprise's logs free of the URL.
    from scheduler.alert_send import _asset, _load, _plugin_secrets, _SecretFilter

    found: list[str] = []
    with suppress(ValueError):  # a URL Python cannot split has no password to find
        password = urlsplit(url.strip()).password
        found += [password, unquote(password)] if password else []
    with _quiet_apprise(), _SecretFilter(url) as guard:
        plugin, _ = _load(url, guard, _asset())
    if plugin is not None:
        found += _plugin_secrets(plugin)
    return list(dict.fromkeys(found))


@contextmanager
def _quiet_apprise() -> Iterator[None]:
    """Apprise logs its own ERROR line for a URL it cannot parse: the settings error says it."""
    apprise_logger = logging.getLogger("apprise")
    level = apprise_logger.level
    apprise_logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        apprise_logger.setLevel(level)


def _route(table: dict[str, Any], index: int, where: _Lines) -> AlertRoute:
    for key in table:
        if key not in ALERT_KEYS:
            raise where.error(index, key, f"unknown key {key!r} in [[alert]]")
    return AlertRoute(
        _urls(table.get("url"), index, where),
        _kinds(table.get("on", list(KINDS)), index, where),
        _repeat(table.get("repeat_minutes", DEFAULT_REPEAT_MINUTES), index, where),
        f"{where.path}:{where.line(index, None)}",
    )


def _urls(value: Any, index: int, where: _Lines) -> tuple[str, ...]:
    urls = [value] if isinstance(value, str) else value
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise where.error(index, "url", "url must be an Apprise URL or a list of them")
    from scheduler.alert_send import check_urls

    with _quiet_apprise():
        bad = check_urls(urls)
    if bad:
        raise where.error(index, "url", f"not a usable Apprise URL: {', '.join(bad)}")
    return tuple(url.strip() for url in urls)


def _kinds(value: Any, index: int, where: _Lines) -> frozenset[str]:
    kinds = [value] if isinstance(value, str) else value
    if not isinstance(kinds, list) or not kinds:
        raise where.error(index, "on", f"on must list alert kinds: {', '.join(KINDS)}")
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        message = f"unknown alert kind {unknown[0]!r}: use {', '.join(KINDS)}"
        raise where.error(index, "on", message)
    return frozenset(kinds)


def _repeat(value: Any, index: int, where: _Lines) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(index, "repeat_minutes", "repeat_minutes must be a whole number")
    if not 0 <= value <= MAX_REPEAT_MINUTES:
        message = f"repeat_minutes = {value}: must be from 0 to {MAX_REPEAT_MINUTES} (a week)"
        raise where.error(index, "repeat_minutes", message)
    return value


@dataclass(frozen=True)
class _Lines:
    """Finds the line of the ``index``-th ``[[alert]]`` table, or of a key in it."""

    text: str
    path: str

    def line(self, index: int, key: str | None) -> int:
        """The key's line in that table, else the table's header line, else 1."""
        seen, found = -1, 0
        for number, raw in _numbered(self.text):
            header = _HEADER.match(raw)
            if found and (header or raw.lstrip().startswith("[")):
                break
            if header:
                seen += 1
                found = number if seen == index else 0
            elif found and key and re.match(rf"""^\s*["']?{re.escape(key)}["']?\s*=""", raw):
                return number
        return found or next((n for n, raw in _numbered(self.text) if _ASSIGN.match(raw)), 1)

    def error(self, index: int, key: str | None, message: str) -> SettingsError:
        return SettingsError(f"{self.path}:{self.line(index, key)}: {message}")


_HEADER = re.compile(r"^\s*\[\[\s*alert\s*\]\]\s*(#.*)?$")
_ASSIGN = re.compile(r"""^\s*(\[\s*)?["']?alert["']?\s*(=|\])""")


def _numbered(text: str) -> Iterator[tuple[int, str]]:
    return enumerate(text.splitlines(), start=1)

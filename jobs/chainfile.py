"""The chain file: ``[apps]`` aliases, ``[[edge]]`` and ``[[join]]`` tables in the settings TOML.

Everything is validated when the file is loaded; an error names the file and the line, so an
administrator never finds out at 3 a.m. that a chain silently did nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from jobs.edges import Edge, Join, is_resource_id
from qlik.errors import ReloadChainError

CONDITIONS = ("success", "failure", "any")
DEFAULT_JOIN_WINDOW_MINUTES = 1440
EDGE_KEYS = frozenset({"from", "to", "on"})
JOIN_KEYS = frozenset({"target", "after", "within_minutes"})


class ChainFileError(ReloadChainError, ValueError):
    """The chain part of the settings file is invalid; the message names file and line."""

    exit_code = 2


@dataclass(frozen=True)
class ChainFile:
    """Edges and joins declared in the settings file, ids resolved."""

    edges: tuple[Edge, ...] = ()
    joins: tuple[Join, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def edges_by_source(self) -> dict[str, list[Edge]]:
        """Every edge and every join member's edge, by source app."""
        by_source: dict[str, list[Edge]] = {}
        join_edges = [
            Edge(member, join.target, "success", join.origin, join)
            for join in self.joins
            for member in join.after
        ]
        for edge in [*self.edges, *join_edges]:
            by_source.setdefault(edge.source, []).append(edge)
        return by_source

    def name_of(self, app_id: str) -> str | None:
        """The alias an id was given in ``[apps]``, if any."""
        return next((alias for alias, ident in self.aliases.items() if ident == app_id), None)


def parse_chain_file(document: Mapping[str, Any], text: str, path: str) -> ChainFile:
    """Validate and resolve the ``apps``, ``edge`` and ``join`` tables of a settings file."""
    aliases = _aliases(document.get("apps", {}), _Locator(text, path))
    where = _Locator(text, path, aliases)
    edges = [
        edge
        for index, table in enumerate(_tables(document, "edge", where))
        for edge in _edges(table, index, where)
    ]
    joins = [_join(t, i, where) for i, t in enumerate(_tables(document, "join", where))]
    return ChainFile(tuple(edges), tuple(joins), aliases)


def _aliases(table: Any, where: _Locator) -> dict[str, str]:
    if not isinstance(table, dict):
        raise where.error("apps", None, None, "[apps] must be a table of alias = id")
    aliases = {}
    for alias, ident in table.items():
        if not isinstance(ident, str) or not is_resource_id(ident):
            raise where.error(
                "apps", None, alias, f"{alias} = {ident!r} is not an app or script id"
            )
        aliases[alias] = ident.lower()
    return aliases


def _tables(document: Mapping[str, Any], name: str, where: _Locator) -> list[dict[str, Any]]:
    tables = document.get(name, [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise where.error(name, 0, None, f"write [[{name}]] tables, one per {name}")
    return cast(list[dict[str, Any]], tables)


def _edges(table: dict[str, Any], index: int, where: _Locator) -> list[Edge]:
    _known_keys(table, EDGE_KEYS, "edge", index, where)
    source = where.app(table.get("from"), "edge", index, "from")
    targets = table.get("to")
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not targets:
        raise where.error("edge", index, "to", "to must name at least one app")
    condition = table.get("on", "success")
    if condition not in CONDITIONS:
        raise where.error("edge", index, "on", f"on = {condition!r}: use success, failure or any")
    origin = f"{where.path}:{where.line('edge', index, None)}"
    return [
        Edge(source, where.app(target, "edge", index, "to"), condition, origin)
        for target in targets
    ]


def _join(table: dict[str, Any], index: int, where: _Locator) -> Join:
    _known_keys(table, JOIN_KEYS, "join", index, where)
    target = where.app(table.get("target"), "join", index, "target")
    after = table.get("after")
    if not isinstance(after, list) or not after:
        raise where.error("join", index, "after", "after must list at least one app")
    members = tuple(where.app(a, "join", index, "after") for a in after)
    window = table.get("within_minutes", DEFAULT_JOIN_WINDOW_MINUTES)
    if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
        raise where.error(
            "join", index, "within_minutes", "within_minutes must be a whole number > 0"
        )
    return Join(target, members, window, f"{where.path}:{where.line('join', index, None)}")


def _known_keys(
    table: dict[str, Any], known: frozenset[str], name: str, index: int, where: _Locator
) -> None:
    for key in table:
        if key not in known:
            raise where.error(name, index, key, f"unknown key {key!r} in [[{name}]]")


@dataclass(frozen=True)
class _Locator:
    """Finds the line of a table or key in the TOML text, for error messages."""

    text: str
    path: str
    aliases: Mapping[str, str] = field(default_factory=dict)

    def app(self, value: Any, table: str, index: int, key: str) -> str:
        """The app id an alias or id names; an error naming the line otherwise."""
        if isinstance(value, str) and value in self.aliases:
            return self.aliases[value]
        if isinstance(value, str) and is_resource_id(value):
            return value.lower()
        if isinstance(value, str):
            message = f"{value!r} is neither an alias in [apps] nor an app id"
            raise self.error(table, index, key, message)
        raise self.error(table, index, key, f"{key} must name an app (alias or id)")

    def line(self, table: str, index: int | None, key: str | None) -> int:
        """The line of ``key`` in the ``index``-th ``table``, else of the table, else 1."""
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*(#.*)?$")
        seen, found = -1, 0
        for number, raw in enumerate(self.text.splitlines(), start=1):
            if header.match(raw):
                seen += 1
                if seen == (index or 0):
                    found = number
            elif found and raw.lstrip().startswith("["):
                break
            elif found and key and _assigns(raw, key):
                return number
        return found or self._assignment(table) or 1

    def _assignment(self, name: str) -> int:
        """The line of a top-level ``name = ...`` (a table written the wrong way)."""
        for number, raw in enumerate(self.text.splitlines(), start=1):
            if raw.lstrip().startswith("["):
                return 0
            if _assigns(raw, name):
                return number
        return 0

    def error(self, table: str, index: int | None, key: str | None, message: str) -> ChainFileError:
        return ChainFileError(f"{self.path}:{self.line(table, index, key)}: {message}")


def _assigns(line: str, key: str) -> bool:
    """Does this line assign ``key``, written bare, "quoted" or 'quoted'?"""
    quoted = "|".join(re.escape(form) for form in (key, f'"{key}"', f"'{key}'"))
    return re.match(rf"^\s*(?:{quoted})\s*=", line) is not None

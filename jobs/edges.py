"""Chain edges: "when source finishes with this outcome, reload target"."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from qlik.events import Outcome

Condition = Literal["success", "failure", "any"]

# App ids are GUIDs; script ids are 24-hex object ids.
RESOURCE_ID = re.compile(
    r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{24})",
    re.IGNORECASE,
)
ON_FAILURE = "onfail-"


@dataclass(frozen=True)
class Join:
    """Reload ``target`` once every app in ``after`` succeeded within ``within_minutes``."""

    target: str
    after: tuple[str, ...]
    within_minutes: int
    origin: str


@dataclass(frozen=True)
class Edge:
    """Reload ``target`` when ``source`` finishes with an outcome matching ``on``.

    An edge that belongs to a ``join`` only proposes the target; the join decides.
    """

    source: str
    target: str
    on: Condition
    origin: str
    join: Join | None = None


def is_resource_id(value: str) -> bool:
    """True for an app GUID or a script's 24-hex id."""
    return RESOURCE_ID.fullmatch(value) is not None


def matches(condition: Condition, outcome: Outcome) -> bool:
    """Does a finished reload with ``outcome`` fire an edge with ``condition``?

    Canceled reloads fire nothing: someone stopped the chain on purpose.
    """
    if outcome == "canceled":
        return False
    return condition in ("any", outcome)


def edges_from_tags(
    source: str, tag_names: Iterable[str], prefix: str
) -> tuple[list[Edge], list[str]]:
    """Edges from a source app's tags (``next-<id>``, ``next-onfail-<id>``), and the bad tags.

    A tag that starts with the prefix but does not end in a valid id is returned as bad,
    so it can be reported; it never becomes an edge.
    """
    edges: list[Edge] = []
    bad: list[str] = []
    lowered_prefix = prefix.lower()
    for name in tag_names:
        if not name.lower().startswith(lowered_prefix):
            continue
        rest = name[len(prefix) :]
        condition: Condition = "success"
        if rest.lower().startswith(ON_FAILURE):
            condition, rest = "failure", rest[len(ON_FAILURE) :]
        if is_resource_id(rest):
            edges.append(Edge(source, rest.lower(), condition, f"tag {name}"))
        else:
            bad.append(name)
    return edges, bad

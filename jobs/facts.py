"""Gather the tenant facts ``decide`` needs, with as few API calls as the questions allow.

Tags of all source apps come from batched items calls; successors not already known are
looked up the same way; spaces only when a setting needs their type; the latest reloads of
all successors from one listing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from loguru import logger

from jobs.chainfile import ChainFile
from jobs.decide import AppFacts, Candidate, TenantFacts, candidates
from jobs.edges import Edge, edges_from_tags
from jobs.lineage import lineage_of
from qlik.client import QlikClient
from qlik.events import FinishedReload
from qlik.models import Item, Reload
from state.store import Store


@dataclass(frozen=True)
class Known:
    """What the sweep knows before asking the tenant: apps it must not start, lost state."""

    unsettled: frozenset[str] = frozenset()
    recovering_until: datetime | None = None


class FactSettings(Protocol):
    """The settings fact gathering reads."""

    @property
    def tag_prefix(self) -> str: ...

    @property
    def tolerance_minutes(self) -> int: ...

    @property
    def only_managed_spaces(self) -> bool: ...


def gather_facts(
    client: QlikClient,
    store: Store,
    runs: Sequence[FinishedReload],
    settings: FactSettings,
    now: datetime,
    *,
    chain: ChainFile | None = None,
    known: Known | None = None,
) -> TenantFacts:
    """Ask the tenant (and the ledger) everything needed to decide these runs' successors."""
    items = client.items({run.app_id for run in runs})
    edges = merge_edges(tag_edges(items, settings.tag_prefix), chain or ChainFile())
    settled = frozenset(store.settled_edges(run.reload_id for run in runs))
    successors = candidates(runs, edges, settled)
    missing = set(successors) - set(items)
    if missing:
        items |= client.items(missing)
    found = [app_id for app_id in successors if app_id in items]
    space_types = _space_types(client, items, found) if settings.only_managed_spaces else {}
    since = _oldest_time_that_matters(successors.values(), settings, now)
    latest = client.latest_reloads(found, since) if found else {}
    return TenantFacts(
        edges=edges,
        apps={app_id: _app_facts(item) for app_id, item in items.items()},
        space_types=space_types,
        latest_reloads=latest | _join_targets_latest(client, successors.values(), set(found)),
        settled=settled,
        lineage=lineage_of(store, runs),
        last_success=_join_member_successes(store, successors.values(), runs),
        unsettled=known.unsettled if known else frozenset(),
        recovering_until=known.recovering_until if known else None,
    )


def merge_edges(tag_edges: dict[str, list[Edge]], chain: ChainFile) -> dict[str, list[Edge]]:
    """Tag edges and chain-file edges (joins included), by source app."""
    merged = {source: list(edges) for source, edges in tag_edges.items()}
    for source, edges in chain.edges_by_source().items():
        merged.setdefault(source, []).extend(edges)
    return merged


def _join_targets_latest(
    client: QlikClient, successors: Iterable[Candidate], found: set[str]
) -> dict[str, Reload | None]:
    """A join compares with its target's last reload however old: ask for it exactly."""
    targets = [c.app_id for c in successors if c.joins and not c.plain and c.app_id in found]
    return client.latest_reload_each(targets) if targets else {}


def _join_member_successes(
    store: Store, successors: Iterable[Candidate], runs: Sequence[FinishedReload]
) -> dict[str, datetime]:
    """When each join member last succeeded: events read before, and this sweep's runs."""
    members = {member for c in successors for join in c.joins for member in join.after}
    if not members:
        return {}
    last = store.last_successes(members)
    for run in runs:
        if run.app_id in members and run.outcome == "success":
            last[run.app_id] = max(last.get(run.app_id, run.ended_at), run.ended_at)
    return last


def tag_edges(items: dict[str, Item], prefix: str) -> dict[str, list[Edge]]:
    """Edges declared by each item's tags; tags with the prefix but no valid id are logged."""
    edges: dict[str, list[Edge]] = {}
    for app_id, item in items.items():
        found, bad = edges_from_tags(app_id, item.tag_names, prefix)
        for tag in bad:
            logger.warning(
                "{} ({}) has tag {!r} that names no valid app id; ignored", app_id, item.name, tag
            )
        if found:
            edges[app_id] = found
    return edges


def _space_types(client: QlikClient, items: dict[str, Item], app_ids: list[str]) -> dict[str, str]:
    space_ids = {items[app_id].space_id for app_id in app_ids}
    spaces = client.spaces(space_id for space_id in space_ids if space_id)
    return {space_id: space.type for space_id, space in spaces.items()}


def _oldest_time_that_matters(
    successors: Iterable[Candidate], settings: FactSettings, now: datetime
) -> datetime:
    """Reloads created before this cannot make a successor tolerated or fresh."""
    ends = [run.ended_at for candidate in successors for run in candidate.runs]
    tolerance_start = now - timedelta(minutes=settings.tolerance_minutes)
    return min([tolerance_start, *ends])


def _app_facts(item: Item) -> AppFacts:
    return AppFacts(item.resource_id.lower(), item.name, item.space_id, item.resource_type)

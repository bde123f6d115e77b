"""Gather the tenant facts ``decide`` needs, and only those ``jobs.needs`` says it needs.

Tags of all source apps come from batched items calls; successors not already known are
looked up the same way; spaces only when a setting needs their type; then the reloads: one
listing, newest first, read back only as far as each successor's own horizon (join targets
are asked exactly), and the tenant's active reloads counted when ``max_active_reloads`` is set.
``start`` gathers its facts through the same ``ask_tenant``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from loguru import logger

from jobs.chainfile import ChainFile
from jobs.decide import AppFacts, Candidate, DecisionSettings, TenantFacts, candidates
from jobs.edges import Edge, edges_from_tags
from jobs.lineage import lineage_of
from jobs.needs import Needs, needs
from qlik.client import QlikClient
from qlik.events import FinishedReload
from qlik.models import Item
from state.store import Store


@dataclass(frozen=True)
class Known:
    """What the sweep knows before asking the tenant: apps it must not start, lost state."""

    unsettled: frozenset[str] = frozenset()
    recovering_until: datetime | None = None


class FactSettings(DecisionSettings, Protocol):
    """The settings fact gathering reads: ``decide``'s (``jobs.needs`` asks by them), and the
    prefix of the tags that declare edges."""

    @property
    def tag_prefix(self) -> str: ...


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
    successors = list(candidates(runs, edges, settled).values())
    start = TenantFacts(
        edges=edges,
        apps=_found_apps(items),
        settled=settled,
        lineage=lineage_of(store, runs),
        unsettled=known.unsettled if known else frozenset(),
        recovering_until=known.recovering_until if known else None,
    )
    members = needs(successors, start, settings, now).join_members
    start = replace(start, last_success=_join_member_successes(store, members, runs))
    return ask_tenant(client, successors, start, settings, now)


def ask_tenant(
    client: QlikClient,
    successors: Sequence[Candidate],
    known: TenantFacts,
    settings: FactSettings,
    now: datetime,
) -> TenantFacts:
    """``known`` completed with what deciding ``successors`` needs: apps, spaces, reloads.

    Each stage asks ``jobs.needs`` again with the answers so far, so an app not found or
    not in a managed space (when that matters) never costs a reload lookup.
    """
    need = needs(successors, known, settings, now)
    if need.apps:
        found = client.items(need.apps)
        known = replace(known, apps={**known.apps, **_found_apps(found)})
        need = needs(successors, known, settings, now)
    if need.spaces:
        spaces = client.spaces(need.spaces)
        types = {space_id: space.type for space_id, space in spaces.items()}
        known = replace(known, space_types={**known.space_types, **types})
        need = needs(successors, known, settings, now)
    return _with_reloads(client, known, need, settings)


def _with_reloads(
    client: QlikClient, known: TenantFacts, need: Needs, settings: FactSettings
) -> TenantFacts:
    """The successors' latest reloads (listing to each horizon, join targets exactly), and
    the tenant's active reloads when ``max_active_reloads`` needs them."""
    cap = settings.max_active_reloads if need.count_active else None
    listing = client.latest_reloads_since(need.horizons, count_active_up_to=cap)
    exact = client.latest_reload_each(need.join_targets) if need.join_targets else {}
    logger.debug(
        "reloads of {} successors by listing, {} exactly; active counted: {}",
        len(need.horizons),
        len(need.join_targets),
        listing.active,
    )
    latest = {**known.latest_reloads, **listing.latest, **exact}
    return replace(known, latest_reloads=latest, active_reloads=listing.active)


def merge_edges(tag_edges: dict[str, list[Edge]], chain: ChainFile) -> dict[str, list[Edge]]:
    """Tag edges and chain-file edges (joins included), by source app."""
    merged = {source: list(edges) for source, edges in tag_edges.items()}
    for source, edges in chain.edges_by_source().items():
        merged.setdefault(source, []).extend(edges)
    return merged


def _join_member_successes(
    store: Store, members: frozenset[str], runs: Sequence[FinishedReload]
) -> dict[str, datetime]:
    """When each join member last succeeded: events read before, and this sweep's runs."""
    if not members:
        return {}
    last = store.last_successes(members)
    for run in runs:
        if run.app_id in members and run.outcome == "success":
            last[run.app_id] = max(last.get(run.app_id, run.ended_at), run.ended_at)
    return last


def _found_apps(items: dict[str, Item]) -> dict[str, AppFacts]:
    return {app_id: app_facts(item) for app_id, item in items.items()}


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


def app_facts(item: Item) -> AppFacts:
    """What ``decide`` reads of an item (an app or a script)."""
    return AppFacts(item.resource_id.lower(), item.name, item.space_id, item.resource_type)

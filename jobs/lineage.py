"""Lineage: which apps a chain of reloads has already touched, for the cycle guard.

Every reload this program starts is in the ledger with the source reloads it was started for,
so the chain behind any source reload can be walked back to the reload nobody here started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from qlik.events import FinishedReload
from state.store import Started, Store

MAX_DEPTH = 50


def lineage_of(store: Store, runs: Iterable[FinishedReload]) -> dict[str, frozenset[str]]:
    """For each run's reload this program started: its app and the apps of the chain before it.

    Other runs' chains are their own app alone, which ``decide`` assumes for a missing entry:
    leaving them out keeps a catch-up of 100,000 reloads from holding 100,000 sets.
    """
    runs = list(runs)
    known = _walk(store, {run.reload_id for run in runs})
    return {
        run.reload_id: chain_apps(run.reload_id, run.app_id, known)
        for run in runs
        if run.reload_id in known
    }


def _walk(store: Store, reload_ids: set[str]) -> dict[str, Started]:
    """Ledger entries of every reload behind ``reload_ids`` that this program started."""
    known: dict[str, Started] = {}
    asked: set[str] = set()
    frontier = reload_ids
    for _ in range(MAX_DEPTH):
        asked |= frontier
        found = store.started_reloads(frontier)
        known.update(found)
        frontier = {source for started in found.values() for source in started.source_reloads}
        frontier -= asked
        if not frontier:
            break
    return known


def chain_apps(reload_id: str, app_id: str, known: Mapping[str, Started]) -> frozenset[str]:
    """The apps of a reload's chain, walking the ledger entries in ``known``."""
    apps = {app_id}
    stack, seen = [reload_id], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        started = known.get(current)
        if started is not None:
            apps |= {started.app_id, *started.source_apps}
            stack += started.source_reloads
    return frozenset(apps)


def chain_roots(store: Store, reload_ids: Iterable[str]) -> dict[str, str]:
    """For each reload id: the chain run it belongs to, named by the reload at its root.

    A reload this program did not start is its own root (an external source reload), as is
    one started by ``reload-chain start`` (no source). A chain run id stored on the ledger
    row ends the walk; older rows without one are walked back through their sources.
    """
    wanted = set(reload_ids)
    known = _walk(store, wanted)
    return {reload_id: root_of(reload_id, known) for reload_id in wanted}


def root_of(reload_id: str, known: Mapping[str, Started]) -> str:
    """The root of one reload's chain, walking the first source of each started reload."""
    current, seen = reload_id, set()
    while current in known and current not in seen:
        seen.add(current)
        started = known[current]
        if started.chain_run_id:
            return started.chain_run_id
        if not started.source_reloads:
            return current
        current = started.source_reloads[0]
    return current

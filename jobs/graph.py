"""The chain graph: tag edges found through the collections and items APIs, plus the chain file.

Apps are named with one batched items lookup; an app a chain refers to that the tenant does not
have is kept as a missing node, and every cycle is reported, so an administrator sees exactly
what the sweep will follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from jobs.chainfile import ChainFile
from jobs.edges import Edge, Join, edges_from_tags
from jobs.graph_native import NativeView
from qlik.client import QlikClient


@dataclass(frozen=True)
class Node:
    """An app or script of the graph; ``name`` is None when the tenant does not have it."""

    app_id: str
    name: str | None
    resource_type: str = "app"

    @property
    def missing(self) -> bool:
        """Referenced by a chain, but not found in the tenant."""
        return self.name is None


@dataclass
class ChainGraph:
    nodes: dict[str, Node]
    edges: list[Edge]
    joins: list[Join] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)
    bad_tags: list[tuple[str, str]] = field(default_factory=list)
    # Qlik's own task chains, drawn beside (never mixed into) the edges the sweep follows;
    # their apps are among ``nodes``.
    native: NativeView = field(default_factory=NativeView)

    def in_cycle(self, edge: Edge) -> bool:
        """Does this edge close or sit on a cycle?"""
        return any(edge.source in cycle and edge.target in cycle for cycle in self.cycles)


def build_graph(
    client: QlikClient, chain: ChainFile, prefix: str, *, native: bool = False
) -> ChainGraph:
    """Everything the sweep would follow: tag edges, chain-file edges and joins; with
    ``native``, the tenant's native task chains too (one paged listing)."""
    tag_edges, bad_tags = discover_tag_edges(client, prefix)
    edges = [*tag_edges, *chain.edges]
    view = NativeView.listed(client.native_tasks()) if native else NativeView()
    ids = {app for edge in edges for app in (edge.source, edge.target)} | view.apps()
    ids |= {app for join in chain.joins for app in (join.target, *join.after)}
    items = client.items(ids) if ids else {}
    nodes = {
        app_id: Node(app_id, items[app_id].name, items[app_id].resource_type)
        if app_id in items
        else Node(app_id, None)
        for app_id in sorted(ids)
    }
    join_edges = [Edge(m, j.target, "success", j.origin, j) for j in chain.joins for m in j.after]
    cycles = find_cycles([*edges, *join_edges])
    return ChainGraph(nodes, edges, list(chain.joins), cycles, bad_tags, view)


def discover_tag_edges(client: QlikClient, prefix: str) -> tuple[list[Edge], list[tuple[str, str]]]:
    """Edges from every tag with the prefix, and (app, tag) pairs whose tag names no valid id."""
    edges: list[Edge] = []
    bad: list[tuple[str, str]] = []
    for tag in client.tags():
        if tag.id is None or not tag.name.lower().startswith(prefix.lower()):
            continue
        for item in client.items_tagged(tag.id):
            source = item.resource_id.lower()
            found, wrong = edges_from_tags(source, [tag.name], prefix)
            edges += found
            bad += [(source, name) for name in wrong]
    return edges, bad


def find_cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """Strongly connected groups of apps that can reload each other, and self-loops (Tarjan)."""
    graph: dict[str, list[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, []).append(edge.target)
        graph.setdefault(edge.target, [])
    finder = _Tarjan(graph)
    for node in sorted(graph):
        if node not in finder.index:
            finder.visit(node)
    return sorted(
        sorted(group) for group in finder.groups if len(group) > 1 or group[0] in graph[group[0]]
    )


class _Tarjan:
    """Tarjan's strongly connected components, iterative so deep chains cannot overflow."""

    def __init__(self, graph: dict[str, list[str]]) -> None:
        self.graph = graph
        self.index: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.stack: list[str] = []
        self.on_stack: set[str] = set()
        self.groups: list[list[str]] = []

    def visit(self, root: str) -> None:
        work = [(root, iter(self.graph[root]))]
        self._enter(root)
        while work:
            node, successors = work[-1]
            child = next(successors, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    self.low[parent] = min(self.low[parent], self.low[node])
                self._close(node)
            elif child not in self.index:
                self._enter(child)
                work.append((child, iter(self.graph[child])))
            elif child in self.on_stack:
                self.low[node] = min(self.low[node], self.index[child])

    def _enter(self, node: str) -> None:
        self.index[node] = self.low[node] = len(self.index)
        self.stack.append(node)
        self.on_stack.add(node)

    def _close(self, node: str) -> None:
        if self.low[node] != self.index[node]:
            return
        group = []
        while True:
            member = self.stack.pop()
            self.on_stack.discard(member)
            group.append(member)
            if member == node:
                break
        self.groups.append(group)

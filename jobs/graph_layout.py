"""A layered (Sugiyama) layout of a directed graph, for ``graph --format svg``.

Sources left, successors right: the edges that close cycles are found by a depth-first search,
left out of the layering and laid out turned round (the drawing shows them as back edges);
every node goes in the layer one right of its furthest predecessor (longest path). An edge
spanning layers passes through a placeholder in each layer between, so it gets its own slot and
never crosses a box.
Within a layer the order comes from a few barycenter sweeps, keeping the order with the fewest
crossings; then each node is put level with its neighbours as closely as the fixed spacing
allows (least squares, boxes in order), so no two boxes of a layer ever overlap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from statistics import fmean

from jobs.graph_layers import Pair, back_edges, crossings, longest_path_ranks, pack

LAYER_GAP = 110.0  # room for an edge label between two columns
NODE_GAP = 14.0
SLOT_HEIGHT = 10.0  # what an edge passing through a layer takes in it
SWEEPS = 4
ALIGN_PASSES = 3

Point = tuple[float, float]
Hop = tuple[Point, Point]


@dataclass(frozen=True)
class Box:
    """A node's rectangle: top-left corner and size."""

    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        """The x of the right side."""
        return self.x + self.width

    @property
    def middle(self) -> float:
        """The y of the horizontal centre line."""
        return self.y + self.height / 2


@dataclass
class Layout:
    """Where every node goes, and the path of every edge, in the order they were given."""

    boxes: dict[str, Box]
    hops: list[list[Hop]]  # per forward edge: the column gaps it crosses; empty for back edges
    back: list[bool]
    width: float
    height: float


def layered_layout(sizes: Mapping[str, tuple[float, float]], edges: Sequence[Pair]) -> Layout:
    """Lay out nodes (``sizes`` in their preferred order: width, height) and ``edges``."""
    targets = {target for _, target in edges}
    # Searching from the apps nothing starts first makes the edges that close cycles the ones
    # that lead back towards them, so a chain reads from its real start.
    order = [n for n in sizes if n not in targets] + [n for n in sizes if n in targets]
    back = back_edges(order, edges)
    rank = longest_path_ranks(list(sizes), [e for i, e in enumerate(edges) if i not in back])
    grid = _Grid(sizes, rank)
    # A back edge is laid out turned round, through the gaps like the others, and drawn
    # right to left; a self-loop is drawn on its box.
    chains = [
        [] if s == t else grid.chain(i, t, s) if i in back else grid.chain(i, s, t)
        for i, (s, t) in enumerate(edges)
    ]
    grid.order_layers()
    grid.place()
    every = grid.boxes()
    hops = spread_ports([grid.hops(chain, every) for chain in chains], chains, every)
    hops = [[(b, a) for a, b in reversed(h)] if i in back else h for i, h in enumerate(hops)]
    boxes = {node: every[node] for node in sizes}
    width = max((box.right for box in boxes.values()), default=0.0)
    height = max((box.y + box.height for box in every.values()), default=0.0)
    return Layout(boxes, hops, [i in back for i in range(len(edges))], width, height)


def spread_ports(
    hops: list[list[Hop]], chains: list[list[str]], boxes: dict[str, Box]
) -> list[list[Hop]]:
    """Edges leave and enter a box at points spread down its side.

    They are ordered by where they go or come from, so parallel edges and fans stay apart.
    """
    hops = [list(path) for path in hops]
    ends: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for index, path in enumerate(hops):
        if path:
            ends.setdefault((chains[index][0], 0), []).append((path[0][1][1], index))
            ends.setdefault((chains[index][-1], -1), []).append((path[-1][0][1], index))
    for (node, end), found in ends.items():
        box = boxes[node]
        for number, (_, index) in enumerate(sorted(found)):
            y = box.y + box.height * (0.25 + 0.5 * (number + 0.5) / len(found))
            start, stop = hops[index][end]
            hops[index][end] = ((start[0], y), stop) if end == 0 else (start, (stop[0], y))
    return hops


@dataclass
class _Grid:
    """The layers, placeholders included, and the links between neighbouring layers."""

    sizes: Mapping[str, tuple[float, float]]
    rank: dict[str, int]
    layers: list[list[str]] = field(default_factory=list)
    preds: dict[str, list[str]] = field(default_factory=dict)
    succs: dict[str, list[str]] = field(default_factory=dict)
    tops: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rank = dict(self.rank)
        self.layers = [[] for _ in range(max(self.rank.values(), default=-1) + 1)]
        for node in self.sizes:
            self._add(node, self.rank[node])

    def _add(self, node: str, layer: int) -> None:
        self.layers[layer].append(node)
        self.rank[node] = layer
        self.preds[node], self.succs[node] = [], []

    def chain(self, index: int, source: str, target: str) -> list[str]:
        """The nodes an edge passes through, adding a placeholder per layer it spans."""
        nodes = [source]
        for layer in range(self.rank[source] + 1, self.rank[target]):
            self._add(f"\0{index}.{layer}", layer)
            nodes.append(f"\0{index}.{layer}")
        nodes.append(target)
        for left, right in pairwise(nodes):
            self.succs[left].append(right)
            self.preds[right].append(left)
        return nodes

    def order_layers(self) -> None:
        """Barycenter sweeps down and up; keep the layer orders with the fewest crossings."""
        best, fewest = [list(layer) for layer in self.layers], self._crossings()
        for sweep in range(SWEEPS):
            down = sweep % 2 == 0
            numbers = range(1, len(self.layers)) if down else range(len(self.layers) - 2, -1, -1)
            for number in numbers:
                other = self.layers[number - 1 if down else number + 1]
                self._reorder(self.layers[number], self.preds if down else self.succs, other)
            count = self._crossings()
            if count < fewest:
                best, fewest = [list(layer) for layer in self.layers], count
        self.layers = best

    @staticmethod
    def _reorder(layer: list[str], links: dict[str, list[str]], other: list[str]) -> None:
        where = {node: index for index, node in enumerate(other)}
        keys = {
            node: fmean(where[n] for n in links[node]) if links[node] else float(index)
            for index, node in enumerate(layer)
        }
        layer.sort(key=lambda node: keys[node])

    def _crossings(self) -> int:
        total = 0
        for left, right in pairwise(self.layers):
            where = {node: index for index, node in enumerate(right)}
            total += crossings([(i, where[s]) for i, n in enumerate(left) for s in self.succs[n]])
        return total

    def height(self, node: str) -> float:
        """A node's height; a placeholder's slot."""
        return self.sizes[node][1] if node in self.sizes else SLOT_HEIGHT

    def place(self) -> None:
        """Tops for every node: layers centred, then aligned with their neighbours."""
        for layer in self.layers:
            self._pack(layer, [0.0] * len(layer))
        for number in range(ALIGN_PASSES):
            links = self.preds if number % 2 == 0 else self.succs
            layers = self.layers if number % 2 == 0 else self.layers[::-1]
            for layer in layers:
                self._pack(layer, [self._level(node, links[node]) for node in layer])

    def _level(self, node: str, neighbours: list[str]) -> float:
        if not neighbours:
            return self.tops[node]
        centre = fmean(self.tops[n] + self.height(n) / 2 for n in neighbours)
        return centre - self.height(node) / 2

    def _pack(self, layer: list[str], desired: list[float]) -> None:
        tops = pack(desired, [self.height(node) for node in layer], NODE_GAP)
        self.tops.update(zip(layer, tops, strict=True))

    def columns(self) -> list[tuple[float, float]]:
        """Each layer's left x and width."""
        columns, x = [], 0.0
        for layer in self.layers:
            width = max((self.sizes[n][0] for n in layer if n in self.sizes), default=0.0)
            columns.append((x, width))
            x += width + LAYER_GAP
        return columns

    def boxes(self) -> dict[str, Box]:
        """The real nodes' boxes, the topmost at y 0; placeholders span their column."""
        columns, top = self.columns(), min(self.tops.values(), default=0.0)
        boxes = {}
        for node in self.rank:
            x, width = columns[self.rank[node]]
            width, height = self.sizes.get(node, (width, SLOT_HEIGHT))
            boxes[node] = Box(x, self.tops[node] - top, width, height)
        return boxes

    def hops(self, chain: list[str], boxes: dict[str, Box]) -> list[Hop]:
        """The column gaps an edge crosses: from each node's right side to the next's left."""
        return [
            ((boxes[left].right, boxes[left].middle), (boxes[right].x, boxes[right].middle))
            for left, right in pairwise(chain)
        ]

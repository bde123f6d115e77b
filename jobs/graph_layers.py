"""The graph algorithms behind the layered layout (``jobs/graph_layout.py``), pure and small.

Cycles are broken by a depth-first search (its back edges), layers come from the longest path,
crossings between two layers are counted by insertion, and a layer's boxes are placed by pooled
adjacent violators: as close as possible to where their neighbours want them, in order, never
overlapping.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Sequence

Pair = tuple[str, str]


def back_edges(order: Sequence[str], edges: Sequence[Pair]) -> set[int]:
    """Indexes of the edges that close a cycle (self-loops included), by a DFS in ``order``."""
    out: dict[str, list[tuple[int, str]]] = {node: [] for node in order}
    for index, (source, target) in enumerate(edges):
        out[source].append((index, target))
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[int] = set()
    for root in order:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            node, successors = stack[-1]
            step = next(successors, None)
            if step is None:
                state[node] = 2
                stack.pop()
            elif state.get(step[1]) == 1:
                back.add(step[0])
            elif step[1] not in state:
                state[step[1]] = 1
                stack.append((step[1], iter(out[step[1]])))
    return back


def longest_path_ranks(order: Sequence[str], edges: Sequence[Pair]) -> dict[str, int]:
    """Each node's layer: 0 for sources, else one more than its furthest predecessor's."""
    waiting = dict.fromkeys(order, 0)
    out: dict[str, list[str]] = {node: [] for node in order}
    for source, target in edges:
        out[source].append(target)
        waiting[target] += 1
    rank = dict.fromkeys(order, 0)
    ready = [node for node in order if waiting[node] == 0]
    while ready:
        node = ready.pop()
        for target in out[node]:
            rank[target] = max(rank[target], rank[node] + 1)
            waiting[target] -= 1
            if waiting[target] == 0:
                ready.append(target)
    return rank


def pack(desired: Sequence[float], heights: Sequence[float], gap: float) -> list[float]:
    """Tops closest to ``desired`` (least squares) keeping the boxes in order, ``gap`` apart."""
    if not heights:
        return []
    offsets = [0.0]
    for height in heights[:-1]:
        offsets.append(offsets[-1] + height + gap)
    blocks: list[list[float]] = []  # pooled adjacent violators: [sum, count]
    for want, offset in zip(desired, offsets, strict=True):
        blocks.append([want - offset, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    levels = [total / count for total, count in blocks for _ in range(int(count))]
    return [level + offset for level, offset in zip(levels, offsets, strict=True)]


def crossings(pairs: Sequence[tuple[int, int]]) -> int:
    """How many of these links between two layers (positions left, right) cross."""
    seen: list[int] = []
    count = 0
    for _, right in sorted(pairs):
        count += len(seen) - bisect_right(seen, right)
        insort(seen, right)
    return count

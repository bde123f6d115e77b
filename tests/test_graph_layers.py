"""The pure algorithms under the SVG layout: back edges, layers, crossings, packing."""

from __future__ import annotations

import pytest

from jobs.graph_layers import back_edges, crossings, longest_path_ranks, pack


def test_back_edges_are_those_that_close_a_cycle_seen_from_the_order_given() -> None:
    assert back_edges("abc", [("a", "b"), ("b", "c"), ("a", "c")]) == set()
    assert back_edges("abc", [("a", "b"), ("b", "c"), ("c", "a")]) == {2}
    assert back_edges("cab", [("a", "b"), ("b", "c"), ("c", "a")]) == {1}
    assert back_edges("a", [("a", "a")]) == {0}


def test_a_node_goes_one_layer_right_of_its_furthest_predecessor() -> None:
    ranks = longest_path_ranks("abcde", [("a", "b"), ("b", "c"), ("a", "c"), ("d", "c")])
    assert ranks == {"a": 0, "b": 1, "c": 2, "d": 0, "e": 0}


@pytest.mark.parametrize(
    ("pairs", "count"),
    [([], 0), ([(0, 0), (1, 1)], 0), ([(0, 1), (1, 0)], 1), ([(0, 0), (0, 1), (1, 0)], 1)],
)
def test_crossings(pairs: list[tuple[int, int]], count: int) -> None:
    assert crossings(pairs) == count


def test_pack_keeps_order_and_spacing_as_close_as_it_can_to_what_is_wanted() -> None:
    assert pack([], [], 10) == []
    assert pack([0, 100], [20, 20], 10) == [0, 100]  # already apart: unchanged
    assert pack([0, 0, 0], [20, 20, 20], 10) == [-30, 0, 30]  # centred on what they want
    tops = pack([50, 0, 20, 90], [20, 30, 10, 20], 10)
    heights = [20, 30, 10, 20]
    assert all(tops[i + 1] - tops[i] >= heights[i] + 10 - 1e-9 for i in range(3))

"""The layered layout: layers left to right, edges through the gaps, back edges turned round."""

from __future__ import annotations

from jobs.graph_layout import LAYER_GAP, layered_layout

SIZE = (100.0, 30.0)


def test_a_chain_reads_left_to_right_and_a_long_edge_crosses_every_gap() -> None:
    layout = layered_layout(dict.fromkeys("abc", SIZE), [("a", "b"), ("b", "c"), ("a", "c")])
    xs = [layout.boxes[n].x for n in "abc"]
    assert xs == [0, 100 + LAYER_GAP, 2 * (100 + LAYER_GAP)]
    assert [len(hops) for hops in layout.hops] == [1, 1, 2]
    (start, _), (_, end) = layout.hops[2][0], layout.hops[2][-1]
    assert start[0] == layout.boxes["a"].right and end[0] == layout.boxes["c"].x
    assert layout.back == [False, False, False]


def test_the_edge_closing_a_cycle_runs_right_to_left_and_a_self_loop_has_no_hops() -> None:
    layout = layered_layout(dict.fromkeys("ab", SIZE), [("a", "b"), ("b", "a"), ("b", "b")])
    assert layout.back == [False, True, True]
    (start, _), (_, end) = layout.hops[1][0], layout.hops[1][-1]
    assert start[0] == layout.boxes["b"].x and end[0] == layout.boxes["a"].right
    assert layout.hops[2] == []


def test_parallel_edges_leave_and_enter_at_different_points() -> None:
    layout = layered_layout(dict.fromkeys("ab", SIZE), [("a", "b"), ("a", "b")])
    starts = {hops[0][0][1] for hops in layout.hops}
    ends = {hops[-1][1][1] for hops in layout.hops}
    assert len(starts) == 2 and len(ends) == 2
    box = layout.boxes["a"]
    assert all(box.y < y < box.y + box.height for y in starts)

"""Chain edges from tags, and which outcomes fire which edges."""

from __future__ import annotations

import pytest

from jobs.edges import Edge, edges_from_tags, is_resource_id, matches

SOURCE = "aaaaaaaa-0000-0000-0000-000000000001"
TARGET = "bbbbbbbb-1111-2222-3333-444444444444"
SCRIPT = "0123456789abcdef01234567"


def test_next_tag_is_a_success_edge() -> None:
    edges, bad = edges_from_tags(SOURCE, [f"next-{TARGET}"], "next-")
    assert edges == [Edge(SOURCE, TARGET, "success", f"tag next-{TARGET}")]
    assert bad == []


def test_onfail_tag_is_a_failure_edge() -> None:
    edges, bad = edges_from_tags(SOURCE, [f"next-onfail-{TARGET}"], "next-")
    assert edges == [Edge(SOURCE, TARGET, "failure", f"tag next-onfail-{TARGET}")]
    assert bad == []


def test_script_id_of_24_hex_is_a_target() -> None:
    edges, bad = edges_from_tags(SOURCE, [f"next-{SCRIPT}"], "next-")
    assert [(edge.target, edge.on) for edge in edges] == [(SCRIPT, "success")]
    assert bad == []


def test_uppercase_ids_are_lowercased() -> None:
    edges, _ = edges_from_tags(
        SOURCE, [f"next-{TARGET.upper()}", f"next-{SCRIPT.upper()}"], "next-"
    )
    assert [edge.target for edge in edges] == [TARGET, SCRIPT]


def test_custom_prefix() -> None:
    edges, bad = edges_from_tags(
        SOURCE, [f"chain-{TARGET}", f"chain-onfail-{SCRIPT}", f"next-{TARGET}"], "chain-"
    )
    assert [(edge.target, edge.on) for edge in edges] == [(TARGET, "success"), (SCRIPT, "failure")]
    assert bad == []


def test_prefix_matches_case_insensitively() -> None:
    edges, bad = edges_from_tags(SOURCE, [f"NEXT-{TARGET}", f"Next-OnFail-{SCRIPT}"], "next-")
    assert [(edge.target, edge.on) for edge in edges] == [(TARGET, "success"), (SCRIPT, "failure")]
    assert bad == []


def test_configured_prefix_in_uppercase_matches_lowercase_tags() -> None:
    edges, _ = edges_from_tags(SOURCE, [f"next-{TARGET}"], "NEXT-")
    assert [edge.target for edge in edges] == [TARGET]


def test_tags_without_the_prefix_are_ignored() -> None:
    tags = ["finance", "daily", TARGET, f"prev-{TARGET}", f"xnext-{TARGET}"]
    assert edges_from_tags(SOURCE, tags, "next-") == ([], [])


@pytest.mark.parametrize(
    "tag",
    [
        "next-notanid",
        "next-onfail-",
        "next-",
        f"next-{TARGET}x",
        f"next-{SCRIPT[:-1]}",
        f"next-onfail-onfail-{TARGET}",
    ],
)
def test_prefixed_tag_without_a_valid_id_is_bad(tag: str) -> None:
    assert edges_from_tags(SOURCE, [tag], "next-") == ([], [tag])


def test_good_and_bad_tags_are_separated_in_order() -> None:
    tags = [f"next-{TARGET}", "next-notanid", "other", f"next-onfail-{SCRIPT}", "next-onfail-"]
    edges, bad = edges_from_tags(SOURCE, tags, "next-")
    assert [edge.target for edge in edges] == [TARGET, SCRIPT]
    assert bad == ["next-notanid", "next-onfail-"]
    assert all(edge.source == SOURCE for edge in edges)


def test_is_resource_id() -> None:
    assert is_resource_id(TARGET)
    assert is_resource_id(SCRIPT)
    assert not is_resource_id("not-an-id")
    assert not is_resource_id(TARGET.replace("-", ""))


def test_id_with_trailing_newline_is_not_an_id() -> None:
    # RESOURCE_ID ends in `$`, which also matches just before a final newline.
    assert not is_resource_id(f"{TARGET}\n")


def test_tag_with_trailing_newline_is_bad_not_an_edge_to_a_newline_id() -> None:
    tag = f"next-{TARGET}\n"
    assert edges_from_tags(SOURCE, [tag], "next-") == ([], [tag])


@pytest.mark.parametrize(
    ("condition", "outcome", "fires"),
    [
        ("success", "success", True),
        ("success", "failure", False),
        ("success", "canceled", False),
        ("failure", "success", False),
        ("failure", "failure", True),
        ("failure", "canceled", False),
        ("any", "success", True),
        ("any", "failure", True),
        ("any", "canceled", False),
    ],
)
def test_matches(condition: str, outcome: str, fires: bool) -> None:
    assert matches(condition, outcome) is fires  # type: ignore[arg-type]

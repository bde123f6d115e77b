"""The pydantic models: HAL links in any case, items' tags and GUIDs, reload states, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from qlik.models import ErrorBody, ErrorDetail, Item, Page, Reload, Space

NEXT = "https://tenant.example.qlikcloud.com/api/v1/audits?next=abc"


@pytest.mark.parametrize(
    "answer",
    [
        {"data": [], "links": {"next": {"href": NEXT}}},
        {"data": [], "links": {"Next": {"Href": NEXT}}},
        {"data": [], "Links": {"Next": {"Href": NEXT}}},
        {"data": [], "Links": {"next": {"href": NEXT}, "Self": {"Href": "x"}}},
    ],
)
def test_page_reads_next_link_in_any_case(answer: dict[str, Any]) -> None:
    assert Page.model_validate(answer).next_url == NEXT


@pytest.mark.parametrize(
    "answer",
    [
        {"data": []},
        {"data": [], "links": {}},
        {"data": [], "links": {"next": None}},
        {"data": [], "links": {"self": {"href": NEXT}}},
    ],
)
def test_page_without_next_link_has_no_next_url(answer: dict[str, Any]) -> None:
    assert Page.model_validate(answer).next_url is None


def test_page_prefers_lowercase_links_over_capitalised() -> None:
    page = Page.model_validate(
        {"data": [], "links": {"next": {"href": NEXT}}, "Links": {"next": {"href": "other"}}}
    )
    assert page.next_url == NEXT


def test_page_keeps_raw_rows() -> None:
    assert Page.model_validate({"data": [{"id": "a", "x": 1}]}).data == [{"id": "a", "x": 1}]


def test_page_without_data_is_invalid() -> None:
    with pytest.raises(ValidationError):
        Page.model_validate({"links": {}})


def test_item_reads_resource_id_space_and_tag_names() -> None:
    item = Item.model_validate(
        {
            "id": "item-1",
            "name": "Sales",
            "resourceId": "app-guid",
            "resourceType": "app",
            "spaceId": "space-1",
            "meta": {"tags": [{"id": "t1", "name": "next-x"}, {"name": "daily"}], "other": 1},
            "unknown": True,
        }
    )
    assert item.resource_id == "app-guid"
    assert item.id == "item-1"
    assert item.space_id == "space-1"
    assert item.tag_names == ["next-x", "daily"]


def test_item_without_meta_has_no_tags_and_no_space() -> None:
    item = Item.model_validate({"id": "i", "resourceId": "g", "resourceType": "script"})
    assert item.tag_names == []
    assert item.space_id is None


def test_item_requires_resource_id() -> None:
    with pytest.raises(ValidationError, match="resourceId"):
        Item.model_validate({"id": "i", "resourceType": "app"})


@pytest.mark.parametrize(
    ("status", "active"),
    [
        ("QUEUED", True),
        ("RELOADING", True),
        ("CANCELING", True),
        ("SUCCEEDED", False),
        ("FAILED", False),
        ("CANCELED", False),
        ("EXCEEDED_LIMIT", False),
    ],
)
def test_reload_is_active_only_while_queued_running_or_canceling(status: str, active: bool) -> None:
    reload = Reload.model_validate(
        {"id": "r", "appId": "a", "status": status, "creationTime": "2026-11-22T11:31:39Z"}
    )
    assert reload.is_active is active


def test_reload_times_are_parsed_as_utc() -> None:
    reload = Reload.model_validate(
        {
            "id": "r",
            "appId": "a",
            "status": "SUCCEEDED",
            "creationTime": "2026-11-22T11:31:39.123456789Z",
            "startTime": "2026-11-22T11:31:40Z",
        }
    )
    assert reload.creation_time == datetime(2026, 11, 22, 11, 31, 39, 123456, tzinfo=UTC)
    assert reload.start_time == datetime(2026, 11, 22, 11, 31, 40, tzinfo=UTC)
    assert reload.end_time is None


def test_space_type_must_be_a_known_kind() -> None:
    assert Space.model_validate({"id": "s", "type": "managed"}).type == "managed"
    with pytest.raises(ValidationError, match="type"):
        Space.model_validate({"id": "s", "type": "personal"})


@pytest.mark.parametrize("body", [{}, {"errors": []}])
def test_error_body_first_on_empty_body_is_blank(body: dict[str, Any]) -> None:
    assert ErrorBody.model_validate(body).first == ErrorDetail(code="", title="")


def test_error_body_first_is_the_first_error() -> None:
    body = ErrorBody.model_validate(
        {"errors": [{"code": "RELOADS-013", "title": "Quota"}, {"code": "X", "title": "Y"}]}
    )
    assert (body.first.code, body.first.title) == ("RELOADS-013", "Quota")

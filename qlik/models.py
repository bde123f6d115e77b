"""Pydantic models of the Qlik Cloud answers reload-chain reads.

Modelled on ../shared/reference/qlik-openapi. Only the fields the program uses are declared;
unknown fields are ignored so that additions to the API never break a sweep.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from qlik.times import parse_time


def _parse_optional_time(value: Any) -> Any:
    if isinstance(value, str):
        return parse_time(value) if value.strip() else None
    return value


UtcTime = Annotated[datetime, BeforeValidator(_parse_optional_time)]

ACTIVE_RELOAD_STATUSES = frozenset({"QUEUED", "RELOADING", "CANCELING"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _lowercase_keys(value: Any) -> Any:
    """Accept ``Next``/``Href`` as well as ``next``/``href`` in HAL links."""
    if isinstance(value, dict):
        return {str(key).lower(): _lowercase_keys(inner) for key, inner in value.items()}
    return value


class Links(_Model):
    """HAL links of a list answer; only ``next`` matters for paging."""

    next: Link | None = None

    @model_validator(mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return _lowercase_keys(value)


class Link(_Model):
    href: str


# The most rows a listing answers with (the specs' maximum ``limit``).
PAGE_LIMIT = 100


class Page(_Model):
    """One page of any list endpoint: raw ``data`` rows plus links."""

    # Rows stay raw: each is validated on its own, so one bad row never hides the others.
    data: list[Any]
    links: Links = Field(default_factory=Links)

    @model_validator(mode="before")
    @classmethod
    def _links_any_case(cls, value: Any) -> Any:
        if isinstance(value, dict) and "links" not in value and "Links" in value:
            return {**value, "links": value["Links"]}
        return value

    @property
    def next_url(self) -> str | None:
        """Absolute or relative URL of the next page, if there is one."""
        return self.links.next.href if self.links.next else None


class Tag(_Model):
    id: str | None = None
    name: str


class ItemMeta(_Model):
    tags: list[Tag] = Field(default_factory=list)


class Item(_Model):
    """An app or script as the items API describes it; ``resource_id`` is the app GUID."""

    id: str
    name: str = ""
    resource_id: str = Field(alias="resourceId")
    resource_type: str = Field(alias="resourceType")
    space_id: str | None = Field(default=None, alias="spaceId")
    owner_id: str | None = Field(default=None, alias="ownerId")
    meta: ItemMeta = Field(default_factory=ItemMeta)

    @property
    def tag_names(self) -> list[str]:
        """Names of the public tags on the item."""
        return [tag.name for tag in self.meta.tags]


class Reload(_Model):
    """A reload job (``GET /api/v1/reloads``, ``POST /api/v1/reloads``)."""

    id: str
    app_id: str = Field(alias="appId")
    status: str
    creation_time: UtcTime = Field(alias="creationTime")
    start_time: UtcTime | None = Field(default=None, alias="startTime")
    end_time: UtcTime | None = Field(default=None, alias="endTime")
    user_id: str | None = Field(default=None, alias="userId")  # who created it

    @property
    def is_active(self) -> bool:
        """True while the reload is queued, running or being canceled."""
        return self.status in ACTIVE_RELOAD_STATUSES


class SpaceMeta(_Model):
    """What the current user may do in a space, and which roles can be given there."""

    roles: list[str] = Field(default_factory=list)
    assignable_roles: list[str] = Field(default_factory=list, alias="assignableRoles")


class Space(_Model):
    """A shared, managed or data space. Personal spaces have no space resource."""

    id: str
    name: str = ""
    type: Literal["shared", "managed", "data"]
    meta: SpaceMeta = Field(default_factory=SpaceMeta)


class User(_Model):
    """The user ``/api/v1/users/me`` leads to."""

    id: str
    name: str = ""


class ErrorDetail(_Model):
    code: str = ""
    title: str = ""
    detail: str | None = None


class ErrorBody(_Model):
    """The ``{"errors": [...]}`` body every Qlik service answers with on failure."""

    errors: list[ErrorDetail] = Field(default_factory=list)

    @property
    def first(self) -> ErrorDetail:
        """The first error, or an empty one when the body listed none."""
        return self.errors[0] if self.errors else ErrorDetail()


Links.model_rebuild()

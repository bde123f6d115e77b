"""One API call as the handlers see it, the answer they give, and shared paging helpers."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from simulator.scenario import UserSpec
from simulator.shapes import errors
from simulator.tenant import SimTenant

MAX_LIMIT = 100


class BadRequest(Exception):
    """A query or body the real API would refuse with 400."""


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    tenant: SimTenant
    user: UserSpec | None
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def me(self) -> UserSpec:
        """The authenticated user (handlers behind auth only)."""
        assert self.user is not None
        return self.user

    def json(self) -> Any:
        """The request body as JSON; a 400 if it is not."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise BadRequest("request body is not JSON") from None

    def limit(self, default: int = 10) -> int:
        """The ``limit`` parameter, 1 to 100, as the specs require."""
        raw = self.query.get("limit", str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise BadRequest(f"limit must be an integer between 1 and {MAX_LIMIT}, not {raw!r}")
        return int(raw)

    def offset(self) -> int:
        """The row offset a ``next`` cursor of an offset-paged listing carries (0 without one)."""
        if "next" not in self.query:
            return 0
        parts = decode_cursor(self.query["next"])
        if len(parts) != 1 or not parts[0].isdigit():
            raise BadRequest("invalid next cursor")
        return int(parts[0])

    def after_key(self) -> tuple[datetime, str] | None:
        """The (time, id) key a ``next`` cursor of a key-paged listing carries."""
        if "next" not in self.query:
            return None
        parts = decode_cursor(self.query["next"])
        try:
            when, ident = parts
            return datetime.fromisoformat(when), ident
        except ValueError:
            raise BadRequest("invalid next cursor") from None

    def next_link(self, cursor: str) -> dict[str, str]:
        """An absolute ``links.next`` for this listing continued at ``cursor``."""
        query = {key: value for key, value in self.query.items() if key != "next"} | {
            "next": cursor
        }
        return {"href": f"{self.base_url}{self.path}?{urlencode(query)}"}

    def self_link(self) -> dict[str, str]:
        """``links.self`` of this request."""
        suffix = f"?{urlencode(self.query)}" if self.query else ""
        return {"href": f"{self.base_url}{self.path}{suffix}"}


def listing(call: Call, rows: list[Any], cursor: str | None) -> Answer:
    """A list answer: ``data`` plus ``links`` with ``next`` when there is more."""
    links = {"self": call.self_link()}
    if cursor is not None:
        links["next"] = call.next_link(cursor)
    return Answer(200, {"data": rows, "links": links})


def encode_cursor(*parts: str) -> str:
    """An opaque paging cursor."""
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode()


def decode_cursor(cursor: str) -> list[str]:
    """The parts of a cursor made by ``encode_cursor``; a 400 if it is not one."""
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (ValueError, UnicodeError):
        raise BadRequest("invalid next cursor") from None


def refused(status: int, code: str, title: str, detail: str | None = None) -> Answer:
    """An error answer with the Qlik error body."""
    return Answer(status, errors(code, title, detail))

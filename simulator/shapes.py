"""JSON bodies in the shapes the Qlik Cloud OpenAPI specs define."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from simulator.scenario import AppSpec, SpaceSpec, UserSpec

CREATED = "2026-01-05T09:00:00.000Z"
ASSIGNABLE_ROLES: dict[str, list[str]] = {
    "shared": ["codeveloper", "consumer", "dataconsumer", "facilitator", "producer"],
    "managed": [
        "basicconsumer",
        "consumer",
        "contributor",
        "dataconsumer",
        "facilitator",
        "publisher",
    ],
    "data": [
        "consumer",
        "dataconsumer",
        "datapreview",
        "facilitator",
        "operator",
        "producer",
        "publisher",
    ],
}


def errors(code: str, title: str, detail: str | None = None) -> dict[str, Any]:
    """The ``{"errors": [...], "traceId": ...}`` body every Qlik service answers with."""
    error = {"code": code, "title": title} | ({"detail": detail} if detail else {})
    return {"errors": [error], "traceId": secrets.token_hex(12)}


def tag_id(name: str) -> str:
    """The public collection id of a tag, stable for its name."""
    return hashlib.sha1(name.encode()).hexdigest()[:24]


def item(app: AppSpec, tenant_id: str, base_url: str) -> dict[str, Any]:
    """An items-API entry for an app or script; ``resourceId`` is the app's own id."""
    tags = [{"id": tag_id(name), "name": name} for name in app.tags]
    body: dict[str, Any] = {
        "id": "item-" + app.id[-24:],
        "name": app.name,
        "tenantId": tenant_id,
        "ownerId": app.owner,
        "creatorId": app.owner,
        "createdAt": CREATED,
        "updatedAt": CREATED,
        "isFavorited": False,
        "links": {"self": {"href": f"{base_url}/api/v1/items/item-{app.id[-24:]}"}},
        "resourceId": app.id,
        "resourceType": app.resource_type,
        "resourceCreatedAt": CREATED,
        "resourceUpdatedAt": CREATED,
        "actions": ["read", "reload"],
        "collectionIds": [tag["id"] for tag in tags],
        "resourceAttributes": {"id": app.id, "name": app.name},
        "resourceCustomAttributes": {},
        "meta": {
            "isFavorited": False,
            "actions": ["read", "reload"],
            "tags": tags,
            "collections": [],
        },
    }
    if app.space:
        body["spaceId"] = app.space
    return body


def collection(name: str, count: int, tenant_id: str, base_url: str) -> dict[str, Any]:
    """A tag: a collection of type ``public``."""
    ident = tag_id(name)
    return {
        "id": ident,
        "name": name,
        "type": "public",
        "tenantId": tenant_id,
        "createdAt": CREATED,
        "updatedAt": CREATED,
        "itemCount": count,
        "links": {
            "self": {"href": f"{base_url}/api/v1/collections/{ident}"},
            "items": {"href": f"{base_url}/api/v1/items?collectionId={ident}"},
        },
    }


def space(spec: SpaceSpec, roles: list[str], tenant_id: str, base_url: str) -> dict[str, Any]:
    """A shared, managed or data space as the current user sees it."""
    return {
        "id": spec.id,
        "name": spec.name,
        "type": spec.type,
        "tenantId": tenant_id,
        "ownerId": spec.owner,
        "createdAt": CREATED,
        "createdBy": spec.owner,
        "updatedAt": CREATED,
        "description": "",
        "meta": {
            "actions": ["read"],
            "roles": roles,
            "assignableRoles": ASSIGNABLE_ROLES[spec.type],
        },
        "links": {
            "self": {"href": f"{base_url}/api/v1/spaces/{spec.id}"},
            "assignments": {"href": f"{base_url}/api/v1/spaces/{spec.id}/assignments"},
        },
    }


def assignment(
    space_id: str, user_id: str, roles: list[str], tenant_id: str, base_url: str
) -> dict[str, Any]:
    """One member of a space."""
    ident = hashlib.sha1(f"{space_id}/{user_id}".encode()).hexdigest()[:24]
    return {
        "id": ident,
        "type": "user",
        "assigneeId": user_id,
        "roles": roles,
        "spaceId": space_id,
        "tenantId": tenant_id,
        "createdAt": CREATED,
        "links": {
            "self": {"href": f"{base_url}/api/v1/spaces/{space_id}/assignments/{ident}"},
            "space": {"href": f"{base_url}/api/v1/spaces/{space_id}"},
        },
    }


def user(spec: UserSpec, tenant_id: str, base_url: str) -> dict[str, Any]:
    """The user resource ``/users/me`` redirects to."""
    roles = [{"id": "role-admin", "name": "TenantAdmin", "type": "default", "level": "admin"}]
    return {
        "id": spec.id,
        "subject": f"sim|{spec.id}",
        "name": spec.name,
        "tenantId": tenant_id,
        "status": "active",
        "email": f"{spec.id}@sim.example.com",
        "assignedRoles": roles if spec.tenant_admin else [],
        "links": {"self": {"href": f"{base_url}/api/v1/users/{spec.id}"}},
    }


def app(spec: AppSpec, base_url: str) -> dict[str, Any]:
    """``GET /api/v1/apps/{appId}``: the app's attributes."""
    attributes: dict[str, Any] = {
        "id": spec.id,
        "name": spec.name,
        "owner": spec.owner,
        "ownerId": spec.owner,
        "createdDate": CREATED,
        "modifiedDate": CREATED,
        "published": spec.space is not None,
        "description": "",
    }
    if spec.space:
        attributes["spaceId"] = spec.space
    return {"attributes": attributes, "privileges": ["read", "reload"], "create": []}

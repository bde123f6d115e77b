"""Automatic space access, as Qlik's reload runner does it: loudly, and never for personal spaces.

When a start is refused with 403 ``RELOADS-003`` and ``auto_resolve_access`` is on, the
program adds its own identity to the app's space with the least-privileged role that may
reload there, and tries once more. Every change is logged at WARNING and kept in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from qlik.client import QlikClient
from qlik.errors import ApiError

# Roles that may reload, least privileged first, per space type (see RoleType in spaces.json).
RELOAD_ROLES: dict[str, tuple[str, ...]] = {
    "shared": ("producer", "codeveloper", "facilitator"),
    "managed": ("operator", "publisher", "facilitator"),
    "data": ("operator", "producer", "facilitator"),
}


@dataclass(frozen=True)
class AccessChange:
    """Whether access was granted, and what happened, for the ledger."""

    granted: bool
    detail: str


def resolve_access(
    client: QlikClient, app_id: str, space_id: str | None, *, app_label: str = ""
) -> AccessChange:
    """Give this identity a reloading role in the app's space, if that is possible.

    ``app_label`` names the app in the log line (``<id> (<name>)``); the id alone by default.
    """
    if space_id is None:
        return AccessChange(False, "in a personal space: only its owner can reload it; not changed")
    space = client.space(space_id)
    if space is None:
        return AccessChange(False, f"space {space_id} is not visible to this identity")
    assignable = space.meta.assignable_roles
    role = next((r for r in RELOAD_ROLES[space.type] if not assignable or r in assignable), None)
    if role is None:
        return AccessChange(
            False, f"no reloading role can be given in {space.type} space {space.name}"
        )
    me = client.current_user()
    try:
        added = client.add_space_member(space.id, me.id, [role])
    except ApiError as error:
        return AccessChange(False, f"could not add {me.id} to space {space.name}: {error}")
    if not added:
        return AccessChange(
            False, f"{me.id} is already in space {space.name} and still may not reload"
        )
    logger.warning(
        "ACCESS CHANGED: added {} ({}) to {} space {} ({}) as {} to reload {}",
        me.name,
        me.id,
        space.type,
        space.name,
        space.id,
        role,
        app_label or app_id,
    )
    detail = (
        f"access granted: added {me.id} to {space.type} space {space.name} ({space.id}) as {role}"
    )
    return AccessChange(True, detail)

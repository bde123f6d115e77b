"""The users the simulator's own tests (``test_app``, the contract test) sign in as."""

from __future__ import annotations

from typing import Any


def admin_and_bob() -> list[dict[str, Any]]:
    """``admin``: a tenant admin with API key ``key-admin`` and OAuth client ``cid`` /
    ``csecret``; ``bob``: not a tenant admin, API key ``key-bob`` only."""
    return [
        {
            "id": "admin",
            "name": "Admin",
            "api_key": "key-admin",
            "client_id": "cid",
            "client_secret": "csecret",
        },
        {"id": "bob", "name": "Bob", "api_key": "key-bob", "tenant_admin": False},
    ]

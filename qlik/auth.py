"""Authentication for the tenant client: a Bearer API key (OAuth client credentials later)."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from pydantic import SecretStr


class ApiKeyAuth(httpx.Auth):
    """Send ``Authorization: Bearer <API key>``; the key never appears in ``repr``."""

    def __init__(self, api_key: SecretStr) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "ApiKeyAuth(api_key=**********)"

"""The baseline's HTTP client: plain httpx, every call counted by ``METHOD /path``."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx


class BaselineError(Exception):
    """The tenant answered something the baseline cannot go on with."""


class BaselineClient:
    """A small thread-safe client that counts calls per endpoint: one connection per thread.

    Each thread gets its own ``httpx.Client``, as each Automate run is on its own: httpcore's
    pool, shared by threads, can close a connection another thread has just been handed (an
    ``EBADF`` mid-request, seen at a few worker threads).
    """

    def __init__(self, tenant_url: str, api_key: str) -> None:
        self._tenant_url = tenant_url
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def http(self) -> httpx.Client:
        """This thread's client, made on its first call."""
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(
                base_url=self._tenant_url,
                headers=self._headers,
                timeout=httpx.Timeout(60.0),
                limits=httpx.Limits(max_connections=1),
            )
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Close every thread's client."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def request(
        self,
        method: str,
        endpoint: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """One call, counted as ``METHOD endpoint``."""
        with self._lock:
            self.calls[f"{method} {endpoint}"] += 1
        return self.http.request(method, url, params=params, json=body)

    def get_json(
        self, endpoint: str, url: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A GET that must answer 200 with a JSON object."""
        response = self.request("GET", endpoint, url, params=params)
        if response.status_code != 200:
            raise BaselineError(f"GET {endpoint} answered {response.status_code}")
        payload = response.json()
        if not isinstance(payload, dict):
            raise BaselineError(f"GET {endpoint} did not answer a JSON object")
        return payload

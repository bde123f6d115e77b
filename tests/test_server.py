"""SimulatorServer over real HTTP on loopback, driven with httpx."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from simulator.scenario import FaultRule, Scenario
from simulator.server import SimulatorServer

AUTH = {"Authorization": "Bearer sim-api-key"}


def scenario(**faults: Any) -> Scenario:
    return Scenario.model_validate(
        {"apps": [{"key": "a", "queue_seconds": 0, "duration_seconds": 0.05}], "faults": faults}
    )


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    """One server for the tests that do not need their own (each stop() costs up to 0.5 s)."""
    with SimulatorServer(scenario()) as running:
        yield running


def test_starts_on_an_ephemeral_loopback_port(server: SimulatorServer) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    assert host == "127.0.0.1"
    assert int(port) > 0
    reply = httpx.get(f"{server.url}/api/v1/items", headers=AUTH, timeout=5)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["data"][0]["resourceId"] == server.tenant.scenario.apps[0].id


def test_links_use_the_server_url(server: SimulatorServer) -> None:
    reply = httpx.get(f"{server.url}/api/v1/items", headers=AUTH, timeout=5)
    assert reply.json()["links"]["self"]["href"].startswith(f"{server.url}/api/v1/items")


def test_keep_alive_many_requests_on_one_connection(server: SimulatorServer) -> None:
    local_ports = set()
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as client:
        started = time.monotonic()
        for n in range(60):
            path = "/api/v1/items" if n % 2 else "/api/v1/audits"
            reply = client.get(path)
            assert reply.status_code == 200
            stream = reply.extensions["network_stream"]
            local_ports.add(stream.get_extra_info("client_addr")[1])
        elapsed = time.monotonic() - started
    assert len(local_ports) == 1
    assert elapsed < 2.0  # no Nagle/delayed-ACK stall per answer


def test_keep_alive_with_request_bodies(server: SimulatorServer) -> None:
    app_id = server.tenant.scenario.apps[0].id
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as client:
        first = client.post("/api/v1/reloads", json={"appId": app_id})
        assert first.status_code == 201
        time.sleep(0.06)
        second = client.post("/api/v1/reloads", json={"appId": app_id})
        assert second.status_code == 201
        assert client.get("/api/v1/reloads", params={"appId": app_id}).status_code == 200
    assert server.tenant.reload_log() == {app_id: 2}


def test_redirect_is_served_not_followed(server: SimulatorServer) -> None:
    reply = httpx.get(f"{server.url}/api/v1/users/me", headers=AUTH, timeout=5)
    assert reply.status_code == 301
    assert reply.headers["location"] == f"{server.url}/api/v1/users/admin"
    followed = httpx.get(
        f"{server.url}/api/v1/users/me", headers=AUTH, timeout=5, follow_redirects=True
    )
    assert followed.status_code == 200 and followed.json()["id"] == "admin"


def test_dropped_connection_is_a_transport_error(server: SimulatorServer) -> None:
    server.app.faults.add_rule(FaultRule(path="/api/v1/audits", drop=True))
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as client:
        assert client.get("/api/v1/items").status_code == 200
        with pytest.raises(httpx.TransportError):
            client.get("/api/v1/audits")
        # The client recovers on a new connection.
        assert client.get("/api/v1/audits").status_code == 200
    assert server.app.faults.injected["drop"] == 1


def test_dropped_connection_on_a_fresh_client(server: SimulatorServer) -> None:
    server.app.faults.add_rule(FaultRule(path="/api/v1/items", drop=True))
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/api/v1/items", headers=AUTH, timeout=5)


def test_connection_dropped_after_the_reload_started() -> None:
    rule = FaultRule(path="/api/v1/reloads", method="POST", drop=True, after=True)
    with SimulatorServer(scenario(rules=[rule.model_dump()])) as sim:
        app_id = sim.tenant.scenario.app("a").id
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{sim.url}/api/v1/reloads", headers=AUTH, json={"appId": app_id})
        assert sim.tenant.reload_log() == {app_id: 1}


def test_injected_status_over_http(server: SimulatorServer) -> None:
    server.app.faults.add_rule(FaultRule(path="/api/v1/items", status=503, retry_after=2))
    reply = httpx.get(f"{server.url}/api/v1/items", headers=AUTH, timeout=5)
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "2"
    assert reply.json()["errors"][0]["code"] == "HTTP-503"


def test_rate_limit_over_http(server: SimulatorServer) -> None:
    with SimulatorServer(scenario(tier1_limit=2, rate_window_seconds=0.3)) as limited_server:
        assert limited_server.url != server.url  # a second server gets its own port
        with httpx.Client(base_url=limited_server.url, headers=AUTH, timeout=5) as client:
            assert client.get("/api/v1/items").status_code == 200
            assert client.get("/api/v1/items").status_code == 200
            limited = client.get("/api/v1/collections")
            assert limited.status_code == 429
            assert limited.headers["retry-after"] == "1"
            assert client.get("/api/v1/audits").status_code == 200  # its own "special" tier
            time.sleep(0.31)
            assert client.get("/api/v1/collections").status_code == 200


def test_native_tasks_over_http_page_and_share_tier_1() -> None:
    tasks = [{"key": f"t{n}", "app": "a"} for n in range(5)]
    faults = {"tier1_limit": 4, "rate_window_seconds": 60}
    data = scenario(**faults).model_dump() | {"tasks": tasks}
    with (
        SimulatorServer(Scenario.model_validate(data)) as sim,
        httpx.Client(base_url=sim.url, headers=AUTH, timeout=5) as client,
    ):
        first = client.get("/api/scheduling/tasks", params={"limit": 3})
        assert first.status_code == 200 and len(first.json()["data"]) == 3
        href = first.json()["links"]["next"]["href"]
        assert href.startswith(f"{sim.url}/api/scheduling/tasks?") and "page=" in href
        second = client.get(href)
        assert len(second.json()["data"]) == 2 and "next" not in second.json()["links"]
        one = client.get(f"/api/scheduling/tasks/{second.json()['data'][0]['id']}")
        assert one.status_code == 200
        assert client.get("/api/v1/items").status_code == 200  # the 4th tier-1 call
        limited = client.get("/api/scheduling/tasks")
        assert limited.status_code == 429 and limited.headers["retry-after"]
        assert limited.json()["errors"][0]["code"] == 429  # the scheduling API's error shape


def test_latency_and_concurrency() -> None:
    with (
        SimulatorServer(scenario(latency_ms=150)) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=5) as client,
    ):

        def fetch(_: int) -> float:
            started = time.monotonic()
            assert client.get("/api/v1/items").status_code == 200
            return time.monotonic() - started

        started = time.monotonic()
        with ThreadPoolExecutor(6) as pool:
            durations = list(pool.map(fetch, range(6)))
        total = time.monotonic() - started
    assert min(durations) >= 0.15
    assert total < 0.75  # answered in parallel: one after another would take 0.9 s


def test_unauthorized_over_http(server: SimulatorServer) -> None:
    reply = httpx.get(f"{server.url}/api/v1/items", timeout=5)
    assert reply.status_code == 401
    assert reply.json()["errors"][0]["code"] == "HTTP-401"


def test_stop_frees_the_port() -> None:
    server = SimulatorServer(scenario()).start()
    url = server.url
    port = int(url.rsplit(":", 1)[1])
    with httpx.Client(base_url=url, headers=AUTH, timeout=5) as client:
        assert client.get("/api/v1/items").status_code == 200
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/v1/items", headers=AUTH, timeout=1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    again = SimulatorServer(scenario(), port=port).start()
    try:
        assert again.url == url
        assert httpx.get(f"{url}/api/v1/items", headers=AUTH, timeout=5).status_code == 200
    finally:
        again.stop()


def test_stop_without_start_returns() -> None:
    server = SimulatorServer(scenario())
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=0.3)
    assert not stopper.is_alive(), "SimulatorServer.stop() hangs when start() was never called"

"""A total deadline per exchange, and a stop that ends a call in flight: real sockets on loopback.

httpx's own timeouts bound each read, so a tenant that sends a byte every 0.3 s never trips a
1 s read timeout; these tests time real I/O, which is the point, against a server in-process.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

import httpx
import pytest
from pydantic import SecretStr

from qlik.budget import Budget
from qlik.client import QlikClient, connect
from qlik.deadline import bound_pools, exchange
from qlik.errors import NotSentError, OutOfTimeError, TransientError

ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 52\r\n\r\n"
    b'{"id": "s1", "name": "Finance", "type": "managed"}  '
)
# Far more than the bound under test, far less than a test runner's patience.
LATE_S = 3.0


class Loopback:
    """A tenant on 127.0.0.1 that sends its answer a byte every ``every_s`` (never, if None)."""

    def __init__(self, every_s: float | None) -> None:
        self._every_s = every_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests = 0
        self.got_request = threading.Event()
        self._closing = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]

    def __enter__(self) -> Loopback:
        self._threads[0].start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        for thread in list(self._threads):
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            handler = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            self._threads.append(handler)
            handler.start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            self.requests += 1
            self.got_request.set()
            for at in range(len(ANSWER)):
                if self._closing.wait(self._every_s):
                    return
                try:
                    conn.sendall(ANSWER[at : at + 1])
                except OSError:
                    return


def client_of(url: str, **options: object) -> QlikClient:
    sender_options = {"retries": 0, "sleep": lambda _s: None}
    return connect(url, SecretStr("key"), sender_options=sender_options, **options)  # type: ignore[arg-type]


def timed(call: Callable[[], object]) -> tuple[BaseException, float]:
    """The error ``call`` raised, and after how many seconds."""
    began = time.monotonic()
    with pytest.raises(Exception) as caught:
        call()
    return caught.value, time.monotonic() - began


@pytest.fixture
def trickling() -> Iterator[Loopback]:
    with Loopback(every_s=0.3) as server:
        yield server


@pytest.fixture
def silent() -> Iterator[Loopback]:
    with Loopback(every_s=None) as server:
        yield server


def test_a_trickling_answer_fails_after_the_total_timeout(trickling: Loopback) -> None:
    client = client_of(trickling.url, timeout_s=1)
    error, took = timed(lambda: client.space("s1"))
    client.close()
    assert isinstance(error, TransientError)
    assert "no complete answer within 1s (http_timeout_seconds)" in str(error)
    assert 0.9 <= took < 2.0
    assert trickling.requests == 1


def test_a_trickling_answer_to_a_read_is_retried_like_any_timeout(trickling: Loopback) -> None:
    client = connect(
        trickling.url,
        SecretStr("key"),
        timeout_s=0.5,
        sender_options={"retries": 1, "sleep": lambda _s: None},
    )
    error, _took = timed(lambda: client.space("s1"))
    client.close()
    assert isinstance(error, TransientError)
    assert trickling.requests == 2


def test_a_trickling_answer_to_a_start_is_uncertain_and_never_repeated(
    trickling: Loopback,
) -> None:
    client = connect(trickling.url, SecretStr("key"), timeout_s=1)
    error, took = timed(lambda: client.start_reload("app-1"))
    client.close()
    # The tenant may have acted: never a NotSentError, never sent again.
    assert isinstance(error, TransientError)
    assert not isinstance(error, NotSentError)
    assert took < 2.0
    assert trickling.requests == 1


def stop_in_flight(server: Loopback, call: Callable[[QlikClient], object]) -> BaseException:
    """Run ``call`` on a client with an hour's timeout; stop its budget once the request is in."""
    budget = Budget()
    client = connect(server.url, SecretStr("key"), timeout_s=3600, budget=budget)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            call(client)
        except Exception as error:
            failures.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert server.got_request.wait(LATE_S)
    stopped_at = time.monotonic()
    budget.stop()
    thread.join(LATE_S)
    assert not thread.is_alive(), "the call in flight did not end on stop"
    assert time.monotonic() - stopped_at < 1.5
    client.close()
    assert len(failures) == 1
    return failures[0]


def test_stop_ends_a_read_in_flight(silent: Loopback) -> None:
    error = stop_in_flight(silent, lambda client: client.space("s1"))
    assert isinstance(error, OutOfTimeError)
    assert silent.requests == 1


def test_stop_ends_a_start_in_flight_as_uncertain(silent: Loopback) -> None:
    error = stop_in_flight(silent, lambda client: client.start_reload("app-1"))
    assert isinstance(error, TransientError)  # it may have reached the tenant
    assert silent.requests == 1


@pytest.fixture
def unreachable() -> Iterator[str]:
    """A loopback port whose accept queue is full, so a connect to it hangs (Linux)."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    address = listener.getsockname()
    queued: list[socket.socket] = []
    try:
        for _ in range(8):
            probe = socket.socket()
            probe.settimeout(0.3)
            try:
                probe.connect(address)
            except OSError:
                probe.close()
                break
            queued.append(probe)
        else:
            pytest.skip("this system accepts every connect: no hanging connect to test")
        yield f"http://127.0.0.1:{address[1]}"
    finally:
        for probe in queued:
            probe.close()
        listener.close()


def test_a_connect_that_hangs_fails_after_the_total_timeout(unreachable: str) -> None:
    client = client_of(unreachable, timeout_s=1)
    error, took = timed(lambda: client.space("s1"))
    client.close()
    assert isinstance(error, TransientError)
    assert "cannot connect" in str(error)
    assert 0.9 <= took < 2.0


def test_stop_ends_a_connect_that_hangs(unreachable: str) -> None:
    budget = Budget()
    client = connect(unreachable, SecretStr("key"), timeout_s=3600, budget=budget)
    threading.Timer(0.3, budget.stop).start()
    error, took = timed(lambda: client.start_reload("app-1"))
    client.close()
    # A start that never connected was never sent: the budget says so on its retry.
    assert isinstance(error, OutOfTimeError)
    assert took < 1.8


def test_every_pool_is_bound_including_an_environment_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert bound_pools(httpx.Client(), Budget()) == 2  # direct, and through the proxy


def test_an_injected_transport_is_left_alone() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200)))
    assert bound_pools(http, Budget()) == 0


def test_an_exchange_bounds_only_its_own_block() -> None:
    with exchange(5), exchange(None):
        pass  # nested blocks restore what was there before
    server = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    with server, exchange(0.5):
        http = httpx.Client(timeout=60)
        bound_pools(http, Budget())
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        error, took = timed(lambda: http.get(url))
        http.close()
    # A loaded machine may still be connecting when the half second is up (ConnectTimeout);
    # either way the block's bound ended a call that httpx alone would let run 60 s.
    assert isinstance(error, httpx.ReadTimeout | httpx.ConnectTimeout)
    assert took < 10.0

"""A total deadline for each exchange with the tenant, and a stop that reaches calls in flight.

httpx's timeouts bound each socket operation, not a response: a server that sends a byte every
20 s holds a call for ever. So the socket layer under httpx (an httpcore network backend) bounds
every operation by the time left before the deadline of the exchange in progress, which the
Sender sets around each request (``exchange``). Reads wait in slices of ``READ_SLICE_S`` and
connecting runs in a helper thread, so ``Budget.stop`` ends a call in flight within a slice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from qlik.budget import STOPPING, Budget
from qlik.clock import SYSTEM_CLOCK

READ_SLICE_S = 0.5

_local = threading.local()

Connect = Callable[[float | None], httpcore.NetworkStream]


@dataclass(frozen=True)
class _Exchange:
    deadline: float
    seconds: float


@contextmanager
def exchange(seconds: float | None) -> Iterator[None]:
    """Within the block, this thread's network operations end ``seconds`` from now at most.

    An operation still running then fails as httpx's timeouts do (``ReadTimeout``,
    ``ConnectTimeout``, ``WriteTimeout``). None: only httpx's own timeouts apply.
    """
    previous = getattr(_local, "exchange", None)
    _local.exchange = (
        None if seconds is None else _Exchange(SYSTEM_CLOCK.monotonic() + seconds, seconds)
    )
    try:
        yield
    finally:
        _local.exchange = previous


@dataclass(frozen=True)
class _Bound:
    """When one network operation must end, and why."""

    ends: float | None
    why: str

    @classmethod
    def of(cls, timeout: float | None) -> _Bound:
        own = None if timeout is None else SYSTEM_CLOCK.monotonic() + timeout
        current: _Exchange | None = getattr(_local, "exchange", None)
        if current is not None and (own is None or current.deadline < own):
            return cls(
                current.deadline,
                f"no complete answer within {current.seconds:g}s (http_timeout_seconds)",
            )
        return cls(own, f"timed out after {timeout}s")

    def slice(
        self, budget: Budget, timeout_error: type[Exception], stop_error: type[Exception]
    ) -> float:
        """Seconds to wait next; raises ``stop_error`` once stopped, ``timeout_error`` once due."""
        if budget.stopped:
            raise stop_error(STOPPING)
        if self.ends is None:
            return READ_SLICE_S
        left = self.ends - SYSTEM_CLOCK.monotonic()
        if left <= 0:
            raise timeout_error(self.why)
        return min(left, READ_SLICE_S)

    def left(self) -> float | None:
        return None if self.ends is None else max(0.0, self.ends - SYSTEM_CLOCK.monotonic())


class BoundedStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the exchange's deadline, or soon after a stop."""

    def __init__(self, inner: httpcore.NetworkStream, budget: Budget) -> None:
        self._inner = inner
        self._budget = budget

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bound = _Bound.of(timeout)
        while True:
            wait = bound.slice(self._budget, httpcore.ReadTimeout, httpcore.ReadError)
            try:
                return self._inner.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                continue  # only a slice ended; a timed-out recv consumed nothing

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # Not sliced: after a timed-out send, how much of the buffer went is unknown. Requests
        # are small: a write waits only when the peer stops reading, and the deadline ends that.
        bound = _Bound.of(timeout)
        bound.slice(self._budget, httpcore.WriteTimeout, httpcore.WriteError)
        self._inner.write(buffer, bound.left())

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        def handshake(left: float | None) -> httpcore.NetworkStream:
            return self._inner.start_tls(ssl_context, server_hostname, left)

        return BoundedStream(_in_helper(handshake, timeout, self._budget), self._budget)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class BoundedBackend(httpcore.NetworkBackend):
    """``inner``'s connections, bounded by the exchange's deadline and stopped by ``budget``."""

    def __init__(self, inner: httpcore.NetworkBackend, budget: Budget) -> None:
        self._inner = inner
        self._budget = budget

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        def connect(left: float | None) -> httpcore.NetworkStream:
            return self._inner.connect_tcp(host, port, left, local_address, socket_options)

        return BoundedStream(_in_helper(connect, timeout, self._budget), self._budget)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        def connect(left: float | None) -> httpcore.NetworkStream:
            return self._inner.connect_unix_socket(path, left, socket_options)

        return BoundedStream(_in_helper(connect, timeout, self._budget), self._budget)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _in_helper(connect: Connect, timeout: float | None, budget: Budget) -> httpcore.NetworkStream:
    """``connect`` in a helper thread, waited for in slices: name lookup and handshakes block
    in ways no socket timeout reaches. A connection that arrives after the wait gave up is closed.
    """
    bound = _Bound.of(timeout)
    wait = bound.slice(budget, httpcore.ConnectTimeout, httpcore.ConnectError)
    worker = _Worker(connect, bound.left())
    try:
        while not worker.done.wait(wait):
            wait = bound.slice(budget, httpcore.ConnectTimeout, httpcore.ConnectError)
    except BaseException:
        worker.abandon()
        raise
    return worker.result()


class _Worker:
    """One blocking connection step in a daemon thread (it never holds up the program's exit)."""

    def __init__(self, connect: Connect, left: float | None) -> None:
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._stream: httpcore.NetworkStream | None = None
        self._error: BaseException | None = None
        self._connect = connect
        threading.Thread(target=self._run, args=(left,), name="qlik-connect", daemon=True).start()

    def _run(self, left: float | None) -> None:
        try:
            stream = self._connect(left)
        except BaseException as error:  # handed to the waiting thread, which raises it
            self._error = error
        else:
            with self._lock:
                if self._abandoned:
                    stream.close()
                else:
                    self._stream = stream
        finally:
            self.done.set()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            if self._stream is not None:
                self._stream.close()
                self._stream = None

    def result(self) -> httpcore.NetworkStream:
        if self._error is not None:
            raise self._error
        assert self._stream is not None
        return self._stream


def bound_pools(http: httpx.Client, budget: Budget) -> int:
    """Put every connection pool of ``http`` (its own and its proxies') on ``BoundedBackend``.

    Returns how many pools were bound: 0 when ``http`` got a transport of its own (tests).
    httpx offers no public way to choose the network backend of the pools it builds.
    """
    bound = 0
    for transport in [http._transport, *http._mounts.values()]:
        pool = getattr(transport, "_pool", None)
        if isinstance(pool, httpcore.ConnectionPool):
            pool._network_backend = BoundedBackend(pool._network_backend, budget)
            bound += 1
    return bound

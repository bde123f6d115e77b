"""Serve a simulated tenant over real HTTP on loopback (standard library server, HTTP/1.1)."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from loguru import logger

from simulator.app import SimulatorApp
from simulator.scenario import Scenario
from simulator.tenant import SimTenant


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle's algorithm meets the
        # client's delayed ACK and every answer waits ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.app.handle(
            self.command, self.path, self.headers.get("Authorization", ""), body
        )
        if reply.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the simulator is used inside tests and the demo."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: SimulatorApp

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that vanishes mid-request (killed, timed out) is routine for a server."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            logger.debug("simulator: client {} went away: {}", client_address, error)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class SimulatorServer:
    """A simulated tenant listening on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, scenario: Scenario, host: str = "127.0.0.1", port: int = 0) -> None:
        self.tenant = SimTenant(scenario)
        self.app = SimulatorApp(self.tenant)
        self._server = _Server((host, port), _Handler)
        self._server.app = self.app
        self.app.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="simulator",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The tenant URL to give reload-chain, e.g. ``http://127.0.0.1:49152``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SimulatorServer:
        """Serve on a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (if it was started) and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

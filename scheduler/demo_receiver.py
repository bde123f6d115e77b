"""The demo's alert receiver: a local HTTP server taking the POSTs of Apprise's ``json://``.

Apprise's JSON notification is one POST of ``{"version", "title", "message", "type", ...}``
to the URL's host and path. ``AlertReceiver`` serves on a free port of 127.0.0.1, records each
alert before it answers 200 (so an alert is recorded by the time ``deliver`` returns), and hands
out the ones not shown yet with ``take_new``; ``describe`` is how the demo prints one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from scheduler.alert_send import KIND_LABELS

HOST = "127.0.0.1"
PATH = "/alerts"
TITLE_PREFIX = "reload-chain: "


@dataclass(frozen=True)
class ReceivedAlert:
    """One POST the receiver accepted: its path, and the alert's title and message."""

    path: str
    title: str
    message: str

    @property
    def kind(self) -> str | None:
        """The alert kind whose label the title carries (``reload_failed``), else None."""
        label = self.title.removeprefix(TITLE_PREFIX).split(":", 1)[0]
        return next((kind for kind, text in KIND_LABELS.items() if text == label), None)


def describe(alert: ReceivedAlert) -> str:
    """``alert received: <title>``, then the message's lines, indented."""
    body = "\n".join("    " + line for line in alert.message.splitlines())
    return f"alert received: {alert.title}\n{body}"


class AlertReceiver:
    """An HTTP server on a free loopback port, recording every JSON alert POSTed to it.

    Use it as a context manager: it serves in a thread of its own inside ``with``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[ReceivedAlert] = []
        self._shown = 0
        self._server = ThreadingHTTPServer((HOST, 0), _handler(self._record))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The Apprise URL that sends alerts here: ``json://127.0.0.1:<port>/alerts``."""
        return f"json://{HOST}:{self._server.server_address[1]}{PATH}"

    @property
    def received(self) -> tuple[ReceivedAlert, ...]:
        """Every alert received so far, oldest first."""
        with self._lock:
            return tuple(self._received)

    def take_new(self) -> list[ReceivedAlert]:
        """The alerts received since the last call, oldest first."""
        with self._lock:
            new = self._received[self._shown :]
            self._shown = len(self._received)
        return new

    def _record(self, alert: ReceivedAlert) -> None:
        with self._lock:
            self._received.append(alert)

    def __enter__(self) -> AlertReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _handler(record: Callable[[ReceivedAlert], None]) -> type[BaseHTTPRequestHandler]:
    """A request handler class that passes each well-formed alert to ``record``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            alert = _parse(self.path, self.rfile.read(length))
            if alert is not None:
                record(alert)
            self.send_response(200 if alert is not None else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the demo prints each alert itself, not the server's access log."""

    return Handler


def _parse(path: str, body: bytes) -> ReceivedAlert | None:
    """The alert of an Apprise JSON body; None when it is not one."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    title, message = payload.get("title"), payload.get("message")
    if not isinstance(title, str) or not isinstance(message, str):
        return None
    return ReceivedAlert(path, title, message)

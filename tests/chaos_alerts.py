"""The soak's alerts: a local receiver, the settings pointing at it, and the alert oracle.

With the ``alerts`` feature, a run's sweeps send ``reload_failed`` alerts (``json://``, no
repeat window) to a ThreadingHTTPServer in the soak's process, which answers 500 to its first
K POSTs. The oracle: every reload reload-chain started (the simulator's ``api_starts``) that
ended FAILED is delivered exactly once, named by its reload id in the message's reason, and
nothing else is delivered. Each duplicate or loss gets a note (``tests/chaos_alert_causes``).
The receiver also keeps each POST's ``X-Reload-Chain-Alert-Id``: beside the raw count, the
oracle counts what a receiver dropping a repeated id would still see twice, and that no id
names two reloads (such a receiver would drop a real alert).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scheduler.alert_send import ALERT_ID_HEADER, check_urls
from simulator.tenant import SimTenant
from tests.chaos_alert_causes import duplicate_note, judge_keys, lost_cause
from tests.chaos_report import RunResult
from tests.chaos_sweeps import Span

# The reason ``jobs.alerts`` writes for a failed reload (its ``Reason:`` line in the body).
_REASON = re.compile(
    r"^Reason: reload ([0-9a-f]+), started by reload-chain, ended in failure", re.M
)
_APP = re.compile(r"^App: .*\(([^()]+)\)$", re.M)
# Apprise is imported, and loads its plugins on first use, in half a second or more on a busy
# machine: done here, once, before the sweeps fork, or every sweep would spend its first
# instants on it and those killed at random would die before they do anything.
check_urls(["json://127.0.0.1/alerts"])
SETTINGS = """\
[[alert]]
url = "{url}"
on = ["reload_failed"]
repeat_minutes = 0
"""


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver accepted (answered 200): when, the alert's text and its id."""

    at: float  # time.monotonic(), taken before the answer
    title: str
    body: str
    alert_id: str = ""  # its X-Reload-Chain-Alert-Id header ("" when it had none)

    @property
    def reload_id(self) -> str | None:
        """The reload the message names as failed, if it names one."""
        found = _REASON.search(self.body)
        return found.group(1) if found else None

    @property
    def app_id(self) -> str | None:
        """The app id the message names (``App: name (id)``)."""
        found = _APP.search(self.body)
        return found.group(1) if found else None


@dataclass
class Receiver:
    """The alerts' destination: refuses (500) its first ``fail_first`` POSTs, keeps the rest.

    With ``kill_delay`` (``alert_kills``), its first 200 calls ``kill`` that much later: the
    sweep that sent the alert dies just before or just after marking it sent.
    """

    fail_first: int
    port: int = 0
    refused: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    kill_delay: float | None = None
    kill: Callable[[], None] | None = None
    fired: bool = False

    @property
    def url(self) -> str:
        """The Apprise URL of the ``[[alert]]`` table."""
        return f"json://127.0.0.1:{self.port}/alerts"

    def take(self, payload: bytes, at: float, alert_id: str = "") -> int:
        """Record one POST; the status to answer."""
        with self.lock:
            if self.refused < self.fail_first:
                self.refused += 1
                return 500
            values = json.loads(payload)
            title, body = values.get("title", ""), values.get("message", "")
            self.deliveries.append(Delivery(at, title, body, alert_id))
            return 200

    def answered(self) -> None:
        """After the first 200 was sent: ``kill`` after ``kill_delay`` (once per run)."""
        with self.lock:
            if self.kill_delay is None or self.kill is None or self.fired:
                return
            self.fired = True
        timer = threading.Timer(self.kill_delay, self.kill)
        timer.daemon = True
        timer.start()


@contextmanager
def receiving(fail_first: int | None, kill_delay: float | None = None) -> Iterator[Receiver | None]:
    """A receiver on 127.0.0.1 for the run (None when the run has no alerts)."""
    if fail_first is None:
        yield None
        return
    state = Receiver(fail_first, kill_delay=kill_delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _handler(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            payload = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            alert_id = self.headers.get(ALERT_ID_HEADER, "")
            status = state.take(payload, time.monotonic(), alert_id)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()
            if status == 200:
                state.answered()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def write_settings(folder: Path, receiver: Receiver) -> Path:
    """The run's settings file: one ``[[alert]]`` route, ``reload_failed`` only."""
    path = folder / "alerts.toml"
    path.write_text(SETTINGS.format(url=receiver.url), encoding="utf-8")
    return path


def failed_starts(tenant: SimTenant, by: datetime | None = None) -> dict[str, str]:
    """Reload id -> app id of every reload started through the API that ended FAILED (by
    ``by``, the tenant's time; by now if None)."""
    with tenant.lock:
        now = by or tenant.clock()
        return {r.id: r.app_id for r in tenant.api_starts if r.status(now) == "FAILED"}


def undelivered(tenant: SimTenant, receiver: Receiver) -> set[str]:
    """The failed starts no delivery names yet."""
    with receiver.lock:
        named = {delivery.reload_id for delivery in receiver.deliveries}
    return set(failed_starts(tenant)) - named


def alert_sweeps(
    tenant: SimTenant, receiver: Receiver, wait: Callable[[], None], sweep: Callable[[], int]
) -> tuple[int, datetime]:
    """Sweeps after the clean ones until every failed start was delivered (K+3 at most: the
    last hops' failures are read, refused deliveries retried), then one more, in which nothing
    may be delivered again. How many ran, and the tenant's time the last one started at: a
    reload that failed before it must have been delivered."""
    extra = 0
    while extra < receiver.fail_first + 3:
        wait()
        if not undelivered(tenant, receiver):
            break
        sweep()
        extra += 1
    wait()
    last = tenant.clock()
    sweep()
    return extra + 1, last


@dataclass(frozen=True)
class Witness:
    """What the oracle needs of the run besides the tenant and receiver."""

    spans: list[Span]  # when each sweep ran, and whether it was killed
    by: datetime  # the tenant's time the last sweep started at
    db: Path  # the run's database, read for the notes of lost alerts
    lost_state: str = ""  # the run's database emptied or restored


def judge_alerts(
    result: RunResult, tenant: SimTenant, receiver: Receiver, witness: Witness
) -> None:
    """The alert oracle: fill in ``result``'s alert counts, lists and notes.

    Expected: one delivery per reload that failed by the time the last sweep started; one
    that failed later (started by a last sweep that should have started nothing) may have one.
    """
    keys = {app.id: app.key for app in tenant.scenario.apps}
    deliveries = list(receiver.deliveries)
    failed = failed_starts(tenant)
    counts = Counter(str(d.reload_id) for d in deliveries if _expected(d, failed))

    def label(reload_id: str) -> str:
        return f"{keys.get(failed[reload_id], '?')}#{int(reload_id, 16)}"

    result.alerts = True
    result.failed_starts = len(failed)
    result.alert_deliveries = len(deliveries)
    result.receiver_failures = receiver.refused
    lost = sorted(set(failed_starts(tenant, witness.by)) - set(counts))
    twice = sorted(reload_id for reload_id, n in counts.items() if n > 1)
    result.alerts_lost = [label(r) for r in lost]
    result.alerts_duplicated = [label(r) for r in twice]
    result.alerts_delivered_once = sum(1 for n in counts.values() if n == 1)
    judge_keys(result, deliveries, [d for d in deliveries if _expected(d, failed)], label)
    result.alerts_unexpected = [d.title for d in deliveries if not _expected(d, failed)]
    spans, state = witness.spans, witness.lost_state
    result.alert_notes = [
        f"{label(r)}: {duplicate_note(deliveries, r, spans, state)}" for r in twice
    ] + [f"{label(r)}: {lost_cause(witness.db, r, state)}" for r in lost]
    result.killed_after_delivering = sum(
        1 for span in spans if span.killed and any(span.covers(d.at) for d in deliveries)
    )
    result.answer_kill = receiver.fired


def _expected(delivery: Delivery, failed: Mapping[str, str]) -> bool:
    reload_id = delivery.reload_id
    return reload_id is not None and reload_id in failed and delivery.app_id == failed[reload_id]

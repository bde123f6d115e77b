"""Delivery of the outbox: after each commit, every pending alert is sent to its URL.

A sweep writes its alerts in its own transaction (``jobs.alerts``); ``Notifier.deliver_pending``
runs after the commit (the ``after_commit`` hook of ``SweepContext``, set by the runtime). Each
outbox row is one alert for one URL: once delivered it is marked ``sent``; a failed delivery is
counted, its error kept (scrubbed), and the next sweeps try again until the alert is 24 hours
old, when it is marked ``expired`` with one WARNING line, as is a row whose URL is no longer in
the settings. Delivery never raises and never changes what a sweep decided or its exit code.

Delivery is at least once: a process killed after the receiver accepted an alert and before
``Store.alert_sent`` commits sends it again after the next sweep. Each message carries its
row's ``alert_id`` (the same on every retry) for a receiver to drop such a repeat.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from loguru import logger

from qlik.clock import Clock
from qlik.times import parse_time
from scheduler.alert_config import AlertRoute, destination_of
from state.alert_reads import AlertReads
from state.store import Store

if TYPE_CHECKING:
    from scheduler.alert_message import AlertMessage

RETRY_FOR = timedelta(hours=24)
SEND_TIMEOUT_S = 10.0


class Notifier:
    """Sends the outbox's pending alerts through Apprise to the URLs of ``routes``."""

    def __init__(
        self,
        routes: Sequence[AlertRoute],
        store: Store,
        clock: Clock,
        timeout_s: float = SEND_TIMEOUT_S,
    ) -> None:
        self._urls = {destination_of(url): url for route in routes for url in route.urls}
        self._store = store
        self._reads = AlertReads.of(store)
        self._clock = clock
        self._timeout_s = timeout_s

    def deliver_pending(self) -> None:
        """Send every pending alert, expire the hopeless ones; never raises."""
        try:
            self._deliver_all()
        except Exception as error:  # delivery must never change a sweep's outcome
            logger.warning("alert delivery stopped, tried again after the next sweep: {}", error)

    def _deliver_all(self) -> None:
        now = self._clock.now()
        pending = self._reads.pending_alerts()
        if not pending:
            return
        expired = [row for row in pending if self._hopeless(row, now)]
        self._expire(expired, now)
        gone = {row["alert_id"] for row in expired}
        # A destination that failed once this round is left for the next: its alerts would
        # each wait for the same timeout.
        failing: set[str] = set()
        for row in pending:
            skip = row["alert_id"] in gone or row["destination"] in failing
            if not skip and not self._send(row):
                failing.add(row["destination"])

    def _hopeless(self, row: dict[str, Any], now: datetime) -> bool:
        too_old = now - parse_time(row["raised_at"]) >= RETRY_FOR
        return too_old or row["destination"] not in self._urls

    def _expire(self, rows: list[dict[str, Any]], now: datetime) -> None:
        if not rows:
            return
        self._store.expire_alerts(row["alert_id"] for row in rows)
        old = sum(1 for row in rows if now - parse_time(row["raised_at"]) >= RETRY_FOR)
        logger.warning(
            "{} alerts expired undelivered: {} raised over {:g} hours ago, {} for a URL no "
            "longer in [[alert]] (kinds: {})",
            len(rows),
            old,
            RETRY_FOR.total_seconds() / 3600,
            len(rows) - old,
            ", ".join(sorted({row["kind"] for row in rows})),
        )

    def _send(self, row: dict[str, Any]) -> bool:
        """Deliver one row; mark it sent, or count the failure. True when delivered."""
        # Apprise takes a tenth of a second to import: paid only when there is one to send.
        from scheduler.alert_send import deliver, redacted

        url = self._urls[row["destination"]]
        message = as_message(row["message"], row["alert_id"])
        result = deliver([url], message, timeout_s=self._timeout_s)
        if result.ok:
            self._store.alert_sent(row["alert_id"], self._clock.now())
            logger.info("alert sent to {}: {}", redacted(url), message.title)
            return True
        self._store.alert_failed(row["alert_id"], result.error or "not delivered")
        logger.warning(
            "alert not delivered, tried again after the next sweeps for up to {:g} hours: {}: {}",
            RETRY_FOR.total_seconds() / 3600,
            message.title,
            result.error,
        )
        return False


def as_message(text: str, alert_id: str = "") -> AlertMessage:
    """The ``AlertMessage`` an outbox row's ``message`` JSON holds, carrying the row's id."""
    from scheduler.alert_message import AlertMessage

    values = json.loads(text) | {"alert_id": alert_id}
    return AlertMessage(**{f.name: values.get(f.name) for f in fields(AlertMessage)})

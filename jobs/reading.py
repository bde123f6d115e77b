"""Read a window's reload-finished events page by page, keeping only what is new.

Pages are processed as they arrive, so memory grows with the number of new reloads, not
with the number of events or pages read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from loguru import logger

from jobs.progress import NoProgress, ReadProgress
from qlik.errors import RetryableError, StoppedError
from qlik.events import FinishedReload, InvalidEventError, parse_finished_reload
from qlik.times import format_time
from state.store import RAW_TEXT_LIMIT, Store

# Kept of an invalid event's text: the store scrubs secrets first, then cuts it to this.
RAW_EVENT_LIMIT = RAW_TEXT_LIMIT

RunKey = tuple[str, str]


def run_key(run: FinishedReload) -> RunKey:
    """The key that makes a finished reload new or already handled: (reload id, outcome).

    Qlik emits one event per engine attempt: a reload may fail, then succeed when retried
    under the same reload id, and each outcome fires its own edges.
    """
    return (run.reload_id, run.outcome)


@dataclass
class EventReader:
    """Accumulates the new finished reloads of one sweep."""

    store: Store
    sweep_id: str
    # Events stamped after the window's end are invalid ("future"); before ``late_before``
    # (the cursor) and new, they are late: a sweep that should have seen them did not.
    window_end: datetime | None = None
    late_before: datetime | None = None
    late: int = 0
    late_worst_s: float = 0.0
    read: int = 0
    complete: bool = False
    last_event_time: datetime | None = None
    runs: dict[RunKey, FinishedReload] = field(default_factory=dict)
    # Events after a run's first (Qlik may emit an event twice): usually empty.
    more_event_ids: dict[RunKey, list[str]] = field(default_factory=dict)
    already_handled: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    progress: ReadProgress = field(default_factory=NoProgress)

    def read_all(self, pages: Iterable[list[dict[str, Any]]], now: datetime) -> None:
        """Consume pages until done; a retryable failure leaves ``complete`` False."""
        number = 0
        try:
            for number, page in enumerate(pages, start=1):
                self.add_page(page, now)
                logger.debug("page {}: {} events ({} read so far)", number, len(page), self.read)
                self.progress.page_read(number, self.read, self.last_event_time)
        except StoppedError:
            logger.info("reading events stopped after {} events: stopping", self.read)
            return
        except RetryableError as error:
            logger.error("reading events stopped after {} events: {}", self.read, error)
            return
        finally:
            self.progress.finished(number, self.read)
        self.complete = True

    def add_page(self, raw_events: list[dict[str, Any]], now: datetime) -> None:
        """Classify one page of raw events: invalid, already handled, duplicate, or new."""
        parsed = [self._parse(raw, now) for raw in raw_events]
        # An event repeated across pages of one listing is read once.
        valid = [run for run in parsed if run is not None and not self._read_before(run)]
        self.read += len(raw_events)
        seen_events, seen_runs = self.store.handled(
            (run.event_id for run in valid), (run_key(run) for run in valid)
        )
        for run in valid:
            self.last_event_time = max(self.last_event_time or run.event_time, run.event_time)
            if run.event_id in seen_events:
                continue
            if run_key(run) in seen_runs:
                self.already_handled.append(handled_row(run, self.sweep_id))
                continue
            first = self.runs.setdefault(run_key(run), run)
            if first is not run:
                self.more_event_ids.setdefault(run_key(run), []).append(run.event_id)
            else:
                self._note_if_late(run, now)

    def _note_if_late(self, run: FinishedReload, now: datetime) -> None:
        if self.late_before is None or run.event_time >= self.late_before:
            return
        lag_s = (now - run.event_time).total_seconds()
        self.late += 1
        self.late_worst_s = max(self.late_worst_s, lag_s)
        logger.warning(
            "late event {} of app {} (reload {}): stamped {}, first seen {:.0f}s later",
            run.event_id,
            run.app_id,
            run.reload_id,
            format_time(run.event_time),
            lag_s,
        )

    def _read_before(self, run: FinishedReload) -> bool:
        """Was this very event read earlier in this sweep (as a new run)?

        Asked of the runs kept anyway, not of a set of every event id read: a catch-up reads
        100,000 of them. Events of runs handled before are upserted by id, so repeats are harmless.
        """
        first = self.runs.get(run_key(run))
        if first is None:
            return False
        return run.event_id == first.event_id or run.event_id in self.more_event_ids.get(
            run_key(run), ()
        )

    def event_ids(self, key: RunKey) -> list[str]:
        """The ids of every event read this sweep for one new run."""
        return [self.runs[key].event_id, *self.more_event_ids.get(key, ())]

    def _parse(self, raw: Any, now: datetime) -> FinishedReload | None:
        try:
            return self._in_window(parse_finished_reload(raw))
        except InvalidEventError as error:
            key = invalid_key(raw)
            if key not in self.store.known_invalid([key]) and all(
                row["key"] != key for row in self.invalid
            ):
                logger.warning("invalid audit event {} skipped: {}", key, error)
                self.invalid.append(invalid_row(key, raw, str(error), self.sweep_id, now))
            return None

    def _in_window(self, run: FinishedReload) -> FinishedReload:
        """A run stamped after the window's end would move the cursor into the future.

        A reload cannot end after its own event was written: a later ``data.endTime`` (a
        lying engine clock) is cut to the event's time, or an interrupted start of its
        successor would be judged against 2099 and repeated.
        """
        if self.window_end is not None and run.event_time > self.window_end:
            raise InvalidEventError(
                f"future: eventTime {format_time(run.event_time)} is after the window's end "
                f"{format_time(self.window_end)}"
            )
        return replace(run, ended_at=run.event_time) if run.ended_at > run.event_time else run


def handled_row(run: FinishedReload, sweep_id: str, event_id: str | None = None) -> dict[str, Any]:
    """The ``handled_events`` row of one event."""
    return {
        "event_id": event_id or run.event_id,
        "reload_id": run.reload_id,
        "outcome": run.outcome,
        "app_id": run.app_id,
        "event_time": format_time(run.event_time),
        "sweep_id": sweep_id,
    }


def invalid_key(raw: Any) -> str:
    """The event's id when it has one, else a digest of its content."""
    if isinstance(raw, dict):
        event_id = raw.get("id") or raw.get("eventId")
        if isinstance(event_id, str) and event_id.strip():
            return event_id.strip()
    text = json.dumps(raw, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def invalid_row(key: str, raw: Any, reason: str, sweep_id: str, now: datetime) -> dict[str, Any]:
    """The ``invalid_events`` row that keeps a bad event for inspection."""
    event_id = (raw.get("id") or raw.get("eventId")) if isinstance(raw, dict) else None
    return {
        "key": key,
        "event_id": event_id if isinstance(event_id, str) else None,
        "reason": reason,
        # Four times the limit: a secret cut here lies beyond what the store keeps.
        "raw": json.dumps(raw, default=str)[: 4 * RAW_EVENT_LIMIT],
        "sweep_id": sweep_id,
        "seen_at": format_time(now),
    }

"""Why an alert of the soak went missing or came twice, for the run's notes.

A duplicate is explained when its first delivery came from a sweep that was then SIGKILLed:
the documented at-least-once window (the receiver answered, the row not yet marked ``sent``).
A lost alert is told by what the run's database says of its reload: no ledger row started it
(the state was lost, or the start never settled), its outcome still unjudged, or its outcome
recorded without an alert.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Protocol

from tests.chaos_report import KILL_WINDOW
from tests.chaos_sweeps import Span


class Delivered(Protocol):
    """A delivery the receiver accepted (``tests.chaos_alerts.Delivery``)."""

    @property
    def at(self) -> float: ...

    @property
    def reload_id(self) -> str | None: ...


def first_delivery(deliveries: Iterable[Delivered], reload_id: str) -> float:
    """When the reload's alert was first delivered (monotonic seconds)."""
    return min(d.at for d in deliveries if d.reload_id == reload_id)


def duplicate_cause(delivered_at: float, spans: list[Span], lost_state: str = "") -> str:
    """Why a delivery may have been sent again: its sweep was killed before marking it sent
    (or the run's database was emptied or restored under it)."""
    killed = [span for span in spans if span.killed and span.covers(delivered_at)]
    if killed:
        gap = min(span.end - delivered_at for span in killed)
        return f"its sweep was SIGKILLed {gap:.3f} s after the delivery ({KILL_WINDOW})"
    return "no sweep running at its first delivery was killed: not the kill window" + _state(
        lost_state
    )


def lost_cause(db: Path, reload_id: str, lost_state: str) -> str:
    """What the run's database says of a failed reload no alert named."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
            rows = connection.execute(
                "select outcome from ledger where reload_id = ? and decision = 'triggered'",
                [reload_id],
            ).fetchall()
    except sqlite3.Error as error:
        return f"lost; the database cannot tell why ({error})"
    state = _state(lost_state)
    if not rows:
        return f"lost: no ledger row says reload-chain started it{state}"
    if any(outcome is None for (outcome,) in rows):
        return f"lost: its outcome was never recorded{state}"
    outcomes = ", ".join(sorted({str(outcome) for (outcome,) in rows}))
    return f"lost: its outcome ({outcomes}) was recorded, but no alert raised{state}"


def _state(lost_state: str) -> str:
    return f" (the database was {lost_state} during the run)" if lost_state else ""

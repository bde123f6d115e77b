"""Why an alert of the soak went missing or came twice, for the run's notes.

A duplicate is explained when its first delivery came from a sweep that was then SIGKILLed:
the documented at-least-once window (the receiver answered, the row not yet marked ``sent``).
A lost alert is told by what the run's database says of its reload: no ledger row started it
(the state was lost, or the start never settled), its outcome still unjudged, or its outcome
recorded without an alert.

The alert id (``X-Reload-Chain-Alert-Id``) tells a retry of one outbox row (one id: a receiver
honouring the key drops the repeat) from a second row raised for the same cause (two ids: no
key helps, a bug of the outbox); ``after_key`` counts what such a receiver keeps.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Protocol

from tests.chaos_report import KILL_WINDOW, RunResult
from tests.chaos_sweeps import Span


class Delivered(Protocol):
    """A delivery the receiver accepted (``tests.chaos_alerts.Delivery``)."""

    @property
    def at(self) -> float: ...

    @property
    def reload_id(self) -> str | None: ...

    @property
    def alert_id(self) -> str: ...


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


def duplicate_note(
    deliveries: Sequence[Delivered], reload_id: str, spans: list[Span], lost_state: str = ""
) -> str:
    """Why a reload's alert came more than once (``duplicate_cause``), and whether its alert id
    lets a receiver drop the repeat (``key_cause``)."""
    cause = duplicate_cause(first_delivery(deliveries, reload_id), spans, lost_state)
    return f"{cause}; {key_cause(deliveries, reload_id)}"


def judge_keys(
    result: RunResult,
    deliveries: Sequence[Delivered],
    expected: Sequence[Delivered],
    label: Callable[[str], str],
) -> None:
    """``result``'s counts by alert id: the failed reloads still duplicated once repeated ids
    are dropped, the ids naming two reloads, the deliveries without an id."""
    kept = after_key(expected)
    result.alerts_duplicated_after_key = sorted(label(r) for r, n in kept.items() if n > 1)
    result.alert_ids_shared = shared_ids(deliveries)
    result.alert_deliveries_without_id = sum(1 for d in deliveries if not d.alert_id)


def after_key(deliveries: Iterable[Delivered]) -> Counter[str]:
    """Deliveries per reload id once those whose alert id was already accepted are dropped (one
    without an id cannot be dropped)."""
    seen: set[str] = set()
    kept: Counter[str] = Counter()
    for delivery in deliveries:
        if delivery.alert_id in seen:
            continue
        seen.update(filter(None, [delivery.alert_id]))
        kept[str(delivery.reload_id)] += 1
    return kept


def key_cause(deliveries: Iterable[Delivered], reload_id: str) -> str:
    """Whether the alert id explains a reload's repeated deliveries."""
    ids = [d.alert_id for d in deliveries if d.reload_id == reload_id]
    if "" in ids:
        return "a delivery without an alert id: no receiver can drop the repeat"
    if len(set(ids)) == 1:
        return "one alert id: a receiver honouring it drops the repeat"
    rows = len(set(ids))
    return f"{rows} alert ids: {rows} outbox rows for one failed reload, not explained by the key"


def shared_ids(deliveries: Iterable[Delivered]) -> list[str]:
    """Alert ids on deliveries naming different reloads: a receiver honouring the key would
    drop a real alert."""
    named: defaultdict[str, set[str | None]] = defaultdict(set)
    for delivery in deliveries:
        if delivery.alert_id:
            named[delivery.alert_id].add(delivery.reload_id)
    return sorted(alert_id for alert_id, reloads in named.items() if len(reloads) > 1)


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

"""What a sweep did: outcomes per successor and the report printed by ``sweep --json``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from jobs.decide import Candidate
from qlik.clock import Clock
from qlik.times import format_time

Result = Literal["triggered", "skipped", "failed"]


@dataclass(frozen=True)
class Outcome:
    """The final word on one successor in one sweep."""

    candidate: Candidate
    decision: Result
    reason: str
    reload_id: str | None = None
    retry: bool = False
    detail: str = ""
    # The start may have happened (timeout, 5xx): the next sweep asks the tenant first.
    uncertain: bool = False
    previous_reload_id: str | None = None

    @property
    def app_id(self) -> str:
        """The successor's id."""
        return self.candidate.app_id

    def as_json(self) -> dict[str, Any]:
        """The decision as listed in ``sweep --json``."""
        return {
            "app_id": self.app_id,
            "decision": self.decision,
            "reason": self.reason,
            "reload_id": self.reload_id,
            "sources": list(self.candidate.source_apps),
        }


@dataclass
class SweepReport:
    """Everything one sweep did, for the terminal, ``--json`` and the sweeps table."""

    sweep_id: str
    dry_run: bool
    window_from: datetime
    window_to: datetime
    events_read: int = 0
    events_new: int = 0
    events_invalid: int = 0
    sources: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    exit_code: int = 0
    # Seconds spent in each part of the sweep (reconcile, read, facts, trigger, commit).
    phases_s: dict[str, float] = field(default_factory=dict)
    # New events stamped before the cursor (missed by the sweeps that should have seen them).
    late_events: int = 0
    late_worst_s: float = 0.0
    # 429 answers the sweep received (the metrics file counts them).
    rate_limited: int = 0
    # Names of the apps it looked up, for tables (in neither the JSON nor the record).
    app_names: dict[str, str] = field(default_factory=dict)

    def reason_counts(self) -> dict[str, int]:
        """How many successors got each reason."""
        return dict(Counter(outcome.reason for outcome in self.outcomes))

    def as_json(self) -> dict[str, Any]:
        """The object ``reload-chain sweep --json`` prints (SPEC section 5)."""
        return {
            "sweep_id": self.sweep_id,
            "dry_run": self.dry_run,
            "window": {"from": format_time(self.window_from), "to": format_time(self.window_to)},
            "events": {
                "read": self.events_read,
                "new": self.events_new,
                "invalid": self.events_invalid,
            },
            "sources": self.sources,
            "decisions": [outcome.as_json() for outcome in self.outcomes],
            "api_calls": dict(sorted(self.api_calls.items())),
            "duration_s": round(self.duration_s, 3),
        }

    def as_record(self, started_at: datetime) -> dict[str, Any]:
        """The row kept in the ``sweeps`` table."""
        duration_s = round(self.duration_s, 3)
        return {
            "sweep_id": self.sweep_id,
            "started_at": format_time(started_at),
            "finished_at": format_time(started_at + timedelta(seconds=duration_s)),
            "dry_run": int(self.dry_run),
            "window_from": format_time(self.window_from),
            "window_to": format_time(self.window_to),
            "events_read": self.events_read,
            "events_new": self.events_new,
            "events_invalid": self.events_invalid,
            "sources": self.sources,
            "decisions": self.reason_counts(),
            "api_calls": self.api_calls,
            "duration_s": duration_s,
            "exit_code": self.exit_code,
            "late_events": self.late_events,
            "late_worst_s": round(self.late_worst_s, 1),
            "rate_limited": self.rate_limited,
        }


class PhaseTimer:
    """Seconds between successive laps, by the name of the part that just ended."""

    def __init__(self, started: float, clock: Clock) -> None:
        self._clock = clock
        self._last = started
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """The part called ``name`` ended now."""
        now = self._clock.monotonic()
        self.laps[name] = round(now - self._last, 3)
        self._last = now

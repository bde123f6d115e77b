"""The synthetic sweeps of ``benchmarks.year``: what a busy tenant's sweeps commit, without HTTP.

Each sweep covers ``sweep_minutes`` of a tenant finishing ``reloads_per_day`` reloads: their
handled events (among them the finish events, with outcomes, of the reloads the previous sweep
started), its decisions (starts, a share of them second hops of a chain run, and skips), the
pairs they settle, the chain runs they belong to, the names of the apps looked up, now and then
an alert and an invalid event, each day's deadline days, the sweep record and the cursors: the
rows ``jobs.sweep`` builds, in their stored shapes. Identifiers look like Qlik's: random GUIDs
for events and apps (so the indexes on them fill as they do for real), 24 hex digits for
reloads, their first 8 the time.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from qlik.times import format_time
from state.rows import LedgerRow, SweepCommit

API_CALLS = {"GET /api/v1/audits": 1, "GET /api/v1/items": 1, "GET /api/v1/reloads": 2}
Source = tuple[str, str, str, int]  # (reload id, app id, chain run id, hops from the root)
# Chain runs end: a reload started this many hops from its root has no successor.
LONGEST_CHAIN = 3


@dataclass(frozen=True)
class Workload:
    """A tenant's day, spread over its sweeps."""

    reloads_per_day: int = 5_000
    started_per_day: int = 480  # of those reloads, started by reload-chain
    skipped_per_day: int = 192  # decisions that started nothing (fresh, tolerance, ...)
    runs_per_day: int = 192  # external reloads that led to decisions: chain runs
    apps: int = 2_000
    sweep_minutes: int = 15
    deadline_apps: int = 10

    @property
    def sweeps_per_day(self) -> int:
        """Sweeps in a day."""
        return 24 * 60 // self.sweep_minutes


@dataclass
class SyntheticTenant:
    """Builds one ``SweepCommit`` after another, as the sweeps of ``workload`` would."""

    workload: Workload
    rng: random.Random = field(default_factory=lambda: random.Random(16))
    # Reloads started by the last sweep, finished by the next.
    running: list[Source] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)

    def commit(self, index: int, now: datetime) -> SweepCommit:
        """The commit of sweep number ``index`` (from 0), taken at ``now``."""
        w, sweep_id = self.workload, f"{now:%Y%m%dT%H%M%SZ}-{index % 65536:04x}"
        share = _Share(w.sweeps_per_day, index)
        finished, self.running = self.running, []
        handled = [self._event(now - timedelta(minutes=3), run[0], run[1]) for run in finished]
        outside = share.of(w.reloads_per_day) - len(handled)
        roots = [self._event(self._within(now), self._reload(now)) for _ in range(outside)]
        for event in handled + roots:
            event["sweep_id"] = sweep_id
        runs = [(e["reload_id"], e["app_id"], e["reload_id"], 0) for e in roots]
        runs = runs[: share.of(w.runs_per_day)]
        started, skipped = share.of(w.started_per_day), share.of(w.skipped_per_day)
        # Up to half of the starts are later hops: successors of the reloads started before.
        hops = [run for run in finished if run[3] < LONGEST_CHAIN][: started // 2]
        sources = hops + _cycled(runs, started - len(hops))
        ledger = [self._decision(sweep_id, now, s, start=True) for s in sources]
        ledger += [self._decision(sweep_id, now, s, start=False) for s in _cycled(runs, skipped)]
        daily = index % w.sweeps_per_day
        return SweepCommit(
            sweep=_sweep_record(sweep_id, now, len(handled) + len(roots), ledger, w.sweep_minutes),
            handled_events=handled + roots,
            invalid_events=[self._invalid(sweep_id, now)] if daily == 7 else [],
            settled_edges=[edge for row in ledger for edge in row.settled_records()],
            ledger=ledger,
            cursor=now - timedelta(seconds=30),
            late_checked_at=now,
            high_water=now - timedelta(seconds=30),
            reload_outcomes=[_outcome(event) for event in handled],
            chain_runs=[_chain_run(e, sweep_id, now) for e in roots[: len(runs)]],
            app_names=[self._name(row.app_id, now) for row in ledger],
            alerts=[self._alert(sweep_id, now)] if index % 16 == 5 else [],
            deadline_days=self._deadline_days(now) if daily == 0 else [],
        )

    def _app(self) -> str:
        if not self.apps:
            self.apps = [self._guid() for _ in range(self.workload.apps)]
        return self.rng.choice(self.apps)

    def _guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _reload(self, now: datetime) -> str:
        return f"{int(now.timestamp()):08x}{self.rng.getrandbits(64):016x}"

    def _within(self, now: datetime) -> datetime:
        return now - timedelta(seconds=self.rng.randrange(60 * self.workload.sweep_minutes))

    def _event(self, ended: datetime, reload_id: str, app_id: str | None = None) -> dict[str, Any]:
        """A handled reload-finished event (its ``sweep_id`` is set by the caller)."""
        failed = self.rng.random() < 0.04
        return {
            "event_id": self._guid(),
            "reload_id": reload_id,
            "outcome": "failure" if failed else "success",
            "app_id": app_id or self._app(),
            "event_time": format_time(ended),
        }

    def _decision(self, sweep_id: str, now: datetime, source: Source, *, start: bool) -> LedgerRow:
        """One decision about a successor of ``source``."""
        reload_id, app_id, run, hops = source
        target, new = self._app(), self._reload(now)
        if start:
            self.running.append((new, target, run, hops + 1))
        return LedgerRow(
            sweep_id,
            target,
            decision="triggered" if start else "skipped",
            reason="triggered" if start else self.rng.choice(("fresh", "tolerance", "running")),
            sources=(app_id,),
            source_reloads=(reload_id,),
            reload_id=new if start else None,
            previous_reload_id=self._reload(now - timedelta(days=1)),
            source_end=now - timedelta(minutes=5),
            chain_run_id=run,
        )

    def _name(self, app_id: str, now: datetime) -> dict[str, Any]:
        name = f"Finance {app_id[:4]} - daily load"
        return {"app_id": app_id, "name": name, "updated_at": format_time(now)}

    def _alert(self, sweep_id: str, now: datetime) -> dict[str, Any]:
        at, app = format_time(now), self._app()
        message = {"kind": "reload_failed", "app": app, "text": "Reload failed. " * 12}
        return {
            **{"alert_id": self._guid(), "destination": f"{self.rng.getrandbits(256):064x}"},
            **{"kind": "reload_failed", "app_id": app, "chain_run_id": self._reload(now)},
            **{"message": json.dumps(message), "raised_at": at, "sweep_id": sweep_id},
            **{"state": "sent", "attempts": 1, "last_error": None, "sent_at": at},
        }

    def _invalid(self, sweep_id: str, now: datetime) -> dict[str, Any]:
        key = self._guid()
        raw = json.dumps({"id": key, "data": {"note": "x" * 900}})
        return {
            **{"key": key, "event_id": key, "reason": "no app id", "raw": raw},
            **{"sweep_id": sweep_id, "seen_at": format_time(now)},
        }

    def _deadline_days(self, now: datetime) -> list[dict[str, Any]]:
        day, by = now.date().isoformat(), format_time(now + timedelta(hours=7))
        return [
            {"app_id": app, "day": day, "by_at": by, "met_at": by, "late_at": None}
            for app in self.apps[: self.workload.deadline_apps]
        ]


@dataclass(frozen=True)
class _Share:
    """One sweep's share of daily counts, so that a day's sweeps add up to them exactly."""

    sweeps_per_day: int
    index: int

    def of(self, per_day: int) -> int:
        slot, n = self.index % self.sweeps_per_day, self.sweeps_per_day
        return (slot + 1) * per_day // n - slot * per_day // n


def _cycled(sources: list[Source], count: int) -> list[Source]:
    """``count`` sources, taking ``sources`` in turn (a chain run with several successors)."""
    return [sources[i % len(sources)] for i in range(count)] if sources else []


def _outcome(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "reload_id": event["reload_id"],
        "outcome": "succeeded" if event["outcome"] == "success" else "failed",
        "ended_at": event["event_time"],
        "reload_started_at": event["event_time"],
    }


def _chain_run(event: dict[str, Any], sweep_id: str, now: datetime) -> dict[str, Any]:
    return {
        **{"run_id": event["reload_id"], "root_app_id": event["app_id"]},
        **{"root_status": "succeeded", "root_ended_at": event["event_time"]},
        **{"sweep_id": sweep_id, "updated_at": format_time(now)},
    }


def _sweep_record(
    sweep_id: str, now: datetime, events: int, ledger: list[LedgerRow], minutes: int
) -> dict[str, Any]:
    at, reasons = format_time(now), dict[str, int]()
    for row in ledger:
        reasons[row.reason] = reasons.get(row.reason, 0) + 1
    return {
        **{"sweep_id": sweep_id, "started_at": at, "finished_at": at, "dry_run": 0},
        **{"window_from": format_time(now - timedelta(minutes=minutes + 5)), "window_to": at},
        **{"events_read": events, "events_new": events, "events_invalid": 0, "sources": events},
        "decisions": reasons,
        "api_calls": API_CALLS | {"POST /api/v1/reloads": reasons.get("triggered", 0)},
        **{"duration_s": 1.5, "exit_code": 0, "late_events": 0, "late_worst_s": 0.0},
        "rate_limited": 0,
    }

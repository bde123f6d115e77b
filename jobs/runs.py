"""Chain runs as ``reload-chain runs`` shows them, assembled from the stored rows (all pure).

A run is ``running`` while any of its reloads is not seen finished (a start whose outcome is
not known yet counts as running), else ``failed`` when any reload failed or a start failed,
else ``succeeded``. The root's own outcome only chose the edges, so a failed root whose
on-failure successor succeeded is a succeeded run.

What counts, per app, when a run decided about it more than once (one decision per sweep):
every reload it started is listed; a skip or a failed start counts only when it is the app's
latest decision in the run, so a start that failed and was retried with success, or an app
skipped in one sweep and started in a later one, is not held against the run. A skip after
a start is listed (a later source found the app running, say). A canceled reload counts as
failed (it did not succeed, and the chain stopped there); its ``reason`` says ``canceled``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from jobs.ledger import INTENT, PENDING
from qlik.times import format_time
from state.runs import DecisionRecord, RootRecord, RunRecords

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
# A start sent whose answer is not known yet (``jobs.reconcile`` settles it).
UNCONFIRMED = "unconfirmed"
_UNSETTLED = (INTENT, UNCONFIRMED)


@dataclass(frozen=True)
class RunReload:
    """One reload this program started in a run, or a start of it that failed.

    ``after`` is the source reload that led to it; ``reason`` is None for a reload that was
    started, the ledger's reason for a start that failed, ``unconfirmed`` for one not known
    yet, ``canceled`` for a canceled reload.
    """

    app_id: str
    app_name: str | None
    reload_id: str | None
    after: str | None
    triggered_at: datetime | None
    ended_at: datetime | None
    status: str
    hop_latency_s: float | None
    reason: str | None = None
    # When the engine began it (its end less its event's duration), if known: the report
    # splits triggered -> ended into queued and reloading.
    reload_started_at: datetime | None = None


@dataclass(frozen=True)
class SkippedApp:
    """A successor the run did not start, with the reason of its latest decision."""

    app_id: str
    app_name: str | None
    reason: str


@dataclass(frozen=True)
class RunRoot:
    """The reload at the root: ``status`` succeeded|failed (running: a start not finished)."""

    app_id: str
    app_name: str | None
    reload_id: str
    status: str
    ended_at: datetime | None


@dataclass(frozen=True)
class ChainRun:
    """One chain run.

    ``started_at`` is when the chain began to act: the end of its external root reload (or,
    for a run rooted by ``reload-chain start``, when that start was sent), not when the first
    successor was started. ``ended_at`` is the end of its last reload (or the time of its
    last failed start), None while it runs.
    """

    run_id: str
    status: str
    root: RunRoot
    started_at: datetime | None
    ended_at: datetime | None
    reloads: tuple[RunReload, ...]
    skipped: tuple[SkippedApp, ...]

    @property
    def duration_s(self) -> float | None:
        """From ``started_at`` to ``ended_at``; None while the run is running."""
        return _seconds(self.started_at, self.ended_at)

    def as_json(self) -> dict[str, Any]:
        """The run as ``runs --json`` prints it (SPEC section 8), times as ISO strings."""
        root = self.root
        return {
            "run_id": self.run_id,
            "status": self.status,
            "root": {
                "app_id": root.app_id,
                "app_name": root.app_name,
                "reload_id": root.reload_id,
                "status": root.status,
                "ended_at": _iso(root.ended_at),
            },
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "duration_s": self.duration_s,
            "reloads": [_reload_json(reload) for reload in self.reloads],
            "skipped": [asdict(skipped) for skipped in self.skipped],
        }


def chain_runs(records: RunRecords) -> list[ChainRun]:
    """Every run of ``records``, in the order of its roots (newest first)."""
    by_run: dict[str, list[DecisionRecord]] = {}
    for row in records.decisions:
        by_run.setdefault(row.run_id, []).append(row)
    return [assemble(root, by_run.get(root.run_id, []), records.names) for root in records.roots]


def assemble(
    root: RootRecord, rows: Sequence[DecisionRecord], names: Mapping[str, str]
) -> ChainRun:
    """One run from its root and its ledger rows (in any order)."""
    counted = _counted(rows)
    ends = {root.run_id: root.ended_at} | {r.reload_id: r.ended_at for r in rows if r.reload_id}
    reloads = sorted(
        (_reload(row, ends, names) for row in counted if row.decision != "skipped"),
        key=lambda reload: (_sortable(reload.triggered_at), reload.app_name or reload.app_id),
    )
    skipped = tuple(
        SkippedApp(row.app_id, names.get(row.app_id), row.reason)
        for row in sorted(counted, key=lambda row: names.get(row.app_id, row.app_id))
        if row.decision == "skipped"
    )
    status = run_status(reload.status for reload in reloads)
    name = names.get(root.app_id)
    ended = None if status == RUNNING else _last_end(root.began_at, reloads)
    return ChainRun(
        root.run_id,
        status,
        RunRoot(root.app_id, name, root.run_id, _status(root.status), root.ended_at),
        root.began_at,
        ended,
        tuple(reloads),
        skipped,
    )


def run_status(statuses: Iterable[str]) -> str:
    """``running`` if any reload runs, else ``failed`` if any failed, else ``succeeded``."""
    seen = set(statuses)
    if RUNNING in seen:
        return RUNNING
    return FAILED if FAILED in seen else SUCCEEDED


def _counted(rows: Sequence[DecisionRecord]) -> list[DecisionRecord]:
    """Every start (or start that may have happened), and each app's latest decision."""
    ordered = sorted(rows, key=_when_decided)
    latest = {row.app_id: row for row in ordered}
    return [row for row in ordered if _may_have_started(row) or latest[row.app_id] is row]


def _may_have_started(row: DecisionRecord) -> bool:
    return row.decision in ("triggered", PENDING) or row.state in _UNSETTLED


def _when_decided(row: DecisionRecord) -> tuple[str, str, str]:
    return (_sortable(row.updated_at), _sortable(row.written_at), row.sweep_id)


def _reload(
    row: DecisionRecord, ends: Mapping[str, datetime | None], names: Mapping[str, str]
) -> RunReload:
    triggered = row.written_at or row.updated_at
    status, reason = _reload_status(row)
    return RunReload(
        row.app_id,
        names.get(row.app_id),
        row.reload_id,
        _after(row.source_reloads, ends),
        triggered,
        row.ended_at,
        status,
        _seconds(row.source_end, triggered),
        reason,
        row.reload_started_at,
    )


def _reload_status(row: DecisionRecord) -> tuple[str, str | None]:
    if row.state in _UNSETTLED or row.decision == PENDING:
        return RUNNING, UNCONFIRMED
    if row.decision == "failed":
        return FAILED, row.reason or None
    return _status(row.outcome), "canceled" if row.outcome == "canceled" else None


def _status(outcome: str | None) -> str:
    """A stored outcome as a run's status: canceled counts as failed."""
    if outcome is None:
        return RUNNING
    return SUCCEEDED if outcome == SUCCEEDED else FAILED


def _after(sources: Sequence[str], ends: Mapping[str, datetime | None]) -> str | None:
    """The newest source reload: the latest known end among them (the root or a hop)."""
    if not sources:
        return None
    return max(sources, key=lambda reload: _sortable(ends.get(reload)))


def _last_end(began: datetime | None, reloads: Sequence[RunReload]) -> datetime | None:
    ends = [r.ended_at or r.triggered_at for r in reloads]
    return max((end for end in [began, *ends] if end is not None), default=None)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _sortable(moment: datetime | None) -> str:
    return format_time(moment) if moment else ""


def _iso(moment: datetime | None) -> str | None:
    return format_time(moment) if moment else None


def _reload_json(reload: RunReload) -> dict[str, Any]:
    record = asdict(reload)
    record["triggered_at"] = _iso(reload.triggered_at)
    record["ended_at"] = _iso(reload.ended_at)
    record["reload_started_at"] = _iso(reload.reload_started_at)
    return record


def span(seconds: float | None) -> str:
    """``12.3s``, ``3m04s``, ``2h05m``; ``-`` when not known."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m{int(seconds % 60):02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"

"""Read-only questions about past sweeps, for ``reload-chain status``.

"Repeatedly skipped" means: an app's newest ledger rows are all ``skipped`` or ``failed``
with one and the same reason, at least ``min_times`` of them in a row. The run ends at the
newest row that differs (another reason, a start, an intent), so an app that was started
once in between is not reported. Apps are named as the sweeps last saw them (``app_names``,
written by each sweep from what it looked up): no call to the tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from state.database import open_existing, state_errors
from state.store import Store

MIN_TIMES = 3
# Tables name an app ``Sales (3fa9c1d2)``: the name clipped to this, the id's first characters.
NAME_WIDTH = 15
SHORT_ID = 8
# SQLite limits the variables of one statement.
_CHUNK = 500

# Each app's ledger rows newest first, numbered; the run is every row newer than the newest
# one that breaks it. Ordered by (app_id, updated_at) so an index on those columns serves it.
_REPEATED_SQL = """
with ranked as (
    select app_id, decision, reason, detail, updated_at,
        row_number() over (partition by app_id order by updated_at desc, sweep_id desc) as n
    from ledger
),
newest as (
    select app_id, decision, reason, detail from ranked
    where n = 1 and decision in ('skipped', 'failed')
),
breaks as (
    select r.app_id, min(r.n) as n from ranked r join newest w on w.app_id = r.app_id
    where r.decision is not w.decision or r.reason is not w.reason
    group by r.app_id
)
select w.app_id, w.decision, w.reason, w.detail, count(*) as times,
    min(r.updated_at) as since, max(r.updated_at) as last
from newest w
join ranked r on r.app_id = w.app_id
left join breaks b on b.app_id = w.app_id
where b.n is null or r.n < b.n
group by w.app_id
having count(*) >= ?
order by times desc, last desc, w.app_id
limit ?
"""


@dataclass(frozen=True)
class RepeatedSkip:
    """One app skipped (or failed) for the same reason in each of its latest decisions."""

    app_id: str
    decision: str
    reason: str
    times: int
    since: str
    last: str
    detail: str = ""


@dataclass
class History:
    """What ``status`` shows: the cursor, the last sweeps, recent decisions, repeated skips."""

    database: str
    exists: bool = False
    cursor: datetime | None = None
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    repeatedly_skipped: list[RepeatedSkip] = field(default_factory=list)
    # Events found after the sweep that should have seen them: how many, worst lag, last when.
    late: dict[str, Any] = field(
        default_factory=lambda: {"events": 0, "worst_lag_s": None, "last_seen": None}
    )
    # Starts not yet known to have reached the tenant; their apps are not started meanwhile.
    unsettled: list[str] = field(default_factory=list)
    # Each deadline's state today (``jobs.deadline_sweep.deadline_states``), set by ``status``.
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    # app_id -> name, for the apps above whose name a sweep has seen.
    names: dict[str, str] = field(default_factory=dict)

    def name_of(self, app_id: str | None) -> str | None:
        """The app's name as a sweep last saw it, or None."""
        return self.names.get(app_id) if app_id else None

    def app_ids(self) -> set[str]:
        """Every app the decisions, the repeated skips and the unsettled starts name."""
        ids = {row["app_id"] for row in self.decisions if row.get("app_id")}
        return ids | {skip.app_id for skip in self.repeatedly_skipped} | set(self.unsettled)


def late_events(db: Database, where: str = "state database") -> dict[str, Any]:
    """Late events over the sweeps kept: their number, the worst lag, the last sweep that saw one.

    Only events late by less than ``late_window_minutes`` can be found; a worst lag near it
    says the window should be wider.
    """
    sql = (
        "select coalesce(sum(late_events), 0), max(late_worst_s), max(started_at) "
        "from sweeps where late_events > 0"
    )
    with state_errors(where):
        count, worst, last = db.execute(sql).fetchone()
    return {"events": count, "worst_lag_s": worst, "last_seen": last}


def repeatedly_skipped(
    db: Database, *, min_times: int = MIN_TIMES, limit: int = 20, where: str = "state database"
) -> list[RepeatedSkip]:
    """Apps whose latest ``min_times`` or more decisions were skips/failures for one reason."""
    with state_errors(where):
        rows = db.execute(_REPEATED_SQL, [min_times, limit]).fetchall()
    return [
        RepeatedSkip(app, decision, reason, times, since, last, detail or "")
        for app, decision, reason, detail, times, since, last in rows
    ]


def app_names(
    db: Database, app_ids: Iterable[str], where: str = "state database"
) -> dict[str, str]:
    """app_id -> name for those of ``app_ids`` a sweep looked up (none before migration 0006)."""
    wanted = sorted(set(app_ids))
    names: dict[str, str] = {}
    with state_errors(where):
        if not wanted or not db.table("app_names").exists():
            return names
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = f"select app_id, name from app_names where app_id in ({marks})"
            names.update((app_id, name) for app_id, name in db.execute(sql, chunk) if name)
    return names


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when it was longer."""
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def app_label(
    app_id: str, name: str | None, *, width: int = NAME_WIDTH, full_id: bool = False
) -> str:
    """How a table names an app: ``Sales (3fa9c1d2)``, or its id alone when no name is known.

    Ids are cut to ``short_id`` unless ``full_id``.
    """
    shown = app_id if full_id else short_id(app_id)
    return f"{clip(name, width)} ({shown})" if name else shown


def short_id(resource_id: str) -> str:
    """An id as every table shows it: a GUID's first block; another id's last ``SHORT_ID``
    characters (a 24-hex script id begins with its creation time, alike for scripts made
    together)."""
    if "-" in resource_id:
        return resource_id.split("-", 1)[0]
    return resource_id[-SHORT_ID:]


def read_history(path: Path, **limits: int) -> History:
    """``history_of`` the database at ``path``, opened and closed here; never created."""
    db = open_existing(path)
    try:
        return history_of(db, str(path), **limits)
    finally:
        if db is not None:
            db.close()


def history_of(
    db: Database | None,
    where: str,
    *,
    sweeps: int = 10,
    decisions: int = 20,
    min_times: int = MIN_TIMES,
) -> History:
    """Everything ``status`` shows; ``db`` None: there is no database file yet."""
    history = History(where)
    if db is None:
        return history
    store = Store(db, where)
    history.exists = True
    history.cursor = store.cursor()
    history.sweeps = store.recent_sweeps(sweeps)
    history.decisions = store.recent_decisions(decisions)
    history.repeatedly_skipped = repeatedly_skipped(db, min_times=min_times, where=where)
    history.late = late_events(db, where)
    history.unsettled = sorted({row.app_id for row in store.unfinished_intents()})
    history.names = app_names(db, history.app_ids(), where)
    return history


def skip_as_json(skip: RepeatedSkip, name: str | None = None) -> dict[str, Any]:
    """The ``repeatedly_skipped`` entry of ``status --json``, with the app's name if known."""
    return asdict(skip) | {"app_name": name}

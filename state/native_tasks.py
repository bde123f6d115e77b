"""The tenant's native reload tasks as the last listing found them, kept between sweeps.

A sweep lists the tasks only when it has something to start (``jobs.native_sweep``); the copy
kept here lets the next sweeps skip the listing while it is fresh, and tells a task newly
disabled from one known to be (an alert is raised once, on the change). ``NativeTaskStore`` is
a ``StateAccess``: sqlite errors of every public method are mapped to ``StateError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qlik.tasks import NativeTask, Upstream
from qlik.times import format_time, parse_time
from state.access import StateAccess
from state.reads import StoreReads
from state.rows import NativeSnapshot

# Cursor rows: when the tasks were last listed, and when the tenant last refused the listing.
NATIVE_READ = "native_tasks"
NATIVE_REFUSED = "native_tasks_refused"


@dataclass(frozen=True)
class StoredNative:
    """What the database remembers of the tenant's native tasks."""

    tasks: tuple[NativeTask, ...] = ()
    problems: dict[str, str] = field(default_factory=dict)
    read_at: datetime | None = None
    refused_at: datetime | None = None


class NativeTaskStore(StateAccess):
    """Reads and writes of the kept task listing, on the ``Store``'s database."""

    @classmethod
    def of(cls, store: StateAccess) -> NativeTaskStore:
        """The same database handle as ``store``."""
        return cls(store.db, store.where, store.scrub)

    def stored(self) -> StoredNative:
        """The kept listing, its time, and when the tenant last refused one."""
        cursors = StoreReads(self.db, self.where)
        rows = self.db.table("native_tasks").rows_where(order_by="task_id")
        tasks, problems = [], {}
        for row in rows:
            tasks.append(_task(row))
            if row["problem"]:
                problems[row["task_id"]] = row["problem"]
        read_at, refused_at = cursors.cursor(NATIVE_READ), cursors.cursor(NATIVE_REFUSED)
        return StoredNative(tuple(tasks), problems, read_at, refused_at)

    def keep(self, snapshot: NativeSnapshot) -> None:
        """Replace the kept listing (inside the caller's transaction: the sweep's commit)."""
        at = format_time(snapshot.read_at)
        name = NATIVE_READ if snapshot.tasks is not None else NATIVE_REFUSED
        self.db.table("cursor").upsert({"name": name, "position": at, "updated_at": at}, pk="name")
        if snapshot.tasks is None:
            return
        self.db.execute("delete from cursor where name = ?", [NATIVE_REFUSED])
        self.db.execute("delete from native_tasks")
        rows = [_row(task, snapshot.problems.get(task.task_id), at) for task in snapshot.tasks]
        self.db.table("native_tasks").insert_all(rows, pk="task_id", replace=True)


def _row(task: NativeTask, problem: str | None, read_at: str) -> dict[str, Any]:
    upstreams = [[up.task_id, up.app_id, up.on] for up in task.upstreams]
    ended = task.last_run_ended_at
    return {
        "task_id": task.task_id,
        "name": task.name,
        "app_id": task.app_id,
        "app_name": task.app_name,
        "enabled": int(task.enabled),
        "disabled_code": task.disabled_code,
        "upstreams": json.dumps(upstreams),
        "last_run_ended_at": format_time(ended) if ended else None,
        "problem": problem,
        "read_at": read_at,
        "last_run_status": task.last_run_status,
        "last_run_reload_id": task.last_run_reload_id,
        "fires_alone": int(task.fires_alone),
    }


def _task(row: dict[str, Any]) -> NativeTask:
    ended = row["last_run_ended_at"]
    return NativeTask(
        task_id=row["task_id"],
        name=row["name"],
        app_id=row["app_id"],
        enabled=bool(row["enabled"]),
        disabled_code=row["disabled_code"],
        upstreams=tuple(Upstream(*up) for up in json.loads(row["upstreams"])),
        last_run_ended_at=parse_time(ended) if ended else None,
        app_name=row["app_name"] or "",
        last_run_status=row["last_run_status"],
        last_run_reload_id=row["last_run_reload_id"],
        fires_alone=bool(row["fires_alone"]),
    )

"""``reload-chain status``: what the database says about past sweeps and decisions."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from qlik.times import format_time
from scheduler.output import print_json, table
from state.database import open_database
from state.store import Store


def show_status(database: Path, out: TextIO, *, as_json: bool) -> int:
    """Print the cursor, the last sweeps and the recent decisions; return the exit code."""
    db = open_database(database)
    try:
        store = Store(db, str(database))
        position, sweeps, decisions = (
            store.cursor(),
            store.recent_sweeps(),
            store.recent_decisions(),
        )
    finally:
        db.close()
    cursor = format_time(position) if position else None
    if as_json:
        status = {"database": str(database), "cursor": cursor}
        print_json(status | {"sweeps": sweeps, "decisions": decisions}, out)
        return 0
    print(f"database {database}\ncursor   {cursor or 'none (no sweep yet)'}\n", file=out)
    sweep_rows = [
        (s["sweep_id"], s["events_read"], s["events_new"], _counts(s["decisions"]), s["exit_code"])
        for s in sweeps
    ]
    print(table(("sweep", "read", "new", "decisions", "exit"), sweep_rows) + "\n", file=out)
    decision_rows = [
        (d["updated_at"], d["app_id"], d["decision"], d["reason"], d["reload_id"])
        for d in decisions
    ]
    print(table(("time", "app", "decision", "reason", "reload"), decision_rows), file=out)
    return 0


def _counts(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{name} {count}" for name, count in (counts or {}).items())

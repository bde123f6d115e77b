"""``reload-chain status``: what the database says about past sweeps and decisions.

Tables (rich) on a terminal; JSON otherwise, and whenever ``--json`` is given.
"""

from __future__ import annotations

from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from qlik.times import format_time
from scheduler.output import print_json
from state.history import History, skip_as_json


def show_status(history: History, out: TextIO, *, as_json: bool) -> int:
    """Print the cursor, the last sweeps, recent decisions and repeated skips; return 0."""
    if as_json or not out.isatty():
        print_json(status_json(history), out)
    else:
        render_status(history, Console(file=out, markup=False, highlight=False))
    return 0


def status_json(history: History) -> dict[str, Any]:
    """The object ``status --json`` prints."""
    return {
        "database": history.database,
        "cursor": format_time(history.cursor) if history.cursor else None,
        "sweeps": history.sweeps,
        "decisions": history.decisions,
        "repeatedly_skipped": [skip_as_json(skip) for skip in history.repeatedly_skipped],
        "late_events": history.late,
        "unsettled": history.unsettled,
    }


def render_status(history: History, console: Console) -> None:
    """The status as tables for a person at a terminal."""
    cursor = format_time(history.cursor) if history.cursor else None
    console.print(Text.assemble(("database ", "bold"), history.database))
    console.print(Text.assemble(("cursor   ", "bold"), _when(cursor) if cursor else "none"))
    if not history.sweeps:
        missing = "" if history.exists else " (the database is created by the first sweep)"
        console.print(Text(f"\nno sweep yet{missing}"))
        return
    _print_late_and_unsettled(history, console)
    tables = [_sweeps_table(history.sweeps)]
    if history.decisions:
        tables.append(_decisions_table(history.decisions))
    if history.repeatedly_skipped:
        tables.append(_repeated_table(history))
    for table in tables:
        console.print()
        console.print(table)


def _print_late_and_unsettled(history: History, console: Console) -> None:
    late = history.late
    if late.get("events"):
        worst = late.get("worst_lag_s") or 0.0
        console.print(
            Text.assemble(
                ("late     ", "bold"),
                f"{late['events']} events found late, worst {worst / 60:.1f} min after their "
                f"time (last {_when(late.get('last_seen'))})",
            )
        )
    if history.unsettled:
        apps = ", ".join(history.unsettled)
        console.print(
            Text.assemble(("unsettled ", "bold red"), f"not started until checked: {apps}")
        )


def _sweeps_table(sweeps: list[dict[str, Any]]) -> Table:
    table = _table("Last sweeps", "started", "duration", "read", "new", "invalid")
    table.add_column("decisions")
    table.add_column("API calls", justify="right")
    table.add_column("exit", justify="right")
    for sweep in sweeps:
        code = sweep.get("exit_code")
        table.add_row(
            _when(sweep.get("started_at")),
            f"{sweep.get('duration_s') or 0:.1f}s",
            *(_number(sweep.get(key)) for key in ("events_read", "events_new", "events_invalid")),
            _counts(sweep.get("decisions")),
            _number(sum((sweep.get("api_calls") or {}).values())),
            Text(str(code), style="red" if code else ""),
        )
    return table


def _decisions_table(decisions: list[dict[str, Any]]) -> Table:
    table = _table("Recent decisions", "time", "app", "decision", "reason", "reload")
    for row in decisions:
        table.add_row(
            _when(row.get("updated_at")),
            row.get("app_id") or "-",
            _styled_decision(row.get("decision")),
            row.get("reason") or "-",
            row.get("reload_id") or "-",
        )
    return table


def _repeated_table(history: History) -> Table:
    table = _table("Skipped again and again", "app", "reason", "times", "since", "last")
    for skip in history.repeatedly_skipped:
        table.add_row(
            skip.app_id, skip.reason, str(skip.times), _when(skip.since), _when(skip.last)
        )
    return table


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    numeric = {"duration", "read", "new", "invalid", "times"}
    for column in columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    return table


def _styled_decision(decision: str | None) -> Text:
    colour = {"triggered": "green", "failed": "red", "skipped": "yellow"}.get(decision or "")
    return Text(decision or "-", style=colour or "")


def _when(stamp: str | None) -> str:
    """``2026-11-22T10:00:00.000Z`` as ``2026-11-22 10:00:00Z``: to the second, still UTC."""
    return f"{stamp[:19].replace('T', ' ')}Z" if stamp else "-"


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _counts(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted((counts or {}).items())) or "-"

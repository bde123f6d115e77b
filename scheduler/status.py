"""``reload-chain status``: what the database says about past sweeps and decisions.

Tables (rich) on a terminal; JSON otherwise, and whenever ``--json`` is given. The tables fit
80 columns: apps as ``Sales (3fa9c1d2)``, reloads by their last characters, times without the
year; from ``WIDE`` columns on, ids are whole (always in the JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from qlik.times import format_time
from scheduler.output import print_json, short_reload
from state.history import NAME_WIDTH, SHORT_ID, History, RepeatedSkip, app_label, skip_as_json

WIDE = 120
# No side borders, columns GAP characters apart: room for 80 columns. A name in a table gets
# what the other columns leave, within MIN_NAME..MAX_NAME; a whole id is WHOLE_ID long.
TABLE_STYLE: dict[str, Any] = {
    "title_justify": "left",
    "header_style": "bold",
    "box": box.SIMPLE_HEAD,
    "show_edge": False,
    "pad_edge": False,
    "padding": (0, 1, 0, 0),
}
GAP, MIN_NAME, MAX_NAME, WHOLE_ID = 2, 10, 40, 36
EXIT_STYLES = {1: "bold red", 2: "bold red", 3: "yellow"}
EXIT_MEANINGS = {1: "left for the next sweep", 2: "needs a fix", 3: "lock held"}


def show_status(history: History, out: TextIO, *, as_json: bool) -> int:
    """Print the cursor, the last sweeps, recent decisions and repeated skips; return 0."""
    if as_json or not out.isatty():
        print_json(status_json(history), out)
    else:
        render_status(history, Console(file=out, markup=False, highlight=False))
    return 0


def status_json(history: History) -> dict[str, Any]:
    """The object ``status --json`` prints: each decision and repeated skip with ``app_name``."""
    return {
        "database": history.database,
        "cursor": format_time(history.cursor) if history.cursor else None,
        "sweeps": history.sweeps,
        "decisions": [
            row | {"app_name": history.name_of(row.get("app_id"))} for row in history.decisions
        ],
        "repeatedly_skipped": [
            skip_as_json(skip, history.name_of(skip.app_id)) for skip in history.repeatedly_skipped
        ],
        "late_events": history.late,
        "unsettled": history.unsettled,
        "deadlines": history.deadlines,
    }


@dataclass(frozen=True)
class Cells:
    """How the tables write an app and a reload on a console this wide."""

    history: History
    width: int

    @property
    def wide(self) -> bool:
        """Wide enough for whole ids."""
        return self.width >= WIDE

    def app(self, app_id: str | None, name_width: int = NAME_WIDTH) -> str:
        """``Sales (3fa9c1d2)``; the whole id on a wide console."""
        name = self.history.name_of(app_id)
        return app_label(app_id, name, width=name_width, full_id=self.wide) if app_id else "-"

    def reload(self, reload_id: str | None) -> str:
        """The reload id, whole on a wide console, else its last characters."""
        return (reload_id if self.wide else short_reload(reload_id)) if reload_id else "-"

    def name_room(self, others: list[str], rows: list[list[Any]]) -> int:
        """The longest name that keeps rows (without their app) and headers within the width."""
        widest = sum(
            max([len(header), *(len(str(row[at])) for row in rows)])
            for at, header in enumerate(others)
        )
        label = len(" ()") + (WHOLE_ID if self.wide else SHORT_ID)
        room = self.width - widest - GAP * len(others) - label
        return max(MIN_NAME, min(MAX_NAME, room))


def render_status(history: History, console: Console) -> None:
    """The status as tables for a person at a terminal."""
    cursor = format_time(history.cursor) if history.cursor else None
    console.print(Text.assemble(("database ", "bold"), history.database))
    console.print(Text.assemble(("cursor   ", "bold"), _full_when(cursor) if cursor else "none"))
    if not history.sweeps:
        missing = "" if history.exists else " (the database is created by the first sweep)"
        console.print(Text(f"\nno sweep yet{missing}"))
        return
    cells = Cells(history, console.width)
    _print_late_and_unsettled(history, cells, console)
    print_deadlines(history.deadlines, console)
    console.print()
    console.print(_sweeps_table(history.sweeps))
    console.print(Text(_sweeps_legend(history.sweeps), style="dim"))
    if history.decisions:
        console.print("", _decisions_table(history.decisions, cells), sep="\n")
    if history.repeatedly_skipped:
        console.print("", _repeated_table(history.repeatedly_skipped, cells), sep="\n")


def print_deadlines(deadlines: list[dict[str, Any]], console: Console) -> None:
    """One line per deadline app: ``deadline Dashboard by 07:00 Europe/Paris: met 06:42``
    (``status`` and ``runs``); a late or overdue one in red."""
    for deadline in deadlines:
        line = f"{deadline['label']} by {deadline['by']} {deadline['timezone']}: "
        style = "bold red" if deadline["state"] in ("late", "overdue") else ""
        console.print(Text.assemble(("deadline ", "bold"), line, (deadline["summary"], style)))


def _print_late_and_unsettled(history: History, cells: Cells, console: Console) -> None:
    late = history.late
    if late.get("events"):
        worst = (late.get("worst_lag_s") or 0.0) / 60
        last = _full_when(late.get("last_seen"))
        found = f"{late['events']} events found late, worst {worst:.1f} min after their time"
        console.print(Text.assemble(("late     ", "bold"), f"{found} (last {last})"))
    if history.unsettled:
        apps = ", ".join(cells.app(app_id) for app_id in history.unsettled)
        console.print(
            Text.assemble(("unsettled ", "bold red"), f"not started until checked: {apps}")
        )


def _sweeps_table(sweeps: list[dict[str, Any]]) -> Table:
    """Every sweep kept, whatever it ended with; a count the record lacks is ``-``."""
    table = _table("Last sweeps", "started UTC", "duration", "events")
    table.add_column("decisions", overflow="fold")
    table.add_column("API calls", justify="right", no_wrap=True)
    table.add_column("exit", justify="right", no_wrap=True)
    for sweep in sweeps:
        table.add_row(
            _when(sweep.get("started_at")),
            _duration(sweep.get("duration_s")),
            _events(sweep),
            _counts(sweep.get("decisions")),
            _calls(sweep.get("api_calls")),
            _exit(sweep.get("exit_code")),
        )
    return table


def _sweeps_legend(sweeps: list[dict[str, Any]]) -> str:
    """What the events column holds; what each exit code other than 0 shown means."""
    codes = {sweep.get("exit_code") for sweep in sweeps}
    meanings = [f"{code}: {text}" for code, text in EXIT_MEANINGS.items() if code in codes]
    return "events: read/new/invalid" + (f"\nexit {', '.join(meanings)}" if meanings else "")


def _decisions_table(decisions: list[dict[str, Any]], cells: Cells) -> Table:
    headers = ("time UTC", "app", "decision", "reason", "reload")
    rows = [
        [
            _when(row.get("updated_at")),
            _styled_decision(row.get("decision")),
            row.get("reason") or "-",
            cells.reload(row.get("reload_id")),
        ]
        for row in decisions
    ]
    apps = [row.get("app_id") for row in decisions]
    return _app_table(("Recent decisions", *headers), rows, apps, cells, app_at=1)


def _repeated_table(skips: list[RepeatedSkip], cells: Cells) -> Table:
    headers = ("app", "reason", "times", "since UTC", "last UTC")
    rows = [
        [skip.reason or "-", _number(skip.times), _when(skip.since), _when(skip.last)]
        for skip in skips
    ]
    apps: list[str | None] = [skip.app_id for skip in skips]
    return _app_table(("Skipped again and again", *headers), rows, apps, cells)


def _app_table(
    titles: tuple[str, ...],
    rows: list[list[Any]],
    apps: list[str | None],
    cells: Cells,
    *,
    app_at: int = 0,
) -> Table:
    """(title, headers), an app in column ``app_at`` of each row, named in the room left."""
    title, *headers = titles
    others = [header for at, header in enumerate(headers) if at != app_at]
    room = cells.name_room(others, rows)
    table = _table(title, *headers)
    for row, app_id in zip(rows, apps, strict=True):
        table.add_row(*row[:app_at], cells.app(app_id, room), *row[app_at:])
    return table


def _table(title: str, *columns: str) -> Table:
    """A table in ``TABLE_STYLE``; numbers right-aligned, only a reason may wrap."""
    table = Table(title=title, **TABLE_STYLE)
    numeric = {"duration", "events", "times"}
    for column in columns:
        right = column in numeric
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "reason")
    return table


def _styled_decision(decision: str | None) -> Text:
    colour = {"triggered": "green", "failed": "red", "skipped": "yellow"}.get(decision or "")
    return Text(decision or "-", style=colour or "")


def _exit(code: object) -> Text:
    return Text(str(code), style=EXIT_STYLES.get(code, "")) if isinstance(code, int) else Text("-")


def _when(stamp: str | None) -> str:
    """``2026-11-22T10:00:05.000Z`` as ``11-22 10:00:05`` (UTC, as the headers say)."""
    return stamp[5:19].replace("T", " ") if stamp and len(stamp) >= 19 else stamp or "-"


def _full_when(stamp: str | None) -> str:
    """``2026-11-22T10:00:00.000Z`` as ``2026-11-22 10:00:00Z``: to the second, still UTC."""
    return f"{stamp[:19].replace('T', ' ')}Z" if stamp else "-"


def _duration(seconds: object) -> str:
    return f"{seconds:.1f}s" if isinstance(seconds, int | float) else "-"


def _events(sweep: dict[str, Any]) -> str:
    counts = [sweep.get(key) for key in ("events_read", "events_new", "events_invalid")]
    return "-" if counts == [None] * 3 else "/".join(_number(count) for count in counts)


def _calls(calls: dict[str, int] | None) -> str:
    return "-" if calls is None else _number(sum(calls.values()))


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def _counts(counts: dict[str, int] | None) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted((counts or {}).items())) or "-"

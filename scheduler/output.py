"""What the commands print on stdout: plain tables for people, JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TextIO

from jobs.report import SweepReport
from qlik.times import format_time


def print_json(payload: Any, out: TextIO) -> None:
    """One JSON document, then a newline."""
    out.write(json.dumps(payload, indent=2, default=str) + "\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned text table; empty cells print as ``-``."""
    cells = [
        [("-" if value is None or value == "" else str(value)) for value in row] for row in rows
    ]
    widths = [
        max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)
    ]
    lines = [
        "  ".join(
            header.upper().ljust(width) for header, width in zip(headers, widths, strict=True)
        )
    ]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


def print_sweep(report: SweepReport, out: TextIO) -> None:
    """A sweep's summary and its decisions, one line each."""
    mode = " (dry run: nothing started, nothing recorded)" if report.dry_run else ""
    out.write(
        f"sweep {report.sweep_id}{mode}\n"
        f"window {format_time(report.window_from)} -> {format_time(report.window_to)}: "
        f"{report.events_read} events read, {report.events_new} new, "
        f"{report.events_invalid} invalid, {report.sources} source apps\n"
    )
    if report.outcomes:
        rows = [
            (o.app_id, o.decision, o.reason, o.reload_id, ", ".join(o.candidate.source_apps))
            for o in report.outcomes
        ]
        out.write(table(("app", "decision", "reason", "reload", "sources"), rows) + "\n")
    else:
        out.write("no successors to decide\n")
    calls = ", ".join(f"{endpoint} {count}" for endpoint, count in sorted(report.api_calls.items()))
    total = sum(report.api_calls.values())
    out.write(f"{total} API calls ({calls or 'none'}) in {report.duration_s:.2f}s\n")

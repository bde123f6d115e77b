"""What the commands print on stdout: plain tables for people, JSON for programs.

While ``main()`` runs, ``sys.stdout`` and ``sys.stderr`` are ``ScrubbedStream``s (see
``ScrubbedStdio``): whatever writes to them (a command, ``print``, rich's progress bar, a
library's warning) has its text scrubbed of secrets and bearer tokens on the way out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TextIO, cast

from jobs.report import Outcome, SweepReport
from qlik.times import format_time
from scheduler.scrub import Scrubber
from state.history import NAME_WIDTH, SHORT_ID, app_label, clip

# Reload ids are ObjectIds: their first characters are a timestamp shared by the reloads of one
# second, their last ones tell them apart.
RELOAD_TAIL = 8


class ScrubbedStream:
    """A text stream passing every write on scrubbed; everything else is the wrapped stream's.

    ``isatty``, ``fileno``, ``encoding``, ``reconfigure`` and the rest behave as the wrapped
    stream's own, so ``print``, rich and ``os.dup2`` on ``fileno()`` work unchanged.
    """

    def __init__(self, stream: TextIO, scrubber: Scrubber) -> None:
        self.wrapped = stream
        self.scrubber = scrubber

    def write(self, text: str) -> int:
        """Write ``text`` scrubbed; returns ``len(text)``, what the caller gave."""
        self.wrapped.write(self.scrubber.scrub(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each line, scrubbed."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush the wrapped stream."""
        self.wrapped.flush()

    def isatty(self) -> bool:
        """Whether the wrapped stream is a terminal."""
        return self.wrapped.isatty()

    def fileno(self) -> int:
        """The wrapped stream's file descriptor."""
        return self.wrapped.fileno()

    def __getattr__(self, name: str) -> Any:
        if name == "wrapped":  # not set yet (a copy being built): no endless recursion
            raise AttributeError(name)
        return getattr(self.wrapped, name)


class ScrubbedStdio:
    """``sys.stdout`` and ``sys.stderr`` scrubbed inside ``with``; the originals back after it."""

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber
        self._originals: tuple[TextIO, TextIO] = (sys.stdout, sys.stderr)
        self._streams: list[ScrubbedStream] = []

    def __enter__(self) -> ScrubbedStdio:
        self._originals = (sys.stdout, sys.stderr)
        self._streams = []
        stdout, stderr = (self._wrap(stream) for stream in self._originals)
        sys.stdout, sys.stderr = cast(TextIO, stdout), cast(TextIO, stderr)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        sys.stdout, sys.stderr = self._originals

    def use(self, scrubber: Scrubber) -> None:
        """Scrub with ``scrubber`` from now on (the settings' secrets, once they are read)."""
        self.scrubber = scrubber
        for stream in self._streams:
            stream.scrubber = scrubber

    def _wrap(self, stream: TextIO | None) -> ScrubbedStream | None:
        # No stream at all (pythonw): print() skips None, a wrapper would fail instead.
        if stream is None:
            return None
        wrapper = ScrubbedStream(stream, self.scrubber)
        self._streams.append(wrapper)
        return wrapper


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


def short_reload(reload_id: str) -> str:
    """A reload id by its last characters, such as ``…6f1a2b3c`` (whole if that short)."""
    return reload_id if len(reload_id) <= RELOAD_TAIL + 1 else "\u2026" + reload_id[-RELOAD_TAIL:]


def print_sweep(report: SweepReport, out: TextIO, names: Mapping[str, str] | None = None) -> None:
    """A sweep's summary and its decisions, one line each.

    With ``names`` (app_id -> name, ``state.history.app_names``) apps are shown as
    ``Sales (3fa9c1d2)`` (or ``3fa9c1d2`` when nameless) and reloads by their last characters,
    to fit 80 columns; without ``names``, by their whole ids (``--json`` always has those).
    """
    mode = " (dry run: nothing started, nothing recorded)" if report.dry_run else ""
    out.write(
        f"sweep {report.sweep_id}{mode}\n"
        f"window {format_time(report.window_from)} -> {format_time(report.window_to)}: "
        f"{report.events_read} events read, {report.events_new} new, "
        f"{report.events_invalid} invalid, {report.sources} source apps\n"
    )
    if report.outcomes:
        rows = [_sweep_row(outcome, names) for outcome in report.outcomes]
        out.write(table(("app", "decision", "reason", "reload", "sources"), rows) + "\n")
    else:
        out.write("no successors to decide\n")
    calls = ", ".join(f"{endpoint} {count}" for endpoint, count in sorted(report.api_calls.items()))
    total = sum(report.api_calls.values())
    out.write(f"{total} API calls ({calls or 'none'}) in {report.duration_s:.2f}s\n")


def _sweep_row(outcome: Outcome, names: Mapping[str, str] | None) -> tuple[object, ...]:
    sources = outcome.candidate.source_apps
    if names is None:
        return (
            outcome.app_id,
            outcome.decision,
            outcome.reason,
            outcome.reload_id,
            ", ".join(sources),
        )
    name = names.get(outcome.app_id)
    reload_id = short_reload(outcome.reload_id) if outcome.reload_id else None
    shown = [clip(names[app], NAME_WIDTH) if app in names else app[:SHORT_ID] for app in sources]
    label = app_label(outcome.app_id, name)
    return (label, outcome.decision, outcome.reason, reload_id, ", ".join(shown))

"""Logging: loguru is configured here, from ``main()`` only; stdlib logging is routed into it.

Where logs go: stderr always; with ``log_file`` set, that file as well. Every sink writes only
text passed through a ``Scrubber`` (``scheduler.scrub``): the whole line, traceback included,
whatever logged it (our code, httpx, apscheduler). Without one, bearer tokens are still removed.

Rotation and retention of ``log_file``: the file is rotated when the next line would take it
past 10 MB; the rotated file is renamed beside it with its creation time
(``reload-chain.2026-11-22_10-15-00_123456.log``) and left uncompressed, so Notepad, ``tail``
and ``Select-String`` read it as it is. The 10 most recent rotated files are kept and older ones
deleted, so the logs never take more than about 110 MB however long the program runs or however
much it logs; a time-based limit would not bound the disk on a bad day. Only files named like
rotations of ``log_file`` are ever deleted. Several processes (``run``, a Task Scheduler sweep,
``status``) may append to one file; each reopens the file when another one rotated it.

JSON lines (``--log-json``, ``log_json``): each record is one JSON object on one line, on stderr
and in the file alike, with ``time`` (UTC, ISO 8601), ``level``, ``message``, ``name``,
``function``, ``line`` and, for errors logged with a traceback, ``exception`` (the traceback
text as Python prints it; the text log file shows the same rendering). Nothing else of the
record is written: no values bound with ``logger.bind`` or passed as keyword arguments, no
local variables (``diagnose`` is off, in text mode too), no colour codes.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from qlik.times import format_time
from scheduler.scrub import Scrubber

if TYPE_CHECKING:
    from loguru import Record, RecordException

STDERR_FORMAT = "<green>{time:YYYY-MM-DD HH:mm:ss}</green> <level>{level: <7}</level> {message}"
FILE_FORMAT = "{time:YYYY-MM-DDTHH:mm:ss.SSSZ} {level: <7} {name}:{function}:{line} {message}"
ROTATION_BYTES = 10 * 1024 * 1024
KEEP_ROTATED = 10
# Third-party loggers and the least level they may pass on at our default level.
QUIET_LIBRARIES = {
    "httpx": "WARNING",
    "httpcore": "WARNING",
    # Its routine lines ("Added job", "Running job", ...) are DEBUG lines of ours.
    "apscheduler": "WARNING",
    # Apprise logs whole alert URLs (passwords too) below WARNING; urllib3 their query strings.
    "apprise": "WARNING",
    "urllib3": "WARNING",
}
# A line rendered here travels in the record's extra: a format string would be parsed for markup.
_LINE_KEY = "reload_chain_line"


class InterceptHandler(logging.Handler):
    """Send stdlib log records (apscheduler, httpx) to loguru with their level."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Walk out of the logging module so the record names its real caller.
        frame, depth = inspect.currentframe(), 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def json_line(record: Record) -> str:
    """One log record as a JSON object: only the fields listed in the module docstring."""
    fields: dict[str, Any] = {
        "time": format_time(record["time"]),
        "level": record["level"].name,
        "message": record["message"],
        "name": record["name"],
        "function": record["function"],
        "line": record["line"],
    }
    error = record["exception"]
    if error is not None:
        fields["exception"] = _traceback_text(error)
    return json.dumps(fields, default=str)


def text_line(record: Record) -> str:
    """One log record as a line of the text log file, its traceback (if any) below it."""
    line = FILE_FORMAT.format_map(record)
    error = record["exception"]
    return line if error is None else f"{line}\n{_traceback_text(error).rstrip()}"


def _traceback_text(error: RecordException) -> str:
    # The standard rendering: file, line and source text of each frame, never their locals.
    return "".join(traceback.format_exception(error.type, error.value, error.traceback))


class ScrubbedFormat:
    """A loguru format function: the line is rendered by ``render`` and scrubbed here.

    Loguru writes a file sink itself, so the text is scrubbed before it gets there.
    """

    def __init__(self, render: Callable[[Record], str], scrubber: Scrubber) -> None:
        self.render, self.scrubber = render, scrubber

    def __call__(self, record: Record) -> str:
        """The template loguru fills: the scrubbed line, put in the record's extra."""
        record["extra"][_LINE_KEY] = self.scrubber.scrub(self.render(record))
        return "{extra[" + _LINE_KEY + "]}\n"


class RotatedFiles:
    """Retention: keep the ``keep`` newest rotations of one log file, delete the older ones.

    Loguru offers every file whose name merely starts like the log file's; only names it gives
    rotations (``<stem>.<date>_<time>_<microseconds>[.<n>]<suffix>``) are considered here.
    """

    def __init__(self, log_file: Path, keep: int) -> None:
        stem, suffix = re.escape(log_file.stem), re.escape(log_file.suffix)
        stamp = r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}_\d{6}(\.\d+)?"
        self._rotation = re.compile(rf"{stem}\.{stamp}{suffix}")
        self._keep = keep

    def __call__(self, candidates: list[str]) -> None:
        rotated = [path for path in candidates if self._rotation.fullmatch(Path(path).name)]
        rotated.sort(key=_modified, reverse=True)
        for path in rotated[self._keep :]:
            # Open in another process (Windows) or already gone: the next rotation tries again.
            # Nothing may be logged here: this runs inside the file sink.
            with contextlib.suppress(OSError):
                os.remove(path)


def _modified(path: str) -> tuple[float, str]:
    try:
        return os.stat(path).st_mtime, path
    except OSError:
        return 0.0, path


def configure_logging(
    level: str = "INFO",
    log_file: Path | None = None,
    *,
    json_lines: bool = False,
    rotation_bytes: int = ROTATION_BYTES,
    keep_rotated: int = KEEP_ROTATED,
    scrubber: Scrubber | None = None,
) -> None:
    """Log to stderr, and to a rotated file when ``log_file`` is set; JSON lines if asked.

    ``rotation_bytes`` and ``keep_rotated`` are the rotation size and how many rotated files
    are kept (see the module docstring). Every line is scrubbed by ``scrubber``, by default
    one that knows no secret but still removes bearer tokens.
    """
    logger.remove()
    scrubber = scrubber or Scrubber()
    # diagnose=False: loguru would otherwise print local variables, secrets among them.
    common: dict[str, Any] = {"level": level, "backtrace": False, "diagnose": False}
    json_format = ScrubbedFormat(json_line, scrubber)
    stderr = CurrentStderr(scrubber)
    if json_lines:
        logger.add(stderr, format=json_format, colorize=False, **common)
    else:
        colorize = None if _console_shows_colours() else False
        logger.add(stderr, format=STDERR_FORMAT, colorize=colorize, **common)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            log_file,
            format=json_format if json_lines else ScrubbedFormat(text_line, scrubber),
            rotation=rotation_bytes,
            retention=RotatedFiles(log_file, keep_rotated),
            encoding="utf-8",
            watch=True,  # follow a rotation made by another process writing the same file
            **common,
        )
    _route_stdlib_logging(level)


class CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not what it was at setup; scrubbed.

    The sweep's progress bar swaps ``sys.stderr`` for a proxy that prints lines above the bar;
    a sink holding the original stream would write into the bar's line instead. Loguru writes
    the whole line here, traceback and colour codes included, so all of it is scrubbed.
    """

    def __init__(self, scrubber: Scrubber | None = None) -> None:
        self.scrubber = scrubber or Scrubber()

    def write(self, text: str) -> None:
        """Write the scrubbed text to the current stderr."""
        sys.stderr.write(self.scrubber.scrub(text))

    def flush(self) -> None:
        """Flush the current stderr."""
        sys.stderr.flush()

    def isatty(self) -> bool:
        """Whether the current stderr is a terminal (for colours)."""
        return sys.stderr.isatty()


def _console_shows_colours() -> bool:
    """Whether colour codes can go to a terminal: on Windows, once colorama enabled them.

    Loguru converts colours for a Windows console only when its sink is ``sys.stderr`` itself,
    which cannot be scrubbed; colorama (a loguru dependency there) turns the console's own
    colour support on instead.
    """
    if sys.platform != "win32":
        return True
    try:
        colorama = importlib.import_module("colorama")
    except ImportError:
        return False
    enable = getattr(colorama, "just_fix_windows_console", None)
    if enable is None:
        return False
    enable()
    return True


def _route_stdlib_logging(level: str) -> None:
    logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
    for name, least in QUIET_LIBRARIES.items():
        verbose = level in ("DEBUG", "TRACE") and name not in ("httpcore", "apprise", "urllib3")
        library_level = "DEBUG" if verbose else least
        logging.getLogger(name).setLevel(library_level)

"""Logging: loguru is configured here, from ``main()`` only; stdlib logging is routed into it."""

from __future__ import annotations

import inspect
import logging
import sys
from pathlib import Path

from loguru import logger

STDERR_FORMAT = "<green>{time:YYYY-MM-DD HH:mm:ss}</green> <level>{level: <7}</level> {message}"
FILE_FORMAT = "{time:YYYY-MM-DDTHH:mm:ss.SSSZ} {level: <7} {name}:{function}:{line} {message}"
# Third-party loggers and the least level they may pass on at our default level.
QUIET_LIBRARIES = {"httpx": "WARNING", "httpcore": "WARNING", "apscheduler": "INFO"}


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


def configure_logging(
    level: str = "INFO", log_file: Path | None = None, *, json_lines: bool = False
) -> None:
    """Log to stderr, and to a rotated file when ``log_file`` is set; JSON lines if asked."""
    logger.remove()
    # diagnose=False: loguru would otherwise print local variables, secrets among them.
    logger.add(
        sys.stderr,
        level=level,
        format=STDERR_FORMAT,
        colorize=None,
        serialize=json_lines,
        backtrace=False,
        diagnose=False,
    )
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            log_file,
            level=level,
            format=FILE_FORMAT,
            rotation="10 MB",
            retention=10,
            encoding="utf-8",
            serialize=json_lines,
            backtrace=False,
            diagnose=False,
        )
    logging.basicConfig(handlers=[InterceptHandler()], level=0, force=True)
    for name, least in QUIET_LIBRARIES.items():
        verbose = level in ("DEBUG", "TRACE") and name != "httpcore"
        library_level = "DEBUG" if verbose else least
        logging.getLogger(name).setLevel(library_level)

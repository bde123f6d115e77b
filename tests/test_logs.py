"""Logging setup: stdlib records reach loguru, noisy libraries are quiet, the file gets logs."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger
from pydantic import SecretStr

from scheduler.logs import QUIET_LIBRARIES, configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Put loguru and the stdlib root logger back as they were, for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    logger.remove()
    logger.add(sys.stderr)
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, library_level in libraries.items():
        logging.getLogger(name).setLevel(library_level)


def capture() -> list[str]:
    """A loguru sink that passes everything, added after ``configure_logging``."""
    lines: list[str] = []
    logger.add(lambda m: lines.append(str(m)), level=0, format="{level} {function} {message}")
    return lines


def test_stdlib_logging_reaches_loguru() -> None:
    configure_logging()
    lines = capture()
    logging.getLogger("apscheduler.scheduler").warning("job %s was missed", "sweep")
    assert lines == ["WARNING test_stdlib_logging_reaches_loguru job sweep was missed\n"]


def test_stdlib_custom_level_keeps_its_number() -> None:
    configure_logging()
    lines: list[str] = []
    logger.add(lambda m: lines.append(str(m)), level=0, format="{level.no} {message}")
    logging.getLogger("somelib").log(25, "between info and warning")
    assert lines == ["25 between info and warning\n"]


def test_httpx_info_is_suppressed_at_info() -> None:
    configure_logging("INFO")
    lines = capture()
    logging.getLogger("httpx").info("HTTP Request: GET https://t.example.com")
    logging.getLogger("httpx").warning("httpx warning")
    assert [line.split(" ", 2)[2] for line in lines] == ["httpx warning\n"]


def test_httpx_info_passes_at_debug_but_httpcore_stays_quiet() -> None:
    configure_logging("DEBUG")
    lines = capture()
    logging.getLogger("httpx").info("HTTP Request: GET https://t.example.com")
    logging.getLogger("httpcore").debug("connect_tcp.started")
    assert len(lines) == 1
    assert "HTTP Request" in lines[0]


def test_apscheduler_debug_is_suppressed_at_info() -> None:
    configure_logging("INFO")
    lines = capture()
    logging.getLogger("apscheduler.scheduler").debug("Looking for jobs to run")
    logging.getLogger("apscheduler.scheduler").info("Added job sweep")
    assert len(lines) == 1
    assert "Added job sweep" in lines[0]


def test_stderr_sink_honours_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING")
    logger.info("not shown")
    logger.warning("shown on stderr")
    err = capsys.readouterr().err
    assert "shown on stderr" in err
    assert "not shown" not in err


def test_log_file_receives_messages(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "reload-chain.log"
    configure_logging("INFO", log_file=log_file)
    logger.info("sweep finished")
    logging.getLogger("apscheduler.scheduler").warning("from the stdlib")
    logger.debug("too detailed")
    logger.remove()  # closes the file
    text = log_file.read_text(encoding="utf-8")
    assert "INFO    " in text
    assert "sweep finished" in text
    assert "test_log_file_receives_messages" in text
    assert "from the stdlib" in text
    assert "too detailed" not in text


def test_no_log_file_by_default() -> None:
    configure_logging("INFO")
    logger.info("only on stderr")
    assert list(Path.cwd().iterdir()) == []


SECRET = "sk-very-secret-api-key"
KEY = SecretStr(SECRET)


def send_with(api_key: SecretStr) -> None:
    header = f"Bearer {api_key.get_secret_value()}"
    raise ConnectionError("connection reset", len(header))


def test_logged_traceback_does_not_show_secret_locals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SPEC 6: secrets are never logged. Loguru's diagnose mode prints local values in tracebacks.
    log_file = tmp_path / "rc.log"
    configure_logging("INFO", log_file=log_file)
    try:
        send_with(KEY)
    except ConnectionError:
        logger.exception("sweep crashed")
    logger.remove()
    err = capsys.readouterr().err
    assert "ConnectionError" in err
    assert SECRET not in err
    assert SECRET not in log_file.read_text(encoding="utf-8")


def test_stdlib_exception_records_name_their_caller() -> None:
    # APScheduler reports a crashed job with logger.exception(), one frame deeper than warning().
    configure_logging()
    lines: list[str] = []
    logger.add(lambda m: lines.append(str(m)), level=0, format="{name}:{function} {message}")
    try:
        raise RuntimeError("job failed")
    except RuntimeError:
        logging.getLogger("apscheduler.executors.default").exception("Job raised an exception")
    assert lines[0].startswith(
        "tests.test_logs:test_stdlib_exception_records_name_their_caller Job raised"
    )

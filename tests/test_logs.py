"""Logging setup: stdlib records reach loguru, noisy libraries are quiet, the file gets logs."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from pathlib import Path

import pytest
from loguru import logger
from pydantic import SecretStr

from scheduler.cli import main
from scheduler.logs import CurrentStderr, configure_logging
from scheduler.scrub import Scrubber
from tests.conftest import LogCapture
from tests.fake_tenant import TENANT, FakeTenant

pytestmark = pytest.mark.usefixtures("fresh_logging")

# What a capture shows of each record (its sink is added after ``configure_logging``).
WITH_FUNCTION = "{level} {function} {message}"


def test_stdlib_logging_reaches_loguru(log_capture: LogCapture) -> None:
    configure_logging()
    lines = log_capture(WITH_FUNCTION)
    logging.getLogger("apscheduler.scheduler").warning("job %s was missed", "sweep")
    assert lines == ["WARNING test_stdlib_logging_reaches_loguru job sweep was missed\n"]


def test_stdlib_custom_level_keeps_its_number(log_capture: LogCapture) -> None:
    configure_logging()
    lines = log_capture("{level.no} {message}")
    logging.getLogger("somelib").log(25, "between info and warning")
    assert lines == ["25 between info and warning\n"]


def test_httpx_info_is_suppressed_at_info(log_capture: LogCapture) -> None:
    configure_logging("INFO")
    lines = log_capture(WITH_FUNCTION)
    logging.getLogger("httpx").info("HTTP Request: GET https://t.example.com")
    logging.getLogger("httpx").warning("httpx warning")
    assert [line.split(" ", 2)[2] for line in lines] == ["httpx warning\n"]


def test_httpx_info_passes_at_debug_but_httpcore_stays_quiet(log_capture: LogCapture) -> None:
    configure_logging("DEBUG")
    lines = log_capture(WITH_FUNCTION)
    logging.getLogger("httpx").info("HTTP Request: GET https://t.example.com")
    logging.getLogger("httpcore").debug("connect_tcp.started")
    assert len(lines) == 1
    assert "HTTP Request" in lines[0]


def test_apscheduler_routine_lines_are_debug_lines(log_capture: LogCapture) -> None:
    # Issue 16: `run` logged five APScheduler lines at start and two per sweep at INFO.
    configure_logging("INFO")
    lines = log_capture(WITH_FUNCTION)
    logging.getLogger("apscheduler.scheduler").debug("Looking for jobs to run")
    logging.getLogger("apscheduler.scheduler").info("Added job sweep")
    logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed")
    assert len(lines) == 1
    assert "was missed" in lines[0]


def test_apscheduler_routine_lines_show_at_debug(log_capture: LogCapture) -> None:
    configure_logging("DEBUG")
    lines = log_capture(WITH_FUNCTION)
    logging.getLogger("apscheduler.scheduler").info("Added job sweep")
    assert len(lines) == 1 and "Added job sweep" in lines[0]


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


def test_stdlib_exception_records_name_their_caller(log_capture: LogCapture) -> None:
    # APScheduler reports a crashed job with logger.exception(), one frame deeper than warning().
    configure_logging()
    lines = log_capture("{name}:{function} {message}")
    try:
        raise RuntimeError("job failed")
    except RuntimeError:
        logging.getLogger("apscheduler.executors.default").exception("Job raised an exception")
    assert lines[0].startswith(
        "tests.test_logs:test_stdlib_exception_records_name_their_caller Job raised"
    )


def write_lines(count: int, width: int = 60) -> None:
    for number in range(count):
        logger.info("line {:04d} {}", number, "x" * width)


def test_the_log_file_is_rotated_at_the_size_limit(tmp_path: Path) -> None:
    log_file = tmp_path / "reload-chain.log"
    configure_logging("INFO", log_file=log_file, rotation_bytes=2_000, keep_rotated=100)
    write_lines(100)
    logger.remove()
    files = sorted(tmp_path.iterdir())
    assert len(files) > 5
    assert all(path.stat().st_size <= 2_000 for path in files)
    rotated = [path.name for path in files if path != log_file]
    assert all(name.startswith("reload-chain.2") and name.endswith(".log") for name in rotated)
    lines = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 100  # nothing lost at a rotation


def test_a_new_process_counts_what_the_file_already_holds(tmp_path: Path) -> None:
    # Task Scheduler starts a process per sweep: each appends, and rotation must still happen.
    log_file = tmp_path / "reload-chain.log"
    for _ in range(3):
        configure_logging("INFO", log_file=log_file, rotation_bytes=2_000)
        write_lines(8)
        logger.remove()
    assert len(list(tmp_path.iterdir())) == 2
    assert log_file.stat().st_size <= 2_000


def test_retention_keeps_the_newest_rotations_and_nothing_else_is_touched(
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "reload-chain.log"
    neighbours = [tmp_path / name for name in ("reload-chain.toml", "reload-chain.notes.log")]
    for path in neighbours:
        path.write_text("keep me\n", encoding="utf-8")
    configure_logging("INFO", log_file=log_file, rotation_bytes=1_000, keep_rotated=3)
    write_lines(200)
    logger.remove()
    rotated = [p for p in tmp_path.iterdir() if p != log_file and p not in neighbours]
    assert len(rotated) == 3
    assert all(path.read_text(encoding="utf-8") == "keep me\n" for path in neighbours)
    # The newest are kept: the first lines are gone, the last ones are not.
    kept = "".join(p.read_text(encoding="utf-8") for p in [*rotated, log_file])
    assert "line 0199" in log_file.read_text(encoding="utf-8")
    assert "line 0190" in kept and "line 0000" not in kept


def json_records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_lines_are_one_plain_object_per_record(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "rc.log"
    configure_logging("INFO", log_file=log_file, json_lines=True)
    logger.bind(token="bound value").info("app {} <b>{{x}}</b>\nsecond line", "A1")
    logging.getLogger("apscheduler.scheduler").warning("from %s", "the stdlib")
    logger.remove()
    err = capfd.readouterr().err
    assert "\x1b[" not in err
    for text in (err, log_file.read_text(encoding="utf-8")):
        first, second = json_records(text)
        assert set(first) == {"time", "level", "message", "name", "function", "line"}
        assert first["message"] == "app A1 <b>{x}</b>\nsecond line"
        assert first["level"] == "INFO" and first["name"] == "tests.test_logs"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(first["time"]))
        assert (second["level"], second["message"]) == ("WARNING", "from the stdlib")
        assert "bound value" not in text


def test_json_error_carries_the_traceback_without_locals(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "rc.log"
    configure_logging("DEBUG", log_file=log_file, json_lines=True)
    try:
        send_with(KEY)
    except ConnectionError:
        logger.exception("sweep crashed")
    logger.remove()
    err = capfd.readouterr().err
    for text in (err, log_file.read_text(encoding="utf-8")):
        (record,) = json_records(text)
        assert record["level"] == "ERROR" and record["message"] == "sweep crashed"
        assert "in send_with" in str(record["exception"])
        assert str(record["exception"]).endswith("ConnectionError: [Errno connection reset] 29\n")
        assert SECRET not in text


def test_log_json_through_the_command_line_writes_json_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", SECRET)
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    for argv in (["--log-json", "status"], ["status", "--log-json"]):
        assert main(argv) == 0
        logger.info("after {}", argv[0])  # the sink main() configured is still in place
        err = capfd.readouterr().err
        records = json_records(err)
        assert records[-1]["message"] == f"after {argv[0]}"
        assert SECRET not in err


def test_log_json_from_the_environment_and_a_refused_key_show_no_secret(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    tenant: FakeTenant,
) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", SECRET)
    monkeypatch.setenv("RELOAD_CHAIN_LOG_JSON", "true")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    tenant.unauthorized = True
    assert main(["sweep", "--log-level", "TRACE"]) == 2
    err = capfd.readouterr().err
    records = json_records(err)
    (error,) = [record for record in records if record["level"] == "ERROR"]
    assert "401" in str(error["message"])
    assert SECRET not in err


def test_stderr_lines_go_to_whatever_sys_stderr_is_when_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The progress bar swaps sys.stderr after logging is configured; lines must follow it.
    configure_logging("INFO")
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logger.info("into the first stream")
    monkeypatch.setattr(sys, "stderr", second)
    logger.info("into the second stream")
    logger.debug("below the level")
    assert "into the first stream" in first.getvalue()
    assert "into the second stream" not in first.getvalue()
    assert "into the second stream" in second.getvalue()
    assert "below the level" not in first.getvalue() + second.getvalue()
    assert second.getvalue().count("\n") == 1


def test_json_lines_on_stderr_follow_sys_stderr_too(monkeypatch: pytest.MonkeyPatch) -> None:
    configure_logging("INFO", json_lines=True)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logger.warning("as json")
    (record,) = json_records(stream.getvalue())
    assert (record["level"], record["message"]) == ("WARNING", "as json")


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty
        self.flushed = 0

    def isatty(self) -> bool:
        return self.tty

    def flush(self) -> None:
        self.flushed += 1
        super().flush()


def test_current_stderr_delegates_write_flush_and_isatty(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = CurrentStderr()
    terminal, redirected = FakeTerminal(tty=True), FakeTerminal(tty=False)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert sink.isatty() is True
    sink.write("to the terminal\n")
    sink.flush()
    monkeypatch.setattr(sys, "stderr", redirected)
    assert sink.isatty() is False
    sink.write("to the file\n")
    assert terminal.getvalue() == "to the terminal\n"
    assert terminal.flushed == 1
    assert redirected.getvalue() == "to the file\n"
    assert redirected.flushed == 0


def test_on_windows_too_the_stderr_sink_follows_sys_stderr_and_scrubs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Loguru colours a Windows console only through sys.stderr itself, which cannot be scrubbed.
    monkeypatch.setattr(sys, "platform", "win32")
    configure_logging("INFO")
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    logger.warning("sent Authorization: Bearer abc.def")
    assert stream.getvalue().endswith(" sent Authorization: Bearer [redacted]\n")


# Issue 11 item 6: every sink writes only scrubbed text, whatever produced it.
LEAKY_KEY = "sk-LEAKY-1234567890abcdef"


def header_error() -> None:
    # What httpx says of a key with a trailing CR/LF: the whole header, quoted.
    raise ValueError(f"Illegal header value b'Bearer {LEAKY_KEY}\\r\\n'")


def log_everything_leaky() -> None:
    logger.info("configured key {}", LEAKY_KEY)
    logging.getLogger("httpx").warning("HTTP Request: GET /x with Bearer %s", "tok-9f8e7d6c")
    try:
        header_error()
    except ValueError:
        logger.exception("sweep crashed")
    try:
        header_error()
    except ValueError:
        logging.getLogger("apscheduler.executors.default").exception("Job raised an exception")


@pytest.mark.parametrize("json_lines", [False, True])
def test_every_sink_is_scrubbed_of_the_key_and_bearer_tokens(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    log_file = tmp_path / "rc.log"
    scrubber = Scrubber([LEAKY_KEY])
    configure_logging("INFO", log_file=log_file, json_lines=json_lines, scrubber=scrubber)
    log_everything_leaky()
    logger.remove()
    err = capfd.readouterr().err
    for text in (err, log_file.read_text(encoding="utf-8")):
        assert LEAKY_KEY not in text and "tok-9f8e7d6c" not in text
        assert "1234567890" not in text
        assert "configured key [redacted]" in text
        assert "GET /x with Bearer [redacted]" in text
        assert (
            text.count(
                "Illegal header value b'Bearer [redacted]\\\\r\\\\n'"
                if json_lines
                else "Illegal header value b'Bearer [redacted]\\r\\n'"
            )
            == 2
        )
        assert text.count("in header_error") == 2  # the tracebacks are there, scrubbed


def test_bearer_tokens_are_scrubbed_before_any_secret_is_known(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "rc.log"
    configure_logging("INFO", log_file=log_file)
    log_everything_leaky()
    logger.remove()
    err = capfd.readouterr().err
    for text in (err, log_file.read_text(encoding="utf-8")):
        assert "tok-9f8e7d6c" not in text
        assert text.count("b'Bearer [redacted]\\r\\n'") == 2
        # Without the settings, a key shown without "Bearer" cannot be known.
        assert f"configured key {LEAKY_KEY}" in text


def test_colours_stay_on_a_terminal_and_the_line_is_scrubbed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = FakeTerminal(tty=True)
    monkeypatch.setattr(sys, "stderr", terminal)
    configure_logging("INFO", scrubber=Scrubber([LEAKY_KEY]))
    logger.warning("refused {}", LEAKY_KEY)
    text = terminal.getvalue()
    assert "\x1b[" in text
    assert "refused [redacted]" in text and LEAKY_KEY not in text


def test_the_text_file_keeps_its_format_and_traceback(tmp_path: Path) -> None:
    log_file = tmp_path / "rc.log"
    configure_logging("INFO", log_file=log_file)
    logger.info("app {} <b>{{x}}</b>", "A1")
    try:
        header_error()
    except ValueError:
        logger.exception("sweep crashed")
    logger.remove()
    first, second, *trace = log_file.read_text(encoding="utf-8").splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"
    assert re.fullmatch(
        stamp + r" INFO    tests\.test_logs:test_the_text_file\S+:\d+ app A1 <b>\{x\}</b>", first
    )
    assert re.fullmatch(stamp + r" ERROR   tests\.test_logs:\S+:\d+ sweep crashed", second)
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == "ValueError: Illegal header value b'Bearer [redacted]\\r\\n'"

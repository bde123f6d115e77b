"""Reading progress: a bar on a terminal, plain log lines elsewhere, the window fraction."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from jobs.sweep import SweepContext, run_sweep
from scheduler.progress import BarProgress, LogProgress, progress_for, rate, window_fraction
from tests.fake_tenant import FakeTenant

START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=2)
ESC = "\x1b"


class Terminal(io.StringIO):
    """Standard error as a terminal would be."""

    def isatty(self) -> bool:
        return True


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("window", "reached", "expected"),
    [
        ((START, END), None, 0.0),
        (None, at(30), 0.0),
        ((START, END), at(30), 0.25),
        ((START, END), at(120), 1.0),
        ((START, END), at(-5), 0.0),  # an event stamped before the window: not negative
        ((START, END), at(500), 1.0),  # past the end (clock skew): never over 100%
        ((START, START), at(0), 1.0),  # zero-length window
        ((END, START), at(0), 1.0),  # reversed window
        ((START, START), None, 0.0),
    ],
)
def test_window_fraction(
    window: tuple[datetime, datetime] | None, reached: datetime | None, expected: float
) -> None:
    assert window_fraction(window, reached) == pytest.approx(expected)


def test_rate_before_any_time_passed_is_zero() -> None:
    assert rate(500, 0.0) == 0.0
    assert rate(500, 2.0) == 250.0


def test_a_terminal_gets_a_bar_anything_else_log_lines() -> None:
    assert isinstance(progress_for(Terminal()), BarProgress)
    assert isinstance(progress_for(io.StringIO()), LogProgress)


def test_log_lines_every_n_pages_with_totals_position_and_rate(logged: list[str]) -> None:
    clock = Clock()
    stream = io.StringIO()
    progress = progress_for(stream)
    assert isinstance(progress, LogProgress)
    progress.clock = clock
    progress.started(START, END)
    for page in range(1, 121):
        clock.now += 0.01
        progress.page_read(page, page * 100, at(page / 2))
    progress.finished(120, 12_000)

    assert logged == [
        "INFO read 10,000 events in 100 pages (up to 2026-09-01T09:50:00.000Z, "
        "42% of the window), 10,000 events/s\n",
        "INFO read 12,000 events in 120 pages in 1.2s, 10,000 events/s\n",
    ]
    assert stream.getvalue() == ""  # nothing but log lines: no bar, no control characters


def test_log_lines_every_few_seconds_on_slow_pages(logged: list[str]) -> None:
    clock = Clock()
    progress = LogProgress(every_pages=100, every_seconds=5.0, clock=clock)
    progress.started(START, END)
    for page in range(1, 7):
        clock.now += 2.0
        progress.page_read(page, page * 10, None)

    assert [line.split(" in ")[0] for line in logged] == [
        "INFO read 30 events",
        "INFO read 60 events",
    ]
    assert "(up to no event yet, 0% of the window)" in logged[0]


def test_a_short_read_closes_at_debug_only(logged: list[str]) -> None:
    progress = LogProgress(clock=Clock())
    progress.started(START, END)
    progress.page_read(1, 3, at(10))
    progress.finished(1, 3)
    assert logged == ["DEBUG read 3 events in 1 pages in 0.0s, 0 events/s\n"]


def test_a_terminal_gets_a_transient_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "150")
    monkeypatch.setenv("TERM", "xterm-256color")
    stream = Terminal()
    progress = progress_for(stream)
    assert isinstance(progress, BarProgress)
    progress.started(START, END)
    progress.page_read(12, 1_200, at(60))
    progress.finished(12, 1_200)

    shown = stream.getvalue()
    assert ESC in shown  # cursor control: the bar is drawn and then taken away
    assert "reading events" in shown
    assert "50%" in shown
    assert "12 pages, 1,200 events" in shown
    assert "events/s" in shown
    assert not progress.bar.live.is_started


def test_pages_before_start_and_a_second_finish_are_harmless() -> None:
    progress = BarProgress(Terminal())
    progress.page_read(1, 10, at(1))
    progress.finished(1, 10)
    log = LogProgress(clock=Clock())
    log.page_read(100, 10, at(1))  # no window yet: 0%, no error
    log.finished(1, 10)


def test_a_sweep_reports_its_pages(
    ctx: SweepContext, tenant: FakeTenant, logged: list[str]
) -> None:
    app = tenant.add_app(1)
    for minutes in range(1, 4):
        tenant.finish(app, at=tenant.now - timedelta(minutes=minutes))
    progress = LogProgress(every_pages=1, clock=Clock())
    run_sweep(replace(ctx, progress=progress), tenant.now)
    reading = [line for line in logged if line.startswith("INFO read ")]
    assert reading[0].startswith("INFO read 3 events in 1 pages (up to ")
    assert "2026-11-22T09:59:00.000Z, 98% of the window" in reading[0]
    assert reading[-1].startswith("INFO read 3 events in 1 pages in ")

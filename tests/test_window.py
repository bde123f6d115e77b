"""The sweep's window: overlap, first run, ``--since``, the late check and lost state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.window import Window, late_check_due, recovering_until, sweep_window
from scheduler.settings import Settings

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CURSOR = NOW - timedelta(minutes=2)


def test_first_run_looks_back_and_never_checks_late() -> None:
    window = sweep_window(None, Settings(), NOW)
    assert window == Window(NOW - timedelta(minutes=60), NOW)
    assert window.first == window.start


def test_since_overrides_everything() -> None:
    since = NOW - timedelta(days=3)
    assert sweep_window(CURSOR, Settings(), NOW, since) == Window(since, NOW)


def test_a_due_late_check_reads_the_whole_late_window() -> None:
    window = sweep_window(CURSOR, Settings(), NOW, late_checked_at=None)
    assert window.start == CURSOR - timedelta(minutes=5)
    assert window.late_check and window.first == NOW - timedelta(minutes=60)


def test_the_late_window_never_narrows_the_regular_one() -> None:
    old_cursor = NOW - timedelta(hours=5)
    window = sweep_window(old_cursor, Settings(), NOW)
    assert window.first == old_cursor - timedelta(minutes=5)


@pytest.mark.parametrize(
    ("check_minutes", "last_minutes_ago", "due"),
    [
        (10, None, True),
        (10, 9.9, False),
        (10, 10, True),
        (0, 0, True),  # 0: every sweep
        (0, None, True),
    ],
)
def test_late_check_schedule(check_minutes: int, last_minutes_ago: float | None, due: bool) -> None:
    last = None if last_minutes_ago is None else NOW - timedelta(minutes=last_minutes_ago)
    assert late_check_due(last, Settings(late_check_minutes=check_minutes), NOW) is due


def test_an_empty_late_window_is_never_read() -> None:
    settings = Settings(late_window_minutes=0, late_check_minutes=0)
    assert not sweep_window(CURSOR, settings, NOW).late_check


def test_lost_state_is_everything_for_a_new_database() -> None:
    window = Window(NOW - timedelta(hours=1), NOW)
    assert recovering_until(None, None, window) == NOW
    assert recovering_until(None, CURSOR, window) == NOW


def test_lost_state_reaches_the_watermark_of_a_restored_copy() -> None:
    window = Window(CURSOR, NOW)
    restored = NOW - timedelta(hours=3)
    assert recovering_until(restored, CURSOR, window) == CURSOR
    assert recovering_until(CURSOR, CURSOR, window) is None  # the database remembers all
    assert recovering_until(CURSOR, None, window) is None  # no watermark: nothing known lost

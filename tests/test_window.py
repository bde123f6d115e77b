"""The sweep's window: overlap, first run, ``--since``, the late check and lost state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.window import Memory, Window, late_check_due, recovering_until, sweep_window
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
    assert recovering_until(Memory(), window) == (NOW, "first")
    assert recovering_until(Memory(watermark=CURSOR), window) == (NOW, "new")


def test_lost_state_reaches_the_watermark_of_a_restored_copy() -> None:
    window = Window(CURSOR, NOW)
    old = NOW - timedelta(hours=3)
    restored = Memory(cursor=old, high_water=old, watermark=CURSOR)
    assert recovering_until(restored, window) == (CURSOR, "restored")
    # A database from before high-water marks, beside a watermark: restored too.
    assert recovering_until(Memory(cursor=old, watermark=CURSOR), window) == (CURSOR, "restored")


def test_a_cursor_moved_back_is_not_lost_state() -> None:
    """A late event left for later moves the cursor back; the high-water mark stays."""
    window = Window(CURSOR, NOW)
    memory = Memory(cursor=NOW - timedelta(hours=1), high_water=CURSOR, watermark=CURSOR)
    assert recovering_until(memory, window) == (None, "")
    assert recovering_until(Memory(cursor=CURSOR), window) == (None, "")  # no watermark


def test_a_limit_found_once_is_kept() -> None:
    window = Window(CURSOR, NOW)
    kept = Memory(cursor=CURSOR, high_water=CURSOR, watermark=CURSOR, recovering_until=CURSOR)
    assert recovering_until(kept, window) == (CURSOR, "kept")

"""The watermark beside the database: forward only, atomic, harmless when missing or broken."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from state.watermark import Watermark, watermark_path

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_it_only_moves_forward(tmp_path: Path) -> None:
    mark = Watermark(tmp_path / "state.db")
    assert mark.read() is None
    mark.advance(NOW)
    mark.advance(NOW - timedelta(hours=1))  # a cursor moved back by unsettled work
    assert mark.read() == NOW
    mark.advance(NOW + timedelta(seconds=1))
    assert mark.read() == NOW + timedelta(seconds=1)
    assert watermark_path(tmp_path / "state.db") == tmp_path / "state.db.watermark"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db.watermark"]


def test_an_unreadable_watermark_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "state.db.watermark").write_text("not a time", encoding="utf-8")
    assert Watermark(tmp_path / "state.db").read() is None


def test_a_folder_that_cannot_hold_it_costs_only_the_watermark(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("x", encoding="utf-8")
    mark = Watermark(blocked / "state.db")
    mark.advance(NOW)  # logged, not raised: the sweep has committed already
    assert mark.read() is None

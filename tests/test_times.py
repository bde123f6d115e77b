"""parse_time reads every precision and offset the tenant sends; format_time writes one shape."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from qlik.times import format_time, parse_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T11:31:39Z", datetime(2026, 11, 22, 11, 31, 39, tzinfo=UTC)),
        ("2026-11-22T11:31:39.123Z", datetime(2026, 11, 22, 11, 31, 39, 123000, tzinfo=UTC)),
        ("2026-11-22T11:31:39.123456Z", datetime(2026, 11, 22, 11, 31, 39, 123456, tzinfo=UTC)),
        ("2026-11-22T11:31:39.123456789Z", datetime(2026, 11, 22, 11, 31, 39, 123456, tzinfo=UTC)),
        ("2026-11-22T11:31:39.5z", datetime(2026, 11, 22, 11, 31, 39, 500000, tzinfo=UTC)),
    ],
)
def test_parse_time_reads_every_precision(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_parse_time_converts_offsets_to_utc() -> None:
    parsed = parse_time("2026-11-22T13:01:39.250+01:30")
    assert parsed == datetime(2026, 11, 22, 11, 31, 39, 250000, tzinfo=UTC)
    assert parsed.tzinfo is UTC
    assert parsed.hour == 11


def test_parse_time_treats_naive_input_as_utc() -> None:
    parsed = parse_time("2026-11-22T11:31:39")
    assert parsed.tzinfo is UTC
    assert parsed == datetime(2026, 11, 22, 11, 31, 39, tzinfo=UTC)


def test_parse_time_ignores_surrounding_whitespace() -> None:
    assert parse_time(" 2026-11-22T11:31:39Z\n") == datetime(2026, 11, 22, 11, 31, 39, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "", "2026-13-01T00:00:00Z", "11:31:39.123Z x"])
def test_parse_time_rejects_garbage_naming_the_value(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_time(text)


def test_format_time_writes_utc_milliseconds_with_z() -> None:
    moment = datetime(2026, 11, 22, 11, 31, 39, 123999, tzinfo=UTC)
    assert format_time(moment) == "2026-11-22T11:31:39.123Z"


def test_format_time_converts_offsets_to_utc() -> None:
    moment = datetime(2026, 11, 22, 12, 31, 39, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2026-11-22T11:31:39.000Z"


def test_format_time_output_shape_round_trips() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)
    text = format_time(moment)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert parse_time(text) == moment

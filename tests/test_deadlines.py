"""Deadlines judged from the reloads sweeps read: met, late once per day, met after late, DST.

``Sweeps`` plays a series of sweeps the way the sweep shell does: each judges with the rows
earlier ones wrote and keeps what it is told to upsert. 2026-06-01 is a Monday.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import count

import pytest

from jobs.deadline_config import Deadline
from jobs.deadlines import (
    EndedReload,
    Late,
    deadline_apps,
    deadline_status,
    judge,
    judged_since,
)
from qlik.events import FinishedReload, Outcome
from state.database import open_database
from state.deadline_reads import DeadlineDay, DeadlineReads, EarlierSuccess
from state.store import Store, SweepCommit

APP = "00000000-0000-4000-8000-000000000001"
OTHER = "00000000-0000-4000-8000-000000000002"
WEEKDAYS = frozenset(range(5))
_ids = count(1)


def at(day: str, clock: str = "00:00") -> datetime:
    """A UTC instant: ``at("2026-06-01", "06:30")``."""
    return datetime.fromisoformat(f"{day}T{clock}:00+00:00")


def run(ended: datetime, outcome: Outcome = "success", app: str = APP) -> FinishedReload:
    number = next(_ids)
    return FinishedReload(f"e{number}", ended, app, f"r{number}", outcome, ended)


def utc(by: time = time(7), days: frozenset[int] = frozenset(range(7))) -> Deadline:
    return Deadline(APP, by, "UTC", days, "sales")


@dataclass
class Sweeps:
    """Sweeps one after another over one set of deadlines, with the rows they committed."""

    deadlines: list[Deadline]
    known_since: datetime | None = None
    rows: dict[tuple[str, str], DeadlineDay] = field(default_factory=dict)
    alerts: list[Late] = field(default_factory=list)

    def sweep(self, now: datetime, runs: Iterable[EndedReload] = ()) -> list[Late]:
        since = judged_since(now).date().isoformat()
        known = [row for row in self.rows.values() if row.day >= since]
        verdict = judge(self.deadlines, runs, known, now, known_since=self.known_since)
        self.rows.update({(row.app_id, row.day): row for row in verdict.rows})
        self.alerts.extend(verdict.late)
        return list(verdict.late)

    def row(self, day: str, app: str = APP) -> DeadlineDay:
        return self.rows[(app, day)]


# --- met, late, met after late -----------------------------------------------------------------


def test_a_success_before_by_meets_the_day_and_no_late_follows() -> None:
    sweeps = Sweeps([utc()], known_since=at("2026-06-01"))
    assert sweeps.sweep(at("2026-06-01", "06:35"), [run(at("2026-06-01", "06:30"))]) == []
    assert sweeps.row("2026-06-01") == DeadlineDay(
        APP, "2026-06-01", at("2026-06-01", "07:00"), met_at=at("2026-06-01", "06:30")
    )
    assert sweeps.sweep(at("2026-06-01", "07:05")) == []
    assert sweeps.sweep(at("2026-06-01", "23:55")) == []
    assert sweeps.alerts == []


def test_late_is_raised_once_per_day_over_several_sweeps() -> None:
    sweeps = Sweeps([utc()], known_since=at("2026-06-01"))
    assert sweeps.sweep(at("2026-06-01", "06:55")) == []  # pending: nothing written
    assert sweeps.rows == {}
    late = sweeps.sweep(at("2026-06-01", "07:05"))
    assert late == [Late(APP, "2026-06-01", at("2026-06-01", "07:00"), utc())]
    assert sweeps.row("2026-06-01").late_at == at("2026-06-01", "07:05")
    for minutes in (10, 15, 60 * 16):
        assert sweeps.sweep(at("2026-06-01", "07:00") + timedelta(minutes=minutes)) == []
    # A success after by does not meet the day, and raises nothing new.
    assert sweeps.sweep(at("2026-06-01", "08:05"), [run(at("2026-06-01", "08:00"))]) == []
    assert sweeps.row("2026-06-01").met_at is None
    # The next day is a day of its own (and yesterday's late is not raised again).
    assert [late.day for late in sweeps.sweep(at("2026-06-02", "07:01"))] == ["2026-06-02"]
    assert len(sweeps.alerts) == 2


def test_a_success_read_after_late_still_records_met() -> None:
    sweeps = Sweeps([utc()], known_since=at("2026-06-01"))
    sweeps.sweep(at("2026-06-01", "07:05"))
    assert sweeps.sweep(at("2026-06-01", "07:30"), [run(at("2026-06-01", "06:50"))]) == []
    row = sweeps.row("2026-06-01")
    assert (row.met_at, row.late_at) == (at("2026-06-01", "06:50"), at("2026-06-01", "07:05"))
    (state,) = deadline_status([utc()], sweeps.rows.values(), at("2026-06-01", "07:31"))
    assert state.state == "met"
    assert state.describe() == "met 06:50 (late alert 07:05)"


def test_events_read_in_a_later_sweep_than_they_happened() -> None:
    sweeps = Sweeps([utc()], known_since=at("2026-05-01"))
    sweeps.sweep(at("2026-06-02", "06:00"), [run(at("2026-06-01", "06:59"))])
    # Read the next day, before today's by: yesterday is met, nothing is late.
    assert sweeps.row("2026-06-01").met_at == at("2026-06-01", "06:59")
    assert sweeps.alerts == []
    # Read two days later: too late to count for that day.
    sweeps.sweep(at("2026-06-04", "06:00"), [run(at("2026-06-02", "06:00"))])
    assert (APP, "2026-06-02") not in sweeps.rows


def test_the_earliest_success_is_kept() -> None:
    sweeps = Sweeps([utc()], known_since=at("2026-06-01"))
    sweeps.sweep(at("2026-06-01", "06:40"), [run(at("2026-06-01", "06:30"))])
    sweeps.sweep(at("2026-06-01", "06:50"), [run(at("2026-06-01", "06:10"))])
    assert sweeps.row("2026-06-01").met_at == at("2026-06-01", "06:10")
    # An unchanged day is not written again.
    later = [run(at("2026-06-01", "06:45"))]
    now = at("2026-06-01", "06:55")
    verdict = judge([utc()], later, sweeps.rows.values(), now, known_since=at("2026-06-01"))
    assert verdict.rows == ()


def test_a_reload_ending_exactly_at_by_is_late() -> None:
    sweeps = Sweeps([utc()], known_since=at("2026-06-01"))
    by = at("2026-06-01", "07:00")
    late = sweeps.sweep(by, [run(by)])
    assert [item.day for item in late] == ["2026-06-01"]
    assert sweeps.row("2026-06-01").met_at is None
    assert sweeps.sweep(by, [run(by - timedelta(milliseconds=1))]) == []
    assert sweeps.row("2026-06-01").met_at == by - timedelta(milliseconds=1)


@pytest.mark.parametrize("outcome", ["failure", "canceled"])
def test_failed_and_canceled_reloads_do_not_meet_it(outcome: Outcome) -> None:
    sweeps = Sweeps([utc()], known_since=at("2026-06-01"))
    late = sweeps.sweep(at("2026-06-01", "07:05"), [run(at("2026-06-01", "06:00"), outcome)])
    assert [item.day for item in late] == ["2026-06-01"]


def test_reloads_of_other_apps_do_not_count() -> None:
    sweeps = Sweeps([utc()], known_since=at("2026-06-01"))
    late = sweeps.sweep(at("2026-06-01", "07:05"), [run(at("2026-06-01", "06:00"), app=OTHER)])
    assert len(late) == 1


def test_days_not_listed_are_ignored() -> None:
    sweeps = Sweeps([utc(days=frozenset({0}))])  # Mondays only
    assert sweeps.sweep(at("2026-06-06", "12:00")) == []  # Saturday; Friday not listed either
    assert sweeps.rows == {}
    weekdays = Sweeps([utc(days=WEEKDAYS)], known_since=at("2026-06-06"))
    assert weekdays.sweep(at("2026-06-08", "07:01")) == [  # Monday: Sunday is not judged
        Late(APP, "2026-06-08", at("2026-06-08", "07:00"), utc(days=WEEKDAYS))
    ]


def test_yesterday_is_judged_after_midnight() -> None:
    sweeps = Sweeps([utc(by=time(23, 58))], known_since=at("2026-06-01"))
    assert sweeps.sweep(at("2026-06-01", "23:55")) == []
    assert [late.day for late in sweeps.sweep(at("2026-06-02", "00:02"))] == ["2026-06-01"]


def test_no_late_for_a_day_that_began_before_the_database_read_events() -> None:
    # A new database's first sweep (known_since: its lost-state limit) cannot tell.
    sweeps = Sweeps([utc()], known_since=at("2026-06-01", "09:00"))
    assert sweeps.sweep(at("2026-06-01", "09:00")) == []
    assert sweeps.sweep(at("2026-06-01", "09:05"), [run(at("2026-06-01", "09:01"))]) == []
    (state,) = deadline_status([utc()], sweeps.rows.values(), at("2026-06-01", "09:06"))
    assert state.state == "overdue"
    assert [late.day for late in sweeps.sweep(at("2026-06-02", "07:01"))] == ["2026-06-02"]


def test_successes_earlier_sweeps_handled_meet_a_deadline_added_later() -> None:
    # Added at 10:00: the 06:00 reload was read (handled_events) before the deadline existed.
    earlier = [EarlierSuccess(APP, at("2026-06-01", "06:00"))]
    verdict = judge([utc()], earlier, [], at("2026-06-01", "10:00"), known_since=at("2026-06-01"))
    assert verdict.late == ()
    assert verdict.rows[0].met_at == at("2026-06-01", "06:00")


# --- DST: by is local wall time -------------------------------------------------------------


def paris(by: time = time(7)) -> Deadline:
    return Deadline(APP, by, "Europe/Paris", frozenset(range(7)), None)


def new_york(by: time = time(7)) -> Deadline:
    return Deadline(APP, by, "America/New_York", frozenset(range(7)), None)


@pytest.mark.parametrize(
    ("deadline", "day", "by_utc"),
    [
        (paris(), "2026-03-28", "06:00"),  # CET, +01:00
        (paris(), "2026-03-29", "05:00"),  # spring forward: CEST, +02:00
        (paris(), "2026-10-25", "06:00"),  # fall back: CET again
        (new_york(), "2026-03-07", "12:00"),  # EST, -05:00
        (new_york(), "2026-03-08", "11:00"),  # spring forward: EDT, -04:00
        (new_york(), "2026-10-31", "11:00"),
        (new_york(), "2026-11-01", "12:00"),  # fall back: EST again
        # 02:30 does not exist in Paris on 2026-03-29: fold=0 takes the offset before the change,
        # so it is 03:30 by the new clock.
        (paris(time(2, 30)), "2026-03-29", "01:30"),
        # 02:30 happens twice on 2026-10-25: fold=0 is the first time (still CEST).
        (paris(time(2, 30)), "2026-10-25", "00:30"),
        (new_york(time(1, 30)), "2026-11-01", "05:30"),  # first 01:30, EDT
    ],
)
def test_by_is_local_wall_time_on_dst_change_days(
    deadline: Deadline, day: str, by_utc: str
) -> None:
    by_at = at(day, by_utc)
    assert deadline.by_at(date.fromisoformat(day)) == by_at
    # From the day's start on: only that day can be late, not the one before.
    since = deadline.day_start(date.fromisoformat(day))
    before = by_at - timedelta(minutes=1)
    met = judge([deadline], [run(before)], [], before, known_since=since)
    assert [(row.day, row.met_at, row.late_at) for row in met.rows] == [(day, before, None)]
    late = judge([deadline], [run(by_at)], [], by_at, known_since=since)
    assert [(item.day, item.by_at) for item in late.late] == [(day, by_at)]


def test_the_local_day_decides_which_day_a_reload_counts_for() -> None:
    # 23:30 UTC on the 28th is 00:30 on the 29th in Paris: it meets the 29th.
    verdict = judge([paris()], [run(at("2026-03-28", "23:30"))], [], at("2026-03-28", "23:35"))
    assert [(row.day, row.met_at) for row in verdict.rows if row.met_at] == [
        ("2026-03-29", at("2026-03-28", "23:30"))
    ]
    # 03:00 UTC on the 8th is 22:00 on the 7th in New York, after that day's by: no day met.
    verdict = judge([new_york()], [run(at("2026-03-08", "03:00"))], [], at("2026-03-08", "03:05"))
    assert all(row.met_at is None for row in verdict.rows)


def test_a_late_sweep_on_the_new_york_spring_forward_day() -> None:
    sweeps = Sweeps([new_york()], known_since=at("2026-03-07", "05:00"))
    assert sweeps.sweep(at("2026-03-07", "11:30")) == []  # 06:30 EST: pending
    assert [late.by_at for late in sweeps.sweep(at("2026-03-07", "12:01"))] == [
        at("2026-03-07", "12:00")
    ]
    late = sweeps.sweep(at("2026-03-08", "11:30"), [run(at("2026-03-08", "11:10"))])  # 07:10 EDT
    assert [item.day for item in late] == ["2026-03-08"]


# --- status view ------------------------------------------------------------------------------


def test_status_today_for_each_app() -> None:
    weekday = Deadline(APP, time(7), "Europe/Paris", WEEKDAYS, "sales")
    weekend = Deadline(APP, time(10), "Europe/Paris", frozenset({5, 6}), "sales")
    monday_only = Deadline(OTHER, time(6), "UTC", frozenset({0}), None)
    deadlines = [weekday, weekend, monday_only]
    now = at("2026-06-06", "07:30")  # Saturday 09:30 in Paris
    states = deadline_status(deadlines, [], now)
    assert [(s.app_id, s.by, s.state, s.day) for s in states] == [
        (APP, "10:00", "pending", "2026-06-06"),
        (OTHER, "06:00", "not_today", "2026-06-06"),
    ]
    assert states[1].describe() == "not today"
    late = DeadlineDay(
        APP, "2026-06-06", at("2026-06-06", "08:00"), late_at=at("2026-06-06", "08:05")
    )
    (state, _) = deadline_status(deadlines, [late], at("2026-06-06", "09:00"))
    assert (state.state, state.describe()) == ("late", "late (alert 10:05)")
    assert state.as_dict() == {
        "app_id": APP,
        "label": "sales",
        "by": "10:00",
        "timezone": "Europe/Paris",
        "day": "2026-06-06",
        "state": "late",
        "by_at": "2026-06-06T08:00:00.000Z",
        "met_at": None,
        "late_at": "2026-06-06T08:05:00.000Z",
    }
    (state, _) = deadline_status(deadlines, [], at("2026-06-06", "09:00"))
    assert state.state == "overdue"


# --- the rows as stored -------------------------------------------------------------------------


def test_rows_round_trip_through_the_sweep_commit_and_the_reads() -> None:
    db = open_database(":memory:")
    store, reads = Store(db), DeadlineReads(db)
    sweeps = Sweeps([utc()], known_since=at("2026-06-01"))
    now = at("2026-06-01", "07:05")
    first = judge([utc()], [], reads.deadline_days([APP], "2026-05-30"), now, known_since=now)
    assert first.rows == ()
    sweeps.sweep(now)
    store.commit_sweep(SweepCommit({"sweep_id": "s1"}, deadline_days=records(sweeps)), now)
    later = at("2026-06-01", "07:30")
    known = reads.deadline_days(deadline_apps([utc()]), judged_since(later).date().isoformat())
    assert known == [sweeps.row("2026-06-01")]
    verdict = judge([utc()], [run(at("2026-06-01", "06:00"))], known, later, known_since=now)
    store.commit_sweep(SweepCommit({"sweep_id": "s2"}, deadline_days=verdict.records()), later)
    (stored,) = reads.recent_deadline_days()
    assert (stored.met_at, stored.late_at) == (at("2026-06-01", "06:00"), now)
    assert reads.deadline_days([OTHER], "2026-05-30") == []


def test_earlier_successes_are_read_from_handled_events() -> None:
    db = open_database(":memory:")
    handled = [
        ("e1", APP, "success", "2026-06-01T06:00:00.000Z"),
        ("e2", APP, "failure", "2026-06-01T06:10:00.000Z"),
        ("e3", OTHER, "success", "2026-06-01T06:20:00.000Z"),
        ("e4", APP, "success", "2026-05-20T06:00:00.000Z"),
    ]
    db.table("handled_events").insert_all(
        {"event_id": e, "reload_id": e, "app_id": a, "outcome": o, "event_time": t}
        for e, a, o, t in handled
    )
    found = DeadlineReads(db).successes_since([APP], judged_since(at("2026-06-01", "10:00")))
    assert found == [EarlierSuccess(APP, at("2026-06-01", "06:00"))]


def records(sweeps: Sweeps) -> list[dict[str, object]]:
    return [row.as_record() for row in sweeps.rows.values()]

"""The health verdict (SPEC section 8), pure: the recorded sweeps and ``now`` in, a verdict out.

Unhealthy when no sweep was ever recorded, when the newest successful sweep is older than the
limit (default: three intervals, at least 15 minutes), or when the last three sweeps all
failed (exit 1 or 2). A sweep that found the lock held (exit 3) counts neither way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from qlik.times import format_time
from state.metrics_reads import RECENT, SweepHistory, SweepMark

MIN_DEFAULT_MAX_AGE_MINUTES = 15.0
INTERVALS = 3


@dataclass(frozen=True)
class HealthVerdict:
    """Healthy or not, the one reason, and what it was judged on."""

    healthy: bool
    reason: str
    history: SweepHistory
    max_age_minutes: float

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 unhealthy: what a monitoring probe reads."""
        return 0 if self.healthy else 1

    def line(self) -> str:
        """The one line a probe shows: ``OK: ...`` or ``UNHEALTHY: ...``."""
        return f"{'OK' if self.healthy else 'UNHEALTHY'}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        """The object of ``health --json``."""
        newest, success = self.history.newest, self.history.last_success
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "reason": self.reason,
            "last_sweep_at": _time(newest),
            "last_success_at": _time(success),
            "last_exit_code": newest.exit_code if newest else None,
            "consecutive_failures": self.history.failures_since_success,
            "max_age_minutes": self.max_age_minutes,
        }


def default_max_age_minutes(interval_minutes: float) -> float:
    """Three intervals between sweeps, and never less than 15 minutes."""
    return max(INTERVALS * interval_minutes, MIN_DEFAULT_MAX_AGE_MINUTES)


def judge(history: SweepHistory, now: datetime, max_age_minutes: float) -> HealthVerdict:
    """The verdict on ``history`` at ``now``; the first problem found is the reason given."""
    newest, success = history.newest, history.last_success
    limit = f"limit {max_age_minutes:g} min"
    if newest is None:
        reason = "no sweep recorded yet"
    elif success is None:
        reason = f"no successful sweep ever ({limit}); {_last(newest)}"
    else:
        age_s = _age_s(success, now)
        ago = f"{_duration(age_s)} ago at {format_time(success.finished_at)}"
        if age_s > max_age_minutes * 60:
            reason = f"no successful sweep for {_duration(age_s)} ({limit}); {_last(newest)}"
        elif _failing(history.recent):
            reason = _failures(history, ago)
        else:
            after = "" if newest == success else f"; {_last(newest)}"
            reason = f"last successful sweep {ago} ({limit}){after}"
            return HealthVerdict(True, reason, history, max_age_minutes)
    return HealthVerdict(False, reason, history, max_age_minutes)


def _failures(history: SweepHistory, success_ago: str) -> str:
    codes = ", ".join(_code(mark) for mark in history.recent)
    newest = format_time(history.recent[0].finished_at)  # lock-held sweeps left out
    count = history.failures_since_success
    return (
        f"{count} sweeps in a row failed (last exits {codes}; newest at {newest}); "
        f"last successful sweep {success_ago}"
    )


def _last(mark: SweepMark) -> str:
    return f"last sweep exit {_code(mark)} at {format_time(mark.finished_at)}"


def _failing(recent: tuple[SweepMark, ...]) -> bool:
    return len(recent) == RECENT and all(mark.exit_code in (1, 2) for mark in recent)


def _age_s(mark: SweepMark, now: datetime) -> float:
    # A record a little in the future (another machine's clock) is simply fresh.
    return max(0.0, (now - mark.finished_at).total_seconds())


def _duration(seconds: float) -> str:
    """``45 s``, ``47 min``, ``5 h``, ``3 d``: whole units, rounded down."""
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 120 * 60:
        return f"{int(seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def _code(mark: SweepMark) -> str:
    return "unknown" if mark.exit_code is None else str(mark.exit_code)


def _time(mark: SweepMark | None) -> str | None:
    return format_time(mark.finished_at) if mark else None

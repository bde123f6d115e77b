"""``reload-chain health``: a monitoring probe's verdict, from the state database alone.

One line on stdout (``OK: ...``, ``UNHEALTHY: ...``, ``ERROR: ...``), or one JSON object with
``--json``, and the exit code Nagios, Zabbix, PRTG and Kubernetes read: 0 healthy, 1 unhealthy,
2 when the settings or the database cannot be read. The tenant is never asked, and a database
that does not exist is not created: it is "no sweep recorded yet".
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any, TextIO

from loguru import logger

from jobs.health import default_max_age_minutes, judge
from scheduler.runtime import Runtime
from scheduler.settings import AUDIT_RETENTION_MINUTES, SettingsError
from state.database import StateError
from state.metrics_reads import SweepHistory, sweep_history

UNREADABLE_EXIT = 2


def check_health(runtime: Runtime, args: argparse.Namespace, out: TextIO) -> int:
    """Judge the recorded sweeps at the runtime clock's now, print the verdict, return its code."""
    max_age = max_age_minutes(args.max_age_minutes, runtime.settings.interval_minutes)
    where = str(runtime.settings.database)
    try:
        db = runtime.existing_database()
        history = SweepHistory() if db is None else sweep_history(db, where)
    except StateError as error:
        # Not a verdict on the sweeps: the probe must say "cannot tell", never "unhealthy".
        logger.error("{}", error)
        _show(out, args.json, f"ERROR: {error}", _unreadable(str(error), max_age))
        return UNREADABLE_EXIT
    verdict = judge(history, runtime.clock.now(), max_age)
    _show(out, args.json, verdict.line(), verdict.as_json())
    return verdict.exit_code


def max_age_minutes(flag: float | None, interval_minutes: float) -> float:
    """``--max-age-minutes`` when given (checked), else three intervals and at least 15."""
    if flag is None:
        return default_max_age_minutes(interval_minutes)
    if not math.isfinite(flag) or not 0 < flag <= AUDIT_RETENTION_MINUTES:
        raise SettingsError(
            f"invalid --max-age-minutes {flag:g}: must be more than 0 and at most "
            f"{AUDIT_RETENTION_MINUTES} (90 days)"
        )
    return flag


def _unreadable(reason: str, max_age: float) -> dict[str, Any]:
    return {
        "status": "error",
        "reason": reason,
        "last_sweep_at": None,
        "last_success_at": None,
        "last_exit_code": None,
        "consecutive_failures": None,
        "max_age_minutes": max_age,
    }


def _show(out: TextIO, as_json: bool, line: str, payload: dict[str, Any]) -> None:
    # One line either way: probes keep the first line of what a check prints.
    out.write((json.dumps(payload) if as_json else line) + "\n")

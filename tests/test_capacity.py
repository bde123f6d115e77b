"""max_active_reloads: the starts beyond the tenant's free capacity wait, in order, as deferred."""

from __future__ import annotations

import pytest

from jobs.capacity import cap_active
from jobs.decide import Candidate, Decision


def decision(app: str, action: str = "trigger") -> Decision:
    reason = "triggered" if action == "trigger" else "tolerance"
    return Decision(Candidate(app, ()), action, reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("active", "limit", "started"),
    [(None, 3, "abcd"), (0, None, "abcd"), (0, 3, "abc"), (2, 3, "a"), (3, 3, ""), (9, 3, "")],
)
def test_only_the_free_capacity_is_started_first_named_first(
    active: int | None, limit: int | None, started: str
) -> None:
    decisions = [decision("a"), decision("s", "skip"), decision("b"), decision("c"), decision("d")]

    capped = cap_active(decisions, active, limit)

    assert [d.app_id for d in capped if d.action == "trigger"] == list(started)
    deferred = [d.app_id for d in capped if d.reason == "deferred"]
    assert deferred == [app for app in "abcd" if app not in started]
    assert capped[1] == decisions[1]  # other skips untouched

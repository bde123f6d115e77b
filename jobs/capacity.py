"""``max_active_reloads``: start only while the tenant runs fewer reloads than that.

A tenant runs a contracted number of reloads at once and queues the rest; a reload still
queued after six hours fails. Starting a whole fan-out at once can push other work past that.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # jobs.decide applies the cap; importing it here would be circular
    from jobs.decide import Decision

DEFERRED = "deferred"


def cap_active(
    decisions: list[Decision], active_reloads: int | None, max_active_reloads: int | None
) -> list[Decision]:
    """The decisions, with the starts beyond the free capacity turned into ``deferred`` skips.

    Pure. Counts this sweep's own starts as they are decided, in order: the first successors
    named keep their start. ``active_reloads`` None (not asked) or no limit: unchanged.
    """
    if max_active_reloads is None or active_reloads is None:
        return decisions
    free = max(0, max_active_reloads - active_reloads)
    capped = []
    for decision in decisions:
        if decision.action != "trigger":
            capped.append(decision)
        elif free > 0:
            free -= 1
            capped.append(decision)
        else:
            capped.append(replace(decision, action="skip", reason=DEFERRED))
    return capped

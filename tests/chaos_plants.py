"""Planted bugs: monkeypatches applied inside each forked sweep child, to prove the soak's power.

Each plant re-creates, in test code only, a bug that breaks "nothing twice, nothing lost";
product code has no switch for any of them. With a plant, the soak must report duplicated or
lost starts or alerts (``python -m tests.chaos --plant NAME``, or ``--report-plants`` for the
table).

To add one: write ``def plant(patch: Patch) -> None`` that replaces what it must through
``patch(owner, name, value)``, give it a docstring saying what it switches off, and register
it in ``PLANTS`` with the soak features that exercise it in ``PLANT_FEATURES``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

Patch = Callable[[object, str, object], None]
Plant = Callable[[Patch], None]


def post_5xx_not_started(patch: Patch) -> None:
    """A 5xx or dropped connection answering ``POST /api/v1/reloads`` counted as "certainly
    not started": the start's outcome is never ``uncertain``, so nothing is left to settle and
    the next sweep starts the successor again although the tenant had started it."""
    from jobs import trigger as module

    original = module.trigger

    def trigger(*args: Any, **kwargs: Any) -> Any:
        outcome = original(*args, **kwargs)
        return replace(outcome, uncertain=False) if outcome.uncertain else outcome

    patch(module, "trigger", trigger)


def blind_post_retry(patch: Patch) -> None:
    """A start retried on a 5xx or a dropped connection, as reads are: the tenant may have
    started the reload already, and the retry starts it again."""
    from qlik.errors import TransientError
    from qlik.transport import Sender

    original = Sender.send

    def send(self: Sender, endpoint: str, method: str, url: str, **kwargs: Any) -> Any:
        for attempt in range(3):
            try:
                return original(self, endpoint, method, url, **kwargs)
            except TransientError:
                if method == "GET":  # reads are retried inside already
                    raise
                time.sleep(0.5 * (2**attempt) * (0.5 + random.random()))
        return original(self, endpoint, method, url, **kwargs)

    patch(Sender, "send", send)


def unsettled_off(patch: Patch) -> None:
    """Switch off the ``unsettled`` guard (issue 11, item 1).

    An interrupted start the tenant cannot confirm yet (its settling check answered 503, or
    the start may still be in flight) must block its successor; this plant lets the sweep
    decide the successor again anyway, as ``jobs/reconcile.py`` failed open before. The guard
    stands in two places, both switched off: the ``unsettled`` reason in ``decide``, and the
    intent's refusal of an app with another sweep's unfinished start (``check_unfinished``).
    Caught by the ``settling`` feature.
    """
    from jobs import decide
    from state import lease

    patch(decide, "_unsettled_reason", lambda *_args: None)
    patch(lease, "check_unfinished", lambda *_args: None)


def lease_off(patch: Patch) -> None:
    """Switch off the database lease (issue 11, item 2).

    A sweep whose lease was taken over by a second sweeper must start nothing more and exit 3;
    this plant lets it go on starting and committing, and drops the claim an intent makes on
    its (source reload, successor) pair. Caught by the ``two_sweepers`` feature.
    """
    from state import lease

    patch(lease, "hold", lambda _db, fence, _at: fence)
    patch(lease, "release", lambda _db, fence, _at="": fence)
    patch(lease, "check_claims", lambda *_args: None)


def lost_state_off(patch: Patch) -> None:
    """Switch off the lost-state guard (issue 11, item 3).

    The sweeps of a new, emptied or restored database must treat a successor whose latest
    reload was created after its source ended as handled; this plant makes them start such a
    successor again. Caught by the ``lost_state`` feature.
    """
    from jobs import decide

    patch(decide, "_lost_state_reason", lambda *_args: None)


def alert_twice(patch: Patch) -> None:
    """An alert delivered is never marked ``sent`` (issue 14): the outbox row stays pending
    and every later sweep delivers it again. Caught by the ``alerts`` feature."""
    from state.store import Store

    patch(Store, "alert_sent", lambda self, alert_id, sent_at: None)


def alert_no_retry(patch: Patch) -> None:
    """An alert the receiver refused (5xx) is marked ``sent`` as if delivered (issue 14):
    nothing retries it, and it is lost. Caught by the ``alerts`` feature when the receiver
    refuses its first POSTs."""
    from datetime import UTC, datetime

    from state.store import Store

    def alert_failed(self: Store, alert_id: str, error: str) -> None:
        self.alert_sent(alert_id, datetime.now(UTC))

    patch(Store, "alert_failed", alert_failed)


PLANTS: dict[str, Plant] = {
    "post-5xx-not-started": post_5xx_not_started,
    "blind-post-retry": blind_post_retry,
    "unsettled-off": unsettled_off,
    "lease-off": lease_off,
    "lost-state-off": lost_state_off,
    "alert-twice": alert_twice,
    "alert-no-retry": alert_no_retry,
}
# The features a plant's report runs with: those that can reveal it, nothing that hides it.
PLANT_FEATURES: dict[str, tuple[str, ...]] = {
    "post-5xx-not-started": ("after_faults",),
    "blind-post-retry": ("after_faults",),
    "unsettled-off": ("after_faults", "settling"),
    "lease-off": ("two_sweepers",),
    "lost-state-off": ("lost_state",),
    "alert-twice": ("alerts",),
    "alert-no-retry": ("alerts",),
}


def apply_plant(name: str) -> None:
    """Plant the bug ``name`` in this process (a forked sweep child)."""
    PLANTS[name](setattr)


def plant_ready(name: str) -> bool:
    """Is the plant written yet? (Tried with a patch that changes nothing.)"""
    try:
        PLANTS[name](lambda owner, attribute, value: None)
    except NotImplementedError:
        return False
    return True

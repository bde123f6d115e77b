"""The time a sweep may spend, and the switch that stops it.

A ``Budget`` is shared by everything that talks to the tenant for one client: the Sender asks
it before every call, every wait (retry backoff, rate-limit tiers, the limiter) goes through
``Budget.sleep``, and the network layer watches ``stopped`` while a call is in flight.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from qlik.clock import SYSTEM_CLOCK
from qlik.errors import OutOfTimeError, StoppedError

PAST_DEADLINE = "no new call: the sweep ran past max_sweep_minutes"
STOPPING = "stopping: no new call"


class Budget:
    """A sweep's deadline (``start``) and a stop switch (``stop``); thread-safe.

    ``clock`` is monotonic seconds, injectable for tests; it times the deadline only: a wait
    in ``sleep`` is real time.
    """

    def __init__(self, clock: Callable[[], float] = SYSTEM_CLOCK.monotonic) -> None:
        self._clock = clock
        self._deadline: float | None = None
        self._stopped = False
        self._wake = threading.Event()

    def start(self, seconds: float | None) -> None:
        """A new sweep begins: it may make calls for ``seconds`` from now (None: no deadline).

        A stop stays in force: a stopped budget never starts again.
        """
        self._deadline = None if seconds is None else self._clock() + seconds

    def stop(self) -> None:
        """No new call from now on; waits end at once, calls in flight within about a second.

        Safe from a signal handler: the flag is one assignment, and the waiters are woken from
        another thread, since the interrupted thread may hold the event's lock at this instant.
        """
        self._stopped = True
        threading.Thread(target=self._wake.set, name="budget-stop", daemon=True).start()

    @property
    def stopped(self) -> bool:
        """Whether ``stop`` was called."""
        return self._stopped

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0.0 once past it), or None without a deadline."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - self._clock())

    def check(self, what: str) -> None:
        """Raise ``OutOfTimeError`` naming ``what`` when stopped or past the deadline."""
        if self._stopped:
            raise StoppedError(f"{what}: {STOPPING}")
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise OutOfTimeError(f"{what}: {PAST_DEADLINE}")

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``, unless stopped meanwhile: then raise ``OutOfTimeError``.

        A wait that would end past the deadline raises at once: no call may follow it anyway.
        """
        self.check("wait")
        remaining = self.remaining()
        if remaining is not None and remaining < seconds:
            raise OutOfTimeError(f"a wait of {seconds:.1f}s: {PAST_DEADLINE}")
        self._wake.wait(max(0.0, seconds))
        self.check("wait")

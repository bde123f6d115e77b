"""One soak run played out: sweeps under faults, the disturbances of its plan, clean sweeps.

Sweeps are numbered from 0 over the whole run: the faulty ones first, then the clean ones.
A plan says, before anything starts, which sweep each disturbance comes before, so a seed
always plays the same script (only the processes' timing varies).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from simulator.scenario import FaultRule
from simulator.server import SimulatorServer
from tests.chaos_alerts import Witness, alert_sweeps, judge_alerts, receiving, write_settings
from tests.chaos_report import RunResult
from tests.chaos_sweeps import HUNG_S, Sweeper, back_up, empty, leaked_into, restore
from tests.chaos_tenant import ChaosTenant

MAX_CLEAN = 12  # clean sweeps at most: hops, settling, lost state each need a few
READ_ATTEMPTS = 4  # a read is tried this often (3 retries) before a settling check fails
QUIET_WITHIN = timedelta(seconds=5)
STALLED_S = 0.4  # 12 sweeps span > 4 s: past the 2 s in-flight window of a 1 s deadline


@dataclass(frozen=True)
class Plan:
    """When each disturbance of a run happens, drawn up front from the run's seed."""

    faulty: int  # sweeps under faults, each SIGKILLed after its kill_after seconds
    kill_after: tuple[float, ...]
    two_sweepers_at: int | None = None  # the sweep run as two, the lock file deleted between
    two_gap_s: float = 0.0
    two_kill_after_s: float | None = None
    reveal_before: int | None = None  # events minutes late show before this sweep
    lost_state: str = ""  # "emptied" or "restored" before sweep lost_before
    lost_before: int = 0
    # From the second clean sweep on (when hops start), the next ``lost_answers`` starts lose
    # their answer after the tenant acted; with ``settling``, the sweep after that cannot check
    # them: GET /api/v1/reloads answers 503 to every attempt of their settling checks.
    lost_answers: int = 0
    lost_drop: bool = False
    settling: bool = False
    secret_suffix: str = ""
    late_check_every_sweep: bool = False
    receiver_fails: int | None = None  # alerts: the receiver refuses this many POSTs first
    answer_kill_s: float | None = None  # alert_kills: the kill this long after its first 200

    @property
    def last_action(self) -> int:
        """The sweep before which the last planned disturbance happens."""
        return max(self.reveal_before or 0, self.lost_before, self.two_sweepers_at or 0)


def make_plan(rng: random.Random, features: frozenset[str]) -> Plan:
    """A run's script; the features decide which disturbances it has."""
    faulty = rng.randint(1, 3)
    kills = [rng.uniform(0.0, 0.5) for _ in range(faulty)]
    changes: dict[str, Any] = {"late_check_every_sweep": rng.random() < 0.5}
    if "after_faults" in features:
        changes |= {"lost_answers": rng.randint(1, 3), "lost_drop": rng.random() < 0.5}
        if rng.random() < 0.5:
            # A sweep killed within 0.5 s never reaches what it does after a lost answer
            # (a retry backs off first): the first sweep, which meets them first, lives.
            kills[0] = HUNG_S
    if "two_sweepers" in features:
        at = rng.randint(0, faulty)  # faulty sweeps, or the first clean one
        killed = at < faulty and rng.random() < 0.3
        changes |= {"two_sweepers_at": at, "two_gap_s": rng.uniform(0.02, 0.1)}
        changes["two_kill_after_s"] = rng.uniform(0.05, 0.5) if killed else None
    if "late_minutes" in features:  # a late event can only be found by a late re-read
        changes |= {"reveal_before": _point(rng, faulty, 1), "late_check_every_sweep": True}
    if "lost_state" in features:
        kind = rng.choice(["emptied", "restored"])
        first = 2 if kind == "restored" else 1  # restored: backed up before sweep 1
        changes |= {"lost_state": kind, "lost_before": _point(rng, faulty, first)}
    if "settling" in features:  # each failed check costs the product's backoff, ~3.5 s
        changes |= {"settling": True, "lost_answers": rng.randint(1, 2)}
    if "secret" in features:
        changes["secret_suffix"] = rng.choice(["\n", "\r\n", "\r"])
    if "alerts" in features:  # drawn last: the draws above stay what they were
        changes["receiver_fails"] = rng.randint(0, 3)
    if "alert_kills" in features:
        changes["answer_kill_s"] = rng.uniform(0.0, 0.03)
    return Plan(faulty, tuple(kills), **changes)


def _point(rng: random.Random, faulty: int, first: int) -> int:
    """Half the time after the first clean sweep (the surest place), else under faults."""
    if rng.random() < 0.5 or first > faulty:
        return faulty + 1
    return rng.randint(first, faulty)


class Run:
    """Plays one plan against one simulated tenant and fills in the run's result."""

    def __init__(self, tenant: ChaosTenant, plan: Plan, folder: Path, plant: str | None) -> None:
        self.tenant, self.plan, self.folder, self.plant = tenant, plan, folder, plant
        self.settling_armed = False
        # Successors that name successors: once started, their end starts more (hops).
        self.parents = {app.id for app in tenant.scenario.apps if app.tags}

    def play(self, result: RunResult) -> None:
        """Sweep under faults, then clean (then for the last alerts), then read the tenant's
        reload log and the alerts received."""
        with (
            SimulatorServer(self.tenant.scenario) as sim,
            receiving(self.plan.receiver_fails, self.plan.answer_kill_s) as hook,
        ):
            self.sim, self.receiver = sim, hook
            self.sweeper = Sweeper(self._environment(), self.folder, self.plant)
            if hook is not None:
                hook.kill = self.sweeper.kill_running
            if self.plan.secret_suffix:
                result.secret_exit = self.sweeper.secret_sweep(self.plan.secret_suffix)
            for number in range(self.plan.faulty):
                self._before(number)
                result.killed_mid_sweep += self._faulty_sweep(number)
                result.faulty_sweeps += 1
            sim.app.faults.calm()
            result.exit_codes = self._clean_sweeps()
            if hook is not None:
                wait, sweep = self._wait_until_quiet, self.sweeper.sweep
                result.alert_sweeps, last = alert_sweeps(sim.tenant, hook, wait, sweep)
                seen = Witness(self.sweeper.spans, last, self.sweeper.db, self.plan.lost_state)
                judge_alerts(result, sim.tenant, hook, seen)
            self._judge(result)
        if self.plan.secret_suffix:
            result.secret_leaks = leaked_into(self.folder, self.tenant.api_key)

    def _environment(self) -> dict[str, str]:
        env = {
            "QLIK_TENANT_URL": self.sim.url,
            "QLIK_API_KEY": self.tenant.api_key,
            "RELOAD_CHAIN_DB": str(self.folder / "state.db"),
            "RELOAD_CHAIN_TOLERANCE_MINUTES": "0" if self.tenant.strict else "10",
            # The simulator answers in milliseconds: the shortest allowed deadline per exchange
            # keeps the window in which an interrupted start may still be in flight short.
            "RELOAD_CHAIN_HTTP_TIMEOUT_SECONDS": "1",
        }
        if self.plan.late_check_every_sweep:
            env["RELOAD_CHAIN_LATE_CHECK_MINUTES"] = "0"
        if self.receiver is not None:
            env["RELOAD_CHAIN_CONFIG"] = str(write_settings(self.folder, self.receiver))
        return env

    def _faulty_sweep(self, number: int) -> int:
        if number == self.plan.two_sweepers_at:
            return self.sweeper.two_at_once(self.plan.two_gap_s, self.plan.two_kill_after_s)
        return self.sweeper.sweep_or_kill(self.plan.kill_after[number])

    def _clean_sweeps(self) -> list[int]:
        """Until a sweep exits 0 having started nothing that starts more, all disturbances done."""
        codes: list[int] = []
        for number in range(self.plan.faulty, self.plan.faulty + MAX_CLEAN):
            self._wait_until_quiet()
            self._before(number)
            before, lost = self.sim.tenant.reload_log(), self._lost()
            if number == self.plan.two_sweepers_at:
                self.sweeper.two_at_once(self.plan.two_gap_s, None)
                codes.append(-3)  # two exit codes: never the last sweep
                continue
            codes.append(self.sweeper.sweep())
            started = set(self.sim.tenant.reload_log() - before)
            done = codes[-1] == 0 and not started & self.parents and self._lost() == lost
            if number >= self.plan.last_action and done:
                break
            if codes[-1] != 0 and not started:
                # Waiting on something (a start that may still be in flight): a scheduler
                # would sweep again an interval later, not at once.
                time.sleep(STALLED_S)
        return codes

    def _before(self, number: int) -> None:
        """The disturbances planned before sweep ``number``."""
        backup = self.folder / "state.db.backup"
        self._lost_answers(number)
        if number == self.plan.reveal_before:
            self.sim.tenant.reveal()
        if self.plan.lost_state == "restored" and number == 1:
            back_up(self.sweeper.db, backup)
        if self.plan.lost_state and number == self.plan.lost_before:
            if self.plan.lost_state == "emptied":
                empty(self.sweeper.db)
            else:
                restore(self.sweeper.db, backup)

    def _lost_answers(self, number: int) -> None:
        """From the second clean sweep on, starts lose their answer, then their settling check.

        Those are hop starts, named by events after the first sweep: for events the first sweep
        could read, the lost-state rule also refuses a second start and would hide a missing
        settling guard.
        """
        faults = self.sim.app.faults
        if self.plan.lost_answers and number == self.plan.faulty + 1:
            lost = FaultRule(path="/api/v1/reloads", method="POST", count=self.plan.lost_answers)
            update = {"after": True, "drop": self.plan.lost_drop, "label": "lost"}
            faults.add_rule(lost.model_copy(update=update))
        elif self.plan.settling and self._lost() and not self.settling_armed:
            self.settling_armed = True
            count = READ_ATTEMPTS * self._lost()  # reconcile checks them first, one by one
            rule = FaultRule(path="/api/v1/reloads", method="GET", count=count, label="settling")
            faults.add_rule(rule)

    def _lost(self) -> int:
        return self.sim.app.faults.injected.get("lost", 0)

    def _wait_until_quiet(self) -> None:
        """Every reload started has ended and its events show (held late events excepted)."""
        delay = (self.sim.tenant.quiet_at(QUIET_WITHIN) - self.sim.tenant.clock()).total_seconds()
        if delay > 0:
            time.sleep(delay + 0.01)

    def _judge(self, result: RunResult) -> None:
        """The oracle: the tenant's reload log against what was expected."""
        keys = {app.id: app.key for app in self.tenant.scenario.apps}
        started = self.sim.tenant.reload_log()
        expected = self.tenant.expected
        result.lost = sorted(keys[app] for app in expected - set(started))
        result.duplicated = sorted(keys[app] for app, count in started.items() if count > 1)
        result.unexpected = sorted(keys[app] for app in set(started) - expected)
        result.faults = dict(self.sim.app.faults.injected)
        result.failed_settling_checks = result.faults.pop("settling", 0) // READ_ATTEMPTS
        result.faults.pop("lost", None)  # counted under "after" too
        apps = self.tenant.scenario.apps
        result.duplicate_events = sum(app.duplicate_events - 1 for app in apps)
        result.late_events = sum(1 for app in apps if app.late_seconds)
        result.hops, result.future_events = self.tenant.hops, self.tenant.future_events
        result.late_minutes_events = self.tenant.late_minutes_events
        result.two_sweepers = self.plan.two_sweepers_at is not None
        result.lost_state = self.plan.lost_state

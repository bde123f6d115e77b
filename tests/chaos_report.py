"""What the soak reports: one result per run, the totals, and the planted-bug table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

KILL_WINDOW = "at-least-once window"  # in the note of a duplicate a kill explains


@dataclass
class RunResult:
    """One run: what was expected, what the tenant's reload log showed, what was done to it."""

    seed: int
    strict: bool
    expected: int
    features: list[str] = field(default_factory=list)
    plant: str = ""
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    faulty_sweeps: int = 0
    killed_mid_sweep: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    duplicate_events: int = 0
    late_events: int = 0
    hops: int = 0
    late_minutes_events: int = 0
    future_events: int = 0
    two_sweepers: bool = False
    lost_state: str = ""  # "", "emptied" or "restored"
    failed_settling_checks: int = 0
    secret_exit: int | None = None  # the exit code of the sweep with a CR/LF key
    secret_leaks: list[str] = field(default_factory=list)  # files that held the key
    exit_codes: list[int] = field(default_factory=list)  # of the clean sweeps
    # The ``alerts`` feature (tests/chaos_alerts.py): failed starts against deliveries.
    alerts: bool = False
    failed_starts: int = 0  # reloads reload-chain started that failed: one alert each
    alert_deliveries: int = 0  # POSTs the receiver accepted, duplicates included
    receiver_failures: int = 0  # POSTs it answered 500
    alert_sweeps: int = 0  # sweeps after the clean ones, for the last alerts
    killed_after_delivering: int = 0  # sweeps SIGKILLed after one of their deliveries
    answer_kill: bool = False  # alert_kills: a sweep was SIGKILLed right after a 200
    alerts_lost: list[str] = field(default_factory=list)  # "t3#17": app key, reload number
    alerts_duplicated: list[str] = field(default_factory=list)
    alerts_delivered_once: int = 0  # failed starts delivered exactly once
    # Still delivered more than once to a receiver that drops a repeated alert id: two outbox
    # rows for one failed reload (or a delivery without an id). A subset of alerts_duplicated.
    alerts_duplicated_after_key: list[str] = field(default_factory=list)
    alert_ids_shared: list[str] = field(default_factory=list)  # one id naming two reloads
    alert_deliveries_without_id: int = 0
    alerts_unexpected: list[str] = field(default_factory=list)  # their titles
    alert_notes: list[str] = field(default_factory=list)  # why each duplicate happened

    @property
    def secret_ok(self) -> bool:
        """No secret run, or one refused with exit 2 that showed the key nowhere."""
        return self.secret_exit in (None, 2) and not self.secret_leaks

    @property
    def alerts_ok(self) -> bool:
        """Every failed start delivered exactly once, and nothing else delivered; no alert id
        on two reloads (the raw count already fails what the key would not explain)."""
        raw = self.alerts_lost or self.alerts_duplicated or self.alerts_unexpected
        return not (raw or self.alerts_duplicated_after_key or self.alert_ids_shared)

    @property
    def ok(self) -> bool:
        """Every expected successor started exactly once, nothing else, no secret shown;
        every failed start alerted on exactly once, nothing else."""
        starts_ok = not (self.lost or self.duplicated or self.unexpected)
        # A database emptied or restored no longer knows which reloads it started: the
        # lost-state rule keeps its starts safe, but it cannot attribute their failures. Such
        # runs' alert anomalies are counted (alerts_*_after_lost_state), not failed: a known
        # limit, written in the README.
        alerts_ok = self.alerts_ok or bool(self.lost_state)
        return starts_ok and self.secret_ok and alerts_ok


def summarize(results: list[RunResult], seconds: float) -> dict[str, object]:
    """Totals for the README table."""
    faults: Counter[str] = Counter()
    for result in results:
        faults.update(result.faults)
    return {
        "runs": len(results),
        "strict_runs": sum(r.strict for r in results),
        "seconds": round(seconds, 1),
        "sweeps_under_faults": sum(r.faulty_sweeps for r in results),
        "sweeps_killed_mid_run": sum(r.killed_mid_sweep for r in results),
        "injected_5xx": faults["status"],
        "dropped_connections": faults["drop"],
        "rate_limited_429": faults["rate_limited"],
        "faults_after_acting": faults["after"],
        "failed_settling_checks": sum(r.failed_settling_checks for r in results),
        "duplicate_events": sum(r.duplicate_events for r in results),
        "late_events": sum(r.late_events for r in results),
        "late_minutes_events": sum(r.late_minutes_events for r in results),
        "future_events": sum(r.future_events for r in results),
        "hops": sum(r.hops for r in results),
        "two_sweeper_runs": sum(r.two_sweepers for r in results),
        "lost_state_runs": sum(bool(r.lost_state) for r in results),
        "secret_runs": sum(r.secret_exit is not None for r in results),
        "secret_leaks": sum(bool(r.secret_leaks) for r in results),
        "secret_not_refused": sum(r.secret_exit not in (None, 2) for r in results),
        "expected_starts": sum(r.expected for r in results),
        "lost": sum(len(r.lost) for r in results),
        "duplicated": sum(len(r.duplicated) for r in results),
        "unexpected": sum(len(r.unexpected) for r in results),
        "alert_runs": sum(r.alerts for r in results),
        "failed_starts": sum(r.failed_starts for r in results),
        "alert_deliveries": sum(r.alert_deliveries for r in results),
        "receiver_failures": sum(r.receiver_failures for r in results),
        "alert_sweeps": sum(r.alert_sweeps for r in results),
        "sweeps_killed_after_delivering": sum(r.killed_after_delivering for r in results),
        "answer_kills": sum(r.answer_kill for r in results),
        "alerts_lost": sum(len(r.alerts_lost) for r in results),
        "alert_anomalies_after_lost_state": sum(
            len(r.alerts_lost) + len(r.alerts_duplicated) for r in results if r.lost_state
        ),
        "alerts_delivered_once": sum(r.alerts_delivered_once for r in results),
        "alerts_duplicated": sum(len(r.alerts_duplicated) for r in results),
        "alerts_duplicated_after_key": sum(len(r.alerts_duplicated_after_key) for r in results),
        "alert_ids_shared": sum(len(r.alert_ids_shared) for r in results),
        "alert_deliveries_without_id": sum(r.alert_deliveries_without_id for r in results),
        "alerts_unexpected": sum(len(r.alerts_unexpected) for r in results),
        "alerts_duplicated_in_kill_window": sum(
            KILL_WINDOW in note for r in results for note in r.alert_notes
        ),
        "alert_notes": {r.seed: r.alert_notes for r in results if r.alert_notes},
        "failed_seeds": [r.seed for r in results if not r.ok],
        "failed_runs_by_feature": failures_by_feature(results),
    }


def failures_by_feature(results: list[RunResult]) -> dict[str, str]:
    """For each feature: "failed runs / runs with it" (``legacy``: runs with none)."""
    runs: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for result in results:
        for name in result.features or ["legacy"]:
            runs[name] += 1
            failed[name] += not result.ok
    return {name: f"{failed[name]}/{runs[name]}" for name in sorted(runs)}


def plant_row(
    plant: str, features: str, results: list[RunResult] | None, caught: bool | None = None
) -> str:
    """One markdown row: plant | features | runs | lost | duplicated | alerts | caught?

    ``none`` is the baseline: the same seeds and features without a planted bug. The alerts
    column: alerts lost / duplicated / unexpected.
    """
    if results is None:
        return f"| `{plant}` | {features} | - | - | - | - | not written yet |"
    lost, duplicated, *alerts = harm(results)
    shown = " / ".join(str(n) for n in alerts)
    verdict = "(baseline)" if caught is None else "**yes**" if caught else "NO"
    counts = f"{len(results)} | {lost} | {duplicated} | {shown}"
    return f"| `{plant}` | {features} | {counts} | {verdict} |"


def harm(results: list[RunResult]) -> tuple[int, int, int, int, int]:
    """Starts lost, duplicated; alerts lost, duplicated, unexpected: over ``results``."""
    return (
        sum(len(r.lost) for r in results),
        sum(len(r.duplicated) for r in results),
        sum(len(r.alerts_lost) for r in results),
        sum(len(r.alerts_duplicated) for r in results),
        sum(len(r.alerts_unexpected) for r in results),
    )


PLANT_TABLE_HEAD = (
    "| plant | features | runs | lost | duplicated | alerts lost / dup / unexp | caught? |\n"
    "|---|---|---:|---:|---:|---:|---|"
)

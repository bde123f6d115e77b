"""What the soak reports: one result per run, the totals, and the planted-bug table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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

    @property
    def secret_ok(self) -> bool:
        """No secret run, or one refused with exit 2 that showed the key nowhere."""
        return self.secret_exit in (None, 2) and not self.secret_leaks

    @property
    def ok(self) -> bool:
        """Every expected successor started exactly once, nothing else, no secret shown."""
        return not (self.lost or self.duplicated or self.unexpected) and self.secret_ok


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
    """One markdown row: plant | features | runs | lost | duplicated | caught?

    ``none`` is the baseline: the same seeds and features without a planted bug.
    """
    if results is None:
        return f"| `{plant}` | {features} | - | - | - | not written yet |"
    lost = sum(len(r.lost) for r in results)
    duplicated = sum(len(r.duplicated) for r in results)
    verdict = "(baseline)" if caught is None else "**yes**" if caught else "NO"
    return f"| `{plant}` | {features} | {len(results)} | {lost} | {duplicated} | {verdict} |"


PLANT_TABLE_HEAD = (
    "| plant | features | runs | lost | duplicated | caught? |\n|---|---|---:|---:|---:|---|"
)

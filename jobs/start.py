"""``reload-chain start``: reload chosen apps now, through the same guards as a sweep.

Apps are selected by id and by tag, de-duplicated, decided one by one with the sweep's rules
(``jobs.decide.decide_bare``: not_found, not_managed, running, tolerance) and started with the
sweep's ``trigger`` (intent row first, automatic space access, the same outcomes). There are
no source reloads, so "fresh", "cycle" and joins never apply.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loguru import logger

from jobs.capacity import cap_active
from jobs.decide import (
    Candidate,
    Decision,
    DecisionSettings,
    TenantFacts,
    decide_bare,
)
from jobs.edges import is_resource_id
from jobs.facts import FactSettings, app_facts, ask_tenant
from jobs.ledger import outcome_row
from jobs.reconcile import reconcile_intents
from jobs.report import Outcome
from jobs.sweep import SweepContext
from jobs.trigger import AUTH, act_on_decisions
from qlik.client import QlikClient
from qlik.errors import AuthenticationError
from qlik.models import Item
from state.history import SHORT_ID, clip
from state.lease import Fence
from state.store import Store

HEADERS = ("app", "name", "result", "reason", "reload")
# With a short id, the result, a reason and a whole reload id, a row fits 80 columns.
START_NAME_WIDTH = 16
RESULT_KEYS = {"triggered": "started", "skipped": "skipped", "failed": "failed"}


def invalid_ids(values: Iterable[str]) -> list[str]:
    """The values that are neither an app GUID nor a script's 24-hex id, in the given order."""
    return [value for value in values if not is_resource_id(value)]


def new_start_id(now: datetime) -> str:
    """The ledger's sweep id for one ``start``, such as ``start-20261122T101500Z-3fa9``."""
    return f"start-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Selection:
    """The apps the selectors found (in the order first named), and the selectors that missed."""

    apps: dict[str, Item]
    not_found: list[str]
    missing_ids: int = 0

    @property
    def total(self) -> int:
        """Distinct app ids selected: found ones plus ids given that the tenant does not know."""
        return len(self.apps) + self.missing_ids


def select(client: QlikClient, app_ids: Sequence[str], tags: Sequence[str]) -> Selection:
    """Look up the ids (batched) and every app or script carrying each tag; de-duplicate."""
    wanted = list(dict.fromkeys(app_id.lower() for app_id in app_ids))
    known = client.items(wanted) if wanted else {}
    apps = {app_id: known[app_id] for app_id in wanted if app_id in known}
    not_found = [app_id for app_id in wanted if app_id not in known]
    for name in dict.fromkeys(tags):
        tagged = _tagged(client, name)
        if not tagged:
            logger.warning("tag {!r}: no such tag, or no app or script carries it", name)
            not_found.append(f"tag:{name}")
        for item in tagged:
            apps.setdefault(item.resource_id.lower(), item)
    missing_ids = sum(1 for app_id in wanted if app_id not in known)
    return Selection(apps, not_found, missing_ids)


def _tagged(client: QlikClient, name: str) -> list[Item]:
    """Apps and scripts carrying the tag called ``name`` (none if there is no such tag)."""
    return [
        item
        for tag in client.tags_named(name)
        if tag.id is not None
        for item in client.items_tagged(tag.id)
    ]


def gather(
    client: QlikClient,
    selection: Selection,
    settings: FactSettings,
    now: datetime,
    unsettled: frozenset[str] = frozenset(),
) -> TenantFacts:
    """What the guards need, asked as a sweep asks it (``jobs.facts.ask_tenant``): the apps,
    their spaces' types if asked, their reloads since ``now - tolerance`` and, with
    ``max_active_reloads``, the tenant's active reloads.

    ``unsettled``: apps whose earlier start may have happened (never started again meanwhile).
    """
    apps = {app_id: app_facts(item) for app_id, item in selection.apps.items()}
    known = TenantFacts(edges={}, apps=apps, unsettled=unsettled)
    bare = [Candidate(app_id, runs=()) for app_id in selection.apps]
    return ask_tenant(client, bare, known, settings, now)


def decide_selection(
    selection: Selection,
    facts: TenantFacts,
    settings: DecisionSettings,
    now: datetime,
    force: bool = False,
) -> list[Decision]:
    """One decision per selected app, in selection order, by the sweep's rules."""
    decisions = [
        decide_bare(Candidate(app_id, runs=()), facts, settings, now, force=force)
        for app_id in selection.apps
    ]
    return cap_active(decisions, facts.active_reloads, settings.max_active_reloads)


@dataclass
class StartReport:
    """What one ``start`` did: an outcome per app found, and the selectors that found nothing."""

    start_id: str
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    total: int = 0

    @property
    def exit_code(self) -> int:
        """2 if the credentials were refused, 1 if any start failed, else 0."""
        if any(outcome.reason == AUTH for outcome in self.outcomes):
            return AuthenticationError.exit_code
        return 1 if any(outcome.decision == "failed" for outcome in self.outcomes) else 0

    def as_json(self) -> dict[str, Any]:
        """The object ``reload-chain start --json`` prints."""
        answer: dict[str, Any] = {"dry_run": self.dry_run, "started": [], "skipped": []}
        answer |= {"not_found": list(self.not_found), "failed": []}
        for outcome in self.outcomes:
            answer[RESULT_KEYS[outcome.decision]].append(self._entry(outcome))
        return answer | {"total": self.total}

    def _entry(self, outcome: Outcome) -> dict[str, Any]:
        entry = {"app_id": outcome.app_id, "name": self.names.get(outcome.app_id, "")}
        if outcome.decision == "triggered":
            return entry | {"reload_id": outcome.reload_id}
        if outcome.decision == "skipped":
            return entry | {"reason": outcome.reason}
        return entry | {"reason": outcome.reason, "detail": outcome.detail}

    def rows(self) -> list[tuple[object, ...]]:
        """Table rows (``HEADERS``): each app (a named one by its short id and clipped name,
        to fit 80 columns), then each selector that found nothing, whole."""
        rows = [self._row(outcome) for outcome in self.outcomes]
        return rows + [(missing, None, "not found", None, None) for missing in self.not_found]

    def _row(self, outcome: Outcome) -> tuple[object, ...]:
        name = self.names.get(outcome.app_id)
        app = outcome.app_id[:SHORT_ID] if name else outcome.app_id
        shown = clip(name, START_NAME_WIDTH) if name else None
        return (app, shown, _result(outcome, self.dry_run), outcome.reason, outcome.reload_id)

    def summary(self) -> str:
        """One line: how many apps were selected and what became of them."""
        counts = self.as_json()
        verb = "would start" if self.dry_run else "started"
        return (
            f"{self.total} selected: {len(counts['started'])} {verb}, "
            f"{len(counts['skipped'])} skipped, {len(counts['failed'])} failed, "
            f"{len(self.not_found)} not found"
        )


def _result(outcome: Outcome, dry_run: bool) -> str:
    if outcome.decision == "triggered":
        return "would start" if dry_run else "started"
    return outcome.decision


def run_start(
    ctx: SweepContext,
    app_ids: Sequence[str],
    tags: Sequence[str],
    now: datetime,
    *,
    dry_run: bool = False,
    force: bool = False,
) -> StartReport:
    """Select, decide, and (unless ``dry_run``) start and record every selected app.

    ``force`` sets the tolerance guard aside (``jobs.decide.decide_bare``); never
    ``max_active_reloads``.
    """
    start_id = new_start_id(now)
    fence = None if dry_run else ctx.store.fence(start_id)
    ctx.client.seed_starts(ctx.store.recent_start_ages())
    blocked = _unsettled(ctx, now, dry_run=dry_run)
    selection = select(ctx.client, app_ids, tags)
    facts = gather(ctx.client, selection, ctx.settings, now, blocked)
    decisions = decide_selection(selection, facts, ctx.settings, now, force)
    outcomes = _act(ctx, decisions, start_id, now, fence)
    names = {app_id: item.name for app_id, item in selection.apps.items()}
    report = StartReport(start_id, dry_run, outcomes, names, selection.not_found, selection.total)
    logger.info("start {}: {}", start_id, report.summary())
    return report


def _act(
    ctx: SweepContext, decisions: list[Decision], start_id: str, now: datetime, fence: Fence | None
) -> list[Outcome]:
    """Start what was decided, give the lease back and record every outcome.

    ``fence`` is None for a dry run, which starts and records nothing.
    """
    outcomes = act_on_decisions(
        ctx.client,
        ctx.store,
        decisions,
        start_id,
        now,
        dry_run=fence is None,
        auto_resolve=ctx.settings.auto_resolve_access,
        fence=fence,
    )
    if fence is not None:
        ctx.store.release_lease(fence)
        _record(ctx.store, start_id, outcomes, now)
        if ctx.after_commit is not None:
            ctx.after_commit()
    return outcomes


def _unsettled(ctx: SweepContext, now: datetime, *, dry_run: bool) -> frozenset[str]:
    """Apps whose earlier start is not known to have reached the tenant, as a sweep sees them."""
    if dry_run:
        return frozenset(intent.app_id for intent in ctx.store.unfinished_intents())
    deadline_s = ctx.settings.http_timeout_seconds
    return reconcile_intents(ctx.client, ctx.store, now, request_deadline_s=deadline_s).unsettled


def _record(store: Store, start_id: str, outcomes: list[Outcome], now: datetime) -> None:
    """Write each outcome to the ledger; uncertain starts stay intents for the next sweep."""
    for outcome in outcomes:
        store.resolve_intent(outcome_row(start_id, outcome), [], now)

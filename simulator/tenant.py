"""The simulated tenant's state: users, spaces, apps, native tasks, reloads and audit events.

All access goes through one lock, because the HTTP server answers on many threads. Reload
status is computed from the clock when asked, so nothing runs in the background: a reload
due to start (scheduled, or fired by a native task) starts when a request finds it due.
"""

from __future__ import annotations

import bisect
import itertools
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from simulator.audit import AuditLog
from simulator.reloads import ReloadListing, SimEvent, SimReload, creation_key, ordered
from simulator.scenario import AppSpec, ReloadSpec, Scenario, UserSpec
from simulator.tasks import Due, TaskBook

__all__ = ["RELOAD_ROLES", "ReloadListing", "SimTenant"]

# Roles that may reload an app in each space type (see RoleType in spaces.json).
RELOAD_ROLES: dict[str, frozenset[str]] = {
    "shared": frozenset({"producer", "codeveloper", "facilitator"}),
    "managed": frozenset({"facilitator", "publisher"}),
    "data": frozenset({"producer", "operator", "facilitator"}),
}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SimTenant:
    """A Qlik Cloud tenant in memory, built from a ``Scenario``."""

    def __init__(self, scenario: Scenario, clock: Callable[[], datetime] = _utc_now) -> None:
        self.scenario = scenario
        self.clock = clock
        self.lock = threading.RLock()
        self.apps = {app.id: app for app in scenario.apps}
        self.spaces = {space.id: space for space in scenario.spaces}
        self.users = {user.id: user for user in scenario.users}
        self.members = {space.id: dict(space.members) for space in scenario.spaces}
        self.reloads: dict[str, SimReload] = {}
        self.api_starts: list[SimReload] = []
        self._by_creation: list[SimReload] = []
        self._by_app: dict[str, list[SimReload]] = {}
        self._audit = AuditLog()
        self._tokens: dict[str, tuple[str, datetime]] = {}
        self._ids = itertools.count(1)
        self._born = clock()
        self.book = TaskBook(scenario)
        self._scheduled: list[Due] = []  # by (created, app id, task): see _due_key
        self._seed(self._born)

    # --- identity ---------------------------------------------------------------------------

    def user_for_token(self, token: str) -> UserSpec | None:
        """The user an API key or unexpired OAuth token belongs to."""
        for user in self.users.values():
            if user.api_key and secrets.compare_digest(user.api_key.encode(), token.encode()):
                return user
        with self.lock:
            user_id, expires = self._tokens.get(token, ("", self.clock()))
        return self.users.get(user_id) if expires > self.clock() else None

    def issue_token(self, client_id: str, client_secret: str) -> tuple[str, datetime] | None:
        """An OAuth access token for valid client credentials."""
        for user in self.users.values():
            if user.client_id == client_id and user.client_secret == client_secret:
                token = "sim-token-" + secrets.token_hex(16)
                expires = self.clock() + timedelta(seconds=self.scenario.token_ttl_seconds)
                with self.lock:
                    self._tokens[token] = (user.id, expires)
                return token, expires
        return None

    def can_reload(self, user: UserSpec, app: AppSpec) -> bool:
        """Personal space: only the owner. Other spaces: the owner or a reloading role."""
        if app.space is None:
            return app.owner == user.id
        space = self.spaces[app.space]
        roles = set(self.members.get(space.id, {}).get(user.id, []))
        return space.owner == user.id or bool(roles & RELOAD_ROLES[space.type])

    # --- reloads ----------------------------------------------------------------------------

    def start_reload(self, app: AppSpec, user: UserSpec) -> SimReload | None:
        """A new QUEUED reload, or None when one is already pending (the API answers 429)."""
        with self.lock:
            now = self.refresh()
            if any(r.status(now) == "QUEUED" for r in self._by_app.get(app.id, [])):
                return None
            reload = self._add_reload(app, user.id, "external", now, app.outcome == "success")
            self.api_starts.append(reload)
            return reload

    def reload_log(self) -> Counter[str]:
        """How many reloads were started through the API, per app id."""
        with self.lock:
            return Counter(reload.app_id for reload in self.api_starts)

    def reloads_newest_first(self, app_id: str | None) -> list[SimReload]:
        """Every reload (of one app, or all), newest first: for the demo and tests."""
        with self.lock:
            self.refresh()
            everything = ReloadListing(app_id, False, None, frozenset(), len(self.reloads))
            return self.reload_listing(everything)  # the lock is re-entrant

    def reload_listing(self, listing: ReloadListing) -> list[SimReload]:
        """Up to ``listing.count`` reloads it keeps, in its order, after its paging key.

        Indexed by creation time (per app too), so a page costs its own length, not the
        tenant's whole reload history: the benchmarks page through 100,000 reloads.
        """
        with self.lock:
            now = self.refresh()
            whose = listing.app_id
            rows = self._by_creation if whose is None else self._by_app.get(whose, [])
            kept = (
                reload
                for reload in ordered(rows, listing.ascending, listing.after)
                if not listing.statuses or reload.status(now) in listing.statuses
            )
            return list(itertools.islice(kept, listing.count))

    def events(
        self, start: datetime, end: datetime, after: tuple[datetime, str] | None, limit: int
    ) -> list[SimEvent]:
        """Up to ``limit`` visible events in [start, end], oldest first, after a paging key."""
        with self.lock:
            return self._audit.visible((start, end), after, limit, self.refresh())

    def reveal(self) -> int:
        """The audit pipeline catches up: every hidden event of a finished reload shows now."""
        with self.lock:
            return self._audit.reveal(self.refresh())

    def quiet_at(self, within: timedelta) -> datetime:
        """When every reload started or due within ``within`` has ended and its events show.

        Events held back for longer than that (for ``reveal``) are not waited for.
        """
        with self.lock:
            now = self.refresh()
            ends = [reload.ended for reload in self.reloads.values()]
            ends += self.book.ends(self._scheduled, now + within)
            shown = self._audit.last_due(now + within)
            return max([now, *ends, *([shown] if shown else [])])

    def refresh(self) -> datetime:
        """Start the reloads whose time has come (scheduled, or fired by native tasks, in time
        order: a run's end fires the tasks after it); return the current time."""
        now = self.clock()
        while self._scheduled and self._scheduled[0].created <= now:
            due = self._scheduled.pop(0)
            app = self.apps[due.app_id]
            starter = self._starter(due.task, app)
            self._add_reload(app, starter, due.kind, due.created, due.succeeds, task=due.task)
        return now

    def _starter(self, task_key: str, app: AppSpec) -> str:
        """Who starts a reload by itself: the task's owner, else the app's."""
        return self.book.tasks[task_key].owner if task_key else app.owner

    def _seed(self, now: datetime) -> None:
        scheduled = []
        # The first app with each key, as a linear search would find it: seeding tens of
        # thousands of reloads (the benchmarks) must not scan every app per reload.
        by_key: dict[str, AppSpec] = {}
        for candidate in self.apps.values():
            by_key.setdefault(candidate.key, candidate)
        for spec in self.scenario.reloads:
            app = by_key[spec.app]
            succeeds = (spec.outcome or app.outcome) == "success"
            task, starter = spec.task or "", self._starter(spec.task or "", app)
            if spec.ended_minutes_ago is not None:
                run = timedelta(seconds=app.queue_seconds + app.duration_seconds)
                created = now - timedelta(minutes=spec.ended_minutes_ago) - run
                self._add_reload(app, starter, spec.type, created, succeeds, spec=spec, task=task)
            else:
                created = now + timedelta(seconds=spec.start_in_seconds or 0)
                scheduled.append(Due(created, app.id, task, spec.type, succeeds))
        self._scheduled = sorted([*self._scheduled, *scheduled], key=_due_key)

    def _add_reload(
        self,
        app: AppSpec,
        user_id: str,
        kind: str,
        created: datetime,
        succeeds: bool,
        *,
        spec: ReloadSpec | None = None,
        task: str = "",
    ) -> SimReload:
        reload = SimReload(
            id=f"{next(self._ids):024x}",
            app_id=app.id,
            user_id=user_id,
            tenant_id=self.scenario.tenant_id,
            type=kind,
            created=created,
            queue_seconds=app.queue_seconds,
            duration_seconds=app.duration_seconds,
            succeeds=succeeds,
        )
        self.reloads[reload.id] = reload
        bisect.insort(self._by_creation, reload, key=creation_key)
        bisect.insort(self._by_app.setdefault(app.id, []), reload, key=creation_key)
        visible = reload.ended + timedelta(seconds=app.late_seconds)
        if spec is not None and spec.visible_in_seconds is not None:
            visible = max(reload.ended, self._born + timedelta(seconds=spec.visible_in_seconds))
        stamped = spec.event_time if spec is not None else None
        for copy in range(app.duplicate_events):
            event_id = f"{reload.id}-{copy + 1}"
            self._audit.add(SimEvent(event_id, reload, app.space, app.owner, visible, stamped))
        for due in self.book.record(task, reload) if task else []:
            bisect.insort(self._scheduled, due, key=_due_key)
        return reload


def _due_key(due: Due) -> tuple[datetime, str, str]:
    return (due.created, due.app_id, due.task)

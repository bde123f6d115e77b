"""Scenarios: the data files (TOML or JSON) that describe a simulated tenant.

Apps and scripts name their successors by key (``next = ["transform"]``); the loader turns
those into ``next-<id>`` tags exactly as an administrator would write them in Qlik Cloud.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
import uuid
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from qlik.errors import ReloadChainError
from simulator.task_spec import TaskSpec, resolve_tasks, run_type

SpaceType = Literal["shared", "managed", "data"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserSpec(_Spec):
    id: str
    name: str
    api_key: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tenant_admin: bool = True
    may_list_tasks: bool = True


class SpaceSpec(_Spec):
    id: str
    name: str
    type: SpaceType
    owner: str = "admin"
    members: dict[str, list[str]] = Field(default_factory=dict)


class AppSpec(_Spec):
    """An app or script: where it lives, its tags, and how its reloads behave."""

    key: str
    name: str = ""
    id: str = ""
    resource_type: Literal["app", "script"] = "app"
    space: str | None = None
    owner: str = "admin"
    tags: list[str] = Field(default_factory=list)
    next: list[str] = Field(default_factory=list)
    next_onfail: list[str] = Field(default_factory=list)
    queue_seconds: float = Field(0.2, ge=0)
    duration_seconds: float = Field(2.0, ge=0)
    outcome: Literal["success", "failure"] = "success"
    duplicate_events: int = Field(1, ge=1)
    late_seconds: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _defaults(self) -> AppSpec:
        self.name = self.name or self.key
        self.id = self.id or stable_id(self.key, self.resource_type)
        return self


class ReloadSpec(_Spec):
    """A reload that is not started by reload-chain: scheduled now, or finished in the past.

    A past reload's audit event may misbehave: ``visible_in_seconds`` shows it that long after
    the tenant starts, however long ago the reload ended (an audit pipeline minutes late), and
    ``event_time`` stamps it with another eventTime (a tenant clock gone wrong, e.g. 2099).
    With ``task`` (a task's key) it is a run of that native task, and its type follows.
    """

    app: str
    task: str | None = None
    start_in_seconds: float | None = None
    ended_minutes_ago: float | None = None
    outcome: Literal["success", "failure"] | None = None
    type: str = "chronos"
    visible_in_seconds: float | None = Field(None, ge=0)
    event_time: AwareDatetime | None = None

    @model_validator(mode="after")
    def _event_quirks_need_a_past_reload(self) -> ReloadSpec:
        quirky = self.visible_in_seconds is not None or self.event_time is not None
        if quirky and self.ended_minutes_ago is None:
            raise ValueError("visible_in_seconds and event_time need ended_minutes_ago")
        return self


class FaultRule(_Spec):
    """Answer the next ``count`` matching requests with ``status`` (or drop the connection).

    With ``after``, the tenant handles the request first (a POST really starts its reload) and
    only then is the answer lost: the connection dropped, or ``status`` sent in its place.
    A ``label`` counts the rule's faults under that name too (``Faults.injected``).
    """

    path: str
    method: str | None = None
    status: int = 503
    count: int = 1
    drop: bool = False
    retry_after: int | None = None
    after: bool = False
    label: str = ""


class FaultSpec(_Spec):
    """Latency, rate limits, fault rules and seeded random faults.

    ``after_share`` of the random faults strike after the tenant handled the request.
    """

    latency_ms: float = 0.0
    error_rate: float = Field(0.0, ge=0, le=1)
    drop_rate: float = Field(0.0, ge=0, le=1)
    after_share: float = Field(0.0, ge=0, le=1)
    seed: int = 0
    rate_window_seconds: float = Field(60.0, gt=0)
    tier1_limit: int = 1000
    audits_limit: int = 1000
    tier2_limit: int = 100
    reload_start_limit: int = 50
    rules: list[FaultRule] = Field(default_factory=list)


class Scenario(_Spec):
    name: str = "scenario"
    description: str = ""
    tenant_id: str = "sim-tenant-0001"
    token_ttl_seconds: float = 3600.0
    users: list[UserSpec] = Field(
        default_factory=lambda: [UserSpec(id="admin", name="Sim Admin", api_key="sim-api-key")]
    )
    spaces: list[SpaceSpec] = Field(default_factory=list)
    apps: list[AppSpec] = Field(default_factory=list)
    reloads: list[ReloadSpec] = Field(default_factory=list)
    tasks: list[TaskSpec] = Field(default_factory=list)
    faults: FaultSpec = Field(default_factory=FaultSpec)

    @model_validator(mode="after")
    def _resolve_chain_tags(self) -> Scenario:
        ids = {app.key: app.id for app in self.apps}
        for app in self.apps:
            for key in [*app.next, *app.next_onfail]:
                if key not in ids:
                    raise ValueError(f"app {app.key!r} names unknown app {key!r}")
            app.tags += [f"next-{ids[key]}" for key in app.next]
            app.tags += [f"next-onfail-{ids[key]}" for key in app.next_onfail]
            app.next, app.next_onfail = [], []
        spaces = {space.id for space in self.spaces}
        for app in self.apps:
            if app.space is not None and app.space not in spaces:
                raise ValueError(f"app {app.key!r} is in unknown space {app.space!r}")
        for reload in self.reloads:
            if reload.app not in ids:
                raise ValueError(f"reload names unknown app {reload.app!r}")
        self._resolve_tasks()
        return self

    def _resolve_tasks(self) -> None:
        """Check the tasks, and give each reload that is a task run its type."""
        tasks = resolve_tasks(self.tasks, {app.key: app.name for app in self.apps})
        for reload in self.reloads:
            if reload.task is None:
                continue
            scheduled = reload.ended_minutes_ago is None
            kind = run_type(tasks, reload.task, reload.app, scheduled)
            if "type" in reload.model_fields_set and reload.type != kind:
                raise ValueError(f"a run of task {reload.task!r} has type {kind!r}")
            reload.type = kind

    def app(self, key: str) -> AppSpec:
        """The app with this key."""
        return next(app for app in self.apps if app.key == key)

    @property
    def api_key(self) -> str:
        """The first user's API key (what the demo connects with)."""
        return next(user.api_key for user in self.users if user.api_key)


def stable_id(key: str, resource_type: str) -> str:
    """A GUID for an app, a 24-hex id for a script, the same for the same key every time."""
    if resource_type == "script":
        return hashlib.sha1(key.encode()).hexdigest()[:24]
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"reload-chain-sim/{key}"))


class ScenarioError(ReloadChainError, ValueError):
    """A scenario file is unreadable or invalid; the message names the file and field."""

    exit_code = 2


def load_scenario(path: Path) -> Scenario:
    """Read a scenario from a ``.toml`` or ``.json`` file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        data: dict[str, Any] = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return Scenario.model_validate(data)
    except (OSError, ValueError) as error:
        raise ScenarioError(f"scenario {path}: {_describe(error)}") from None


def builtin_scenario(name: str = "finance") -> Scenario:
    """A scenario shipped with the package (``simulator/scenarios/<name>.toml``)."""
    source = resources.files("simulator") / "scenarios" / f"{name}.toml"
    return Scenario.model_validate(tomllib.loads(source.read_text(encoding="utf-8")))


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        return f"{where}: {str(first['msg']).removeprefix('Value error, ')}"
    return str(error)

"""The simulated tenant's request pipeline: route, fault, authenticate, rate-limit, answer.

``SimulatorApp.handle`` knows nothing about sockets; ``simulator.server`` feeds it requests.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from loguru import logger

from simulator import actions, routes, task_routes, task_shapes
from simulator.calls import Answer, BadRequest, Call, refused
from simulator.faults import Fault, Faults, RateLimiter
from simulator.routes import Route
from simulator.tenant import SimTenant

ROUTES = (
    Route("GET", r"/api/v1/audits", "audits", routes.audits),
    Route("GET", r"/api/v1/items", "tier1", routes.items),
    Route("GET", r"/api/v1/collections", "tier1", routes.collections),
    Route("GET", r"/api/v1/apps/(?P<appId>[^/]+)", "tier1", routes.app),
    Route("GET", r"/api/v1/users/me", "tier1", routes.users_me),
    Route("GET", r"/api/v1/users/(?P<userId>[^/]+)", "tier1", routes.user),
    Route("GET", r"/api/v1/reloads", "tier1", actions.list_reloads),
    Route("POST", r"/api/v1/reloads", "reload_start", actions.start_reload),
    Route("GET", r"/api/v1/reloads/(?P<reloadId>[^/]+)", "tier1", actions.get_reload),
    Route("GET", r"/api/v1/spaces/(?P<spaceId>[^/]+)", "tier1", actions.get_space),
    Route(
        "GET", r"/api/v1/spaces/(?P<spaceId>[^/]+)/assignments", "tier1", actions.list_assignments
    ),
    Route(
        "POST", r"/api/v1/spaces/(?P<spaceId>[^/]+)/assignments", "tier2", actions.add_assignment
    ),
    Route("POST", r"/oauth/token", "tier2", actions.oauth_token, needs_auth=False),
    Route("GET", r"/api/scheduling/tasks", "tier1", task_routes.list_tasks),
    Route("GET", r"/api/scheduling/tasks/(?P<taskId>[^/]+)", "tier1", task_routes.get_task),
)
SCHEDULING = "/api/scheduling/"


@dataclass(frozen=True)
class Reply:
    """What the server writes back; ``drop`` means close the connection without answering."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    drop: bool = False


class SimulatorApp:
    """Answers API calls for one simulated tenant."""

    def __init__(self, tenant: SimTenant) -> None:
        self.tenant = tenant
        spec = tenant.scenario.faults
        self.faults = Faults(spec)
        limits = {
            "tier1": spec.tier1_limit,
            "audits": spec.audits_limit,
            "tier2": spec.tier2_limit,
            "reload_start": spec.reload_start_limit,
        }
        self.rate_limiter = RateLimiter(limits, spec.rate_window_seconds)
        self.base_url = ""

    def handle(self, method: str, target: str, authorization: str, body: bytes) -> Reply:
        """One request in, one reply out."""
        if self.faults.latency_s():
            time.sleep(self.faults.latency_s())
        parts = urlsplit(target)
        route, params = self._route(method, parts.path)
        if route is None:
            missing = refused(404, "HTTP-404", f"no such endpoint: {method} {parts.path}")
            return _reply(missing, parts.path)
        fault = self.faults.pick(method, parts.path)
        if fault is not None and not fault.after:
            return _fault_reply(fault, parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        call = Call(self.tenant, None, method, parts.path, query, body, self.base_url, params)
        reply = _reply(self._authorized(route, call, authorization), parts.path)
        # A fault "after": the tenant acted (a reload may have started), then the answer is lost.
        return reply if fault is None else _fault_reply(fault, parts.path)

    def _authorized(self, route: Route, call: Call, authorization: str) -> Answer:
        if route.needs_auth:
            token = (
                authorization.removeprefix("Bearer ").strip()
                if authorization.startswith("Bearer ")
                else ""
            )
            call.user = self.tenant.user_for_token(token) if token else None
            if call.user is None:
                return refused(401, "HTTP-401", "Unauthorized", "missing or invalid bearer token")
        wait = self.rate_limiter.retry_after(call.user.id if call.user else "anonymous", route.tier)
        if wait is not None:
            self.faults.injected["rate_limited"] += 1
            answer = refused(429, "HTTP-429", f"rate limit of {route.tier} exceeded")
            answer.headers["Retry-After"] = str(wait)
            return answer
        try:
            return route.handler(call)
        except BadRequest as error:
            return refused(400, "HTTP-400", "Bad request", str(error))

    def _route(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in ROUTES:
            match = re.fullmatch(route.pattern, path)
            if match and route.method == method:
                return route, match.groupdict()
        return None, {}


def _reply(answer: Answer, path: str) -> Reply:
    """The answer as bytes; the scheduling API's errors in its own shape (integer codes)."""
    if answer.status >= 400 and path.startswith(SCHEDULING):
        answer.body = task_shapes.errors(answer.status, answer.body, path)
    headers = dict(answer.headers)
    if answer.status == 301:
        body = str(answer.body).encode()
        headers["Content-Type"] = "text/html"
    else:
        body = json.dumps(answer.body).encode()
        headers["Content-Type"] = "application/json"
    return Reply(answer.status, tuple(headers.items()), body)


def _fault_reply(fault: Fault, path: str) -> Reply:
    if fault.drop:
        logger.debug("simulator: dropping the connection")
        return Reply(drop=True)
    answer = refused(fault.status, f"HTTP-{fault.status}", "injected fault")
    if fault.retry_after is not None:
        answer.headers["Retry-After"] = str(fault.retry_after)
    return _reply(answer, path)

"""Alerts end to end: raised by a sweep, delivered for real after its commit (a local HTTP
receiver for ``json://``, aiosmtpd for ``mailto://``), retried, expired; failing sweeps recorded.
Nothing of Apprise is mocked; the tenant is the respx ``FakeTenant``."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import respx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from jobs.alerts import KINDS, Alerting
from jobs.sweep import SweepContext, run_sweep
from qlik.client import QlikClient
from qlik.errors import AuthenticationError, ReloadChainError, TransientError
from scheduler.alert_config import AlertRoute, destination_of
from scheduler.alert_send import ALERT_ID_HEADER
from scheduler.alerting import Notifier, as_message
from scheduler.runtime import Runtime
from scheduler.settings import Settings
from state.database import StateError
from state.lease import LeaseLostError
from state.store import Store
from tests.clocks import ManualClock
from tests.conftest import LogCapture
from tests.fake_tenant import TENANT, FakeTenant
from tests.sweeping import NO_SLEEP, sweep_context

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PASSWORD = "s3cret-PW+42/x"
HEADER_SECRET = "hdr-T0KEN-98765"
SPELLINGS = (PASSWORD, quote(PASSWORD, safe=""), quote(PASSWORD, safe="@:/"))


@dataclass
class Receiver:
    """An HTTP server on loopback: records each POST, answers the next of ``answers``."""

    port: int = 0
    answers: list[int] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # each POST's

    @property
    def alert_ids(self) -> list[str | None]:
        """Each POST's ``X-Reload-Chain-Alert-Id`` header (None when it had none)."""
        return [headers.get(ALERT_ID_HEADER) for headers in self.headers]

    def url(self, password: str = PASSWORD) -> str:
        return f"json://hook:{quote(password, safe='')}@127.0.0.1:{self.port}/alerts"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.posts.append(json.loads(body))
            state.headers.append(dict(self.headers))
            self.send_response(state.answers.pop(0) if state.answers else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@dataclass
class Mailbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        return AuthResult(success=data.password.decode() == PASSWORD, auth_data=data)

    def url(self) -> str:
        return (
            f"mailto://alerts:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}"
            "?from=reload-chain@example.com&to=bi-team@example.com&mode=insecure"
        )


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox(port)
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=box.authenticate, auth_require_tls=False
    )
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def routed() -> Iterator[tuple[FakeTenant, respx.MockRouter]]:
    """The fake tenant, and its respx router (to take its network down)."""
    fake = FakeTenant(now=NOW)
    with respx.mock(base_url=fake.base_url, assert_all_called=False) as router:
        fake.install(router)
        yield fake, router


def route(*urls: str, repeat_minutes: int = 60) -> AlertRoute:
    return AlertRoute(urls, frozenset(KINDS), repeat_minutes)


@contextmanager
def runtime_context(*routes: AlertRoute) -> Iterator[tuple[SweepContext, ManualClock]]:
    """A sweep's context as ``reload-chain sweep`` builds it, with these routes."""
    settings = Settings(tenant_url=TENANT, api_key="key-1234", database=":memory:")
    clock = ManualClock(NOW)
    with Runtime(settings, clock=clock, alerts=routes) as runtime:
        yield runtime.sweep_context(runtime.database(in_memory=True)), clock


@contextmanager
def wired_context(*routes: AlertRoute) -> Iterator[tuple[SweepContext, ManualClock]]:
    """The same wiring on a client whose retries do not wait (for a tenant that is down)."""
    settings = Settings(tenant_url=TENANT, api_key="key-1234", database=":memory:")
    clock = ManualClock(NOW)
    with sweep_context(settings, sender_options=NO_SLEEP) as ctx:
        notifier = Notifier(routes, ctx.store, clock)
        yield (
            replace(ctx, alerting=Alerting(routes, TENANT), after_commit=notifier.deliver_pending),
            clock,
        )


def chain(tenant: FakeTenant) -> tuple[str, str]:
    """Finance Extract -> Accounts Payable; the root's reload ended 5 minutes ago."""
    target = tenant.add_app(2)
    root = tenant.add_app(1, tags=[f"next-{target}"])
    tenant.apps[root].name, tenant.apps[target].name = "Finance Extract", "Accounts Payable"
    tenant.finish(root, at=tenant.now - timedelta(minutes=5))
    return root, target


def fail_started(tenant: FakeTenant, app: str) -> str:
    """The reload this program started for ``app`` fails; returns its id."""
    row = next(r for r in reversed(tenant.reloads) if r["appId"] == app)
    row["status"] = "FAILED"
    tenant.events.append(tenant.event(app, row["id"], "error", tenant.now - timedelta(minutes=1)))
    return str(row["id"])


def alerts(ctx: SweepContext) -> list[dict[str, Any]]:
    return list(ctx.store.db.table("alerts").rows_where(order_by="raised_at"))


def exit_codes(ctx: SweepContext) -> list[int]:
    return [row["exit_code"] for row in ctx.store.db.table("sweeps").rows_where(order_by="rowid")]


def sweep_code(ctx: SweepContext, now: datetime) -> int:
    """A sweep's exit code, whether it returned or raised."""
    try:
        return run_sweep(ctx, now).exit_code
    except ReloadChainError as error:
        return error.exit_code


def test_a_failed_reload_we_started_is_delivered_once_naming_app_root_reason_and_link(
    routed: tuple[FakeTenant, respx.MockRouter], receiver: Receiver, logged: list[str]
) -> None:
    tenant, _ = routed
    root, target = chain(tenant)
    with runtime_context(route(receiver.url())) as (ctx, _):
        run_sweep(ctx, tenant.now)
        assert receiver.posts == []
        reload_id = fail_started(tenant, target)
        report = run_sweep(ctx, tenant.now)
        run_sweep(ctx, tenant.now)

        assert report.exit_code == 0
        (row,) = alerts(ctx)
        (post,) = receiver.posts
        assert post["title"] == "reload-chain: Reload failed: Accounts Payable"
        assert post["message"].splitlines() == [
            "Reload failed.",
            f"App: Accounts Payable ({target})",
            f"Chain root: Finance Extract ({root})",
            f"Reason: reload {reload_id}, started by reload-chain, ended in failure at "
            "2026-11-22T09:59:00.000Z",
            f"Open the app: {TENANT}/sense/app/{target}",
            f"Alert id: {row['alert_id']}",
        ]
        assert receiver.alert_ids == [row["alert_id"]]
        assert (row["state"], row["attempts"], row["sent_at"]) == (
            "sent",
            1,
            "2026-11-22T10:00:00.000Z",
        )
        assert any("alert sent to json://hook:****@127.0.0.1" in line for line in logged)


def test_an_email_alert_through_a_local_smtp_server(
    routed: tuple[FakeTenant, respx.MockRouter], mailbox: Mailbox
) -> None:
    tenant, _ = routed
    root, target = chain(tenant)
    with runtime_context(route(mailbox.url())) as (ctx, _):
        run_sweep(ctx, tenant.now)
        fail_started(tenant, target)
        run_sweep(ctx, tenant.now)
        (row,) = alerts(ctx)

    (mail,) = mailbox.messages
    assert mail["Subject"] == "reload-chain: Reload failed: Accounts Payable"
    body = mail.get_content()
    for expected in ("Accounts Payable", target, "Finance Extract", root, "ended in failure"):
        assert expected in body
    assert body.rstrip().splitlines()[-1] == f"Alert id: {row['alert_id']}"
    assert mail[ALERT_ID_HEADER] is None  # e-mail has the id in its body only


def test_a_receiver_failing_then_recovering_gets_the_alert_exactly_once(
    routed: tuple[FakeTenant, respx.MockRouter], receiver: Receiver, logged: list[str]
) -> None:
    tenant, _ = routed
    _, target = chain(tenant)
    receiver.answers = [500]
    with runtime_context(route(receiver.url())) as (ctx, clock):
        run_sweep(ctx, tenant.now)
        fail_started(tenant, target)
        assert run_sweep(ctx, tenant.now).exit_code == 0  # delivery never changes it

        (row,) = alerts(ctx)
        assert (row["state"], row["attempts"]) == ("pending", 1)
        assert "error=500" in row["last_error"]
        assert any(line.startswith("WARNING alert not delivered") for line in logged)

        clock.advance(60)
        run_sweep(ctx, tenant.now)
        run_sweep(ctx, tenant.now)

        assert len(receiver.posts) == 2  # the failed attempt, then the one delivery
        assert receiver.posts[0] == receiver.posts[1]
        (row,) = alerts(ctx)
        assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 2, None)
        # The retry is the same alert: the same id, in the header and the body.
        assert receiver.alert_ids == [row["alert_id"]] * 2
        assert receiver.posts[1]["message"].endswith(f"\nAlert id: {row['alert_id']}")


def test_an_alert_not_delivered_within_24_hours_expires_unsent(
    routed: tuple[FakeTenant, respx.MockRouter], receiver: Receiver, logged: list[str]
) -> None:
    tenant, _ = routed
    _, target = chain(tenant)
    receiver.answers = [500]
    with runtime_context(route(receiver.url())) as (ctx, clock):
        run_sweep(ctx, tenant.now)
        fail_started(tenant, target)
        run_sweep(ctx, tenant.now)
        clock.advance(24 * 3600)
        run_sweep(ctx, tenant.now)

        assert len(receiver.posts) == 1  # only the failed attempt
        (row,) = alerts(ctx)
        assert row["state"] == "expired"
        (line,) = [line for line in logged if "expired" in line]
        assert line.startswith("WARNING 1 alerts expired undelivered: 1 raised over 24 hours ago")


def test_a_route_removed_from_the_settings_expires_its_pending_alerts(
    routed: tuple[FakeTenant, respx.MockRouter], receiver: Receiver, logged: list[str]
) -> None:
    tenant, _ = routed
    _, target = chain(tenant)
    receiver.answers = [500]
    with runtime_context(route(receiver.url())) as (ctx, clock):
        run_sweep(ctx, tenant.now)
        fail_started(tenant, target)
        run_sweep(ctx, tenant.now)
        Notifier((), ctx.store, clock).deliver_pending()

        assert [row["state"] for row in alerts(ctx)] == ["expired"]
        assert len(receiver.posts) == 1
        assert any("1 for a URL no longer in [[alert]]" in line for line in logged)


def test_no_url_password_in_any_log_or_the_database(
    routed: tuple[FakeTenant, respx.MockRouter],
    receiver: Receiver,
    mailbox: Mailbox,
    log_capture: LogCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(1)
    lines = log_capture("{level} {name} {message}")
    tenant, _ = routed
    _, target = chain(tenant)
    receiver.answers = [500]
    with runtime_context(route(receiver.url(), mailbox.url())) as (ctx, _):
        run_sweep(ctx, tenant.now)
        fail_started(tenant, target)
        run_sweep(ctx, tenant.now)
        run_sweep(ctx, tenant.now)
        dump = "\n".join(ctx.store.db.conn.iterdump())

    assert len(mailbox.messages) == 1
    assert len(receiver.posts) == 2
    assert "'sent'" in dump
    stdlib = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    everything = "\n".join([*lines, *stdlib, dump])
    assert all(form not in everything for form in SPELLINGS)


def test_failing_sweeps_are_recorded_and_the_third_raises_one_sweep_failing(
    routed: tuple[FakeTenant, respx.MockRouter], receiver: Receiver
) -> None:
    tenant, router = routed
    with wired_context(route(receiver.url(), repeat_minutes=0)) as (ctx, _):
        assert sweep_code(ctx, tenant.now) == 0
        tenant.unauthorized = True
        assert sweep_code(ctx, tenant.now + timedelta(minutes=1)) == 2
        tenant.unauthorized = False
        router.get("/api/v1/audits").mock(side_effect=httpx.ConnectError("network down"))
        assert sweep_code(ctx, tenant.now + timedelta(minutes=2)) == 1
        assert alerts(ctx) == []
        tenant.install(router)  # the network is back, the credentials still refused
        tenant.unauthorized = True
        assert sweep_code(ctx, tenant.now + timedelta(minutes=3)) == 2
        assert sweep_code(ctx, tenant.now + timedelta(minutes=4)) == 2

        assert exit_codes(ctx) == [0, 2, 1, 2, 2]
        (row,) = alerts(ctx)
        assert (row["kind"], row["app_id"], row["state"]) == ("sweep_failing", "", "sent")
        (post,) = receiver.posts
        assert post["title"] == "reload-chain: Sweeps are failing"
        assert "Reason: the last 3 sweeps ended with exit 2, 1, 2 (newest first)" in post["message"]
        assert "401" in post["message"]

        tenant.unauthorized = False
        assert run_sweep(ctx, tenant.now + timedelta(minutes=5)).exit_code == 0
        assert exit_codes(ctx)[-1] == 0


def test_an_aborted_sweeps_record_has_its_window_calls_and_code(
    routed: tuple[FakeTenant, respx.MockRouter],
) -> None:
    tenant, _ = routed
    tenant.unauthorized = True
    with wired_context() as (ctx, _):
        with pytest.raises(AuthenticationError):
            run_sweep(ctx, tenant.now)
        (record,) = ctx.store.db.table("sweeps").rows
    assert record["exit_code"] == 2
    assert record["window_to"] == "2026-11-22T10:00:00.000Z"
    assert json.loads(record["api_calls"]) == {"GET /api/v1/audits": 1}
    assert (record["dry_run"], record["events_read"]) == (0, 0)


def test_a_sweep_that_raises_a_retryable_error_is_recorded_with_exit_1(
    routed: tuple[FakeTenant, respx.MockRouter], monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, _ = routed

    def down(*args: Any, **kwargs: Any) -> None:
        raise TransientError("network down: connection refused")

    monkeypatch.setattr(QlikClient, "audit_event_pages", down)
    with wired_context() as (ctx, _):
        with pytest.raises(TransientError):
            run_sweep(ctx, tenant.now)
        assert exit_codes(ctx) == [1]


def test_a_dry_run_that_aborts_is_not_recorded(
    routed: tuple[FakeTenant, respx.MockRouter],
) -> None:
    tenant, _ = routed
    tenant.unauthorized = True
    with wired_context() as (ctx, _):
        with pytest.raises(AuthenticationError):
            run_sweep(ctx, tenant.now, dry_run=True)
        assert exit_codes(ctx) == []


@pytest.mark.parametrize("error", [StateError("disk I/O error"), LeaseLostError("taken over")])
def test_a_sweep_ended_by_its_database_or_a_lost_lease_is_not_recorded(
    routed: tuple[FakeTenant, respx.MockRouter],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    error: StateError,
) -> None:
    tenant, _ = routed

    def broken(*args: Any, **kwargs: Any) -> None:
        raise error

    with wired_context(route(receiver.url())) as (ctx, _):
        monkeypatch.setattr(Store, "commit_sweep", broken)
        with pytest.raises(StateError):
            run_sweep(ctx, tenant.now)
        assert exit_codes(ctx) == []
        assert receiver.posts == []


def test_delivery_never_raises(receiver: Receiver, logged: list[str]) -> None:
    with wired_context(route(receiver.url())) as (ctx, clock):
        row = {"alert_id": "a1", "destination": destination_of(receiver.url()), "kind": "late"}
        ctx.store.db.table("alerts").insert(
            row | {"state": "pending", "raised_at": "2026-11-22T10:00:00.000Z", "message": "{"}
        )
        Notifier((route(receiver.url()),), ctx.store, clock).deliver_pending()
    assert receiver.posts == []
    assert any(line.startswith("WARNING alert delivery stopped") for line in logged)


def test_a_webhooks_own_headers_are_kept_beside_the_alert_id_and_stay_secret(
    routed: tuple[FakeTenant, respx.MockRouter],
    receiver: Receiver,
    log_capture: LogCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(1)
    lines = log_capture("{level} {name} {message}")
    tenant, _ = routed
    _, target = chain(tenant)
    url = f"{receiver.url()}?+X-Other=kept&+X-Api-Key={HEADER_SECRET}"
    with runtime_context(route(url)) as (ctx, _):
        run_sweep(ctx, tenant.now)
        fail_started(tenant, target)
        run_sweep(ctx, tenant.now)
        (row,) = alerts(ctx)
        dump = "\n".join(ctx.store.db.conn.iterdump())

    assert receiver.alert_ids == [row["alert_id"]]
    (headers,) = receiver.headers
    assert (headers["X-Other"], headers["X-Api-Key"]) == ("kept", HEADER_SECRET)
    stdlib = [r.getMessage() for r in caplog.records]
    everything = "\n".join([*lines, *stdlib, dump])
    for secret in (PASSWORD, HEADER_SECRET):
        assert all(form not in everything for form in (secret, quote(secret, safe="")))


def test_an_outbox_message_takes_its_rows_id() -> None:
    text = json.dumps({"kind": "late", "app_id": "a", "reason": "missed 07:00"})
    assert as_message(text, "0123abcd").alert_id == "0123abcd"
    assert as_message(text, "0123abcd").body.endswith("\nAlert id: 0123abcd")
    assert as_message(text).alert_id == "" and "Alert id" not in as_message(text).body

"""Alert delivery through Apprise (issue 14 item 2), for real: a local SMTP server and a local
HTTP receiver on loopback take the alerts; nothing of Apprise is mocked."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote

import apprise
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from scheduler.alert_send import (
    ALERT_ID_HEADER,
    AlertMessage,
    check_urls,
    deliver,
    hub_link,
    keyed_url,
    redacted,
)

TENANT = "https://acme.eu.qlikcloud.com/"
APP = "3f0a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
ROOT = "11111111-2222-4333-8444-555555555555"
SCRIPT = "65a1f0c2b3d4e5f6a7b8c9d0"
PASSWORD = "s3cret-PW+42/x"
HEADER_SECRET = "hdr-T0KEN-98765"
PARAM_SECRET = "qry-T0KEN-24680"
MESSAGE = AlertMessage(
    kind="reload_failed",
    app_id=APP,
    app_name="Accounts Payable",
    root_app_id=ROOT,
    root_app_name="Finance Extract",
    reason="the reload ended in failure (script error on line 42)",
    app_link=hub_link(TENANT, APP),
)
LINK = f"https://acme.eu.qlikcloud.com/sense/app/{APP}"
ALERT_ID = "84e3bdd959d7e79735816a07cfdd993b"  # what jobs.alerts._alert_id makes: 32 hex
KEYED = replace(MESSAGE, alert_id=ALERT_ID)


def _spellings(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote(secret, safe="@:/")]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger and thread, down to Apprise's TRACE level."""
    caplog.set_level(1)
    return caplog


def _client_text(logs: pytest.LogCaptureFixture) -> str:
    # The SMTP server's own log (aiosmtpd's "mail.log") is the fixture's, not the sender's.
    return "\n".join(r.getMessage() for r in logs.records if not r.name.startswith("mail.log"))


@dataclass
class Mailbox:
    port: int
    messages: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True, auth_data=data)

    def email(self, index: int = 0) -> EmailMessage:
        content = self.messages[index].content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A plain SMTP server (no TLS, AUTH offered) on a free loopback port."""
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


@dataclass
class Receiver:
    port: int
    answers: list[int] = field(default_factory=list)
    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on a free loopback port: records each POST (its JSON decoded, other
    bodies as text), answers the next of ``answers`` (200 once they run out)."""
    state = Receiver(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            kind = self.headers.get("Content-Type", "")
            payload = json.loads(body) if kind == "application/json" else body.decode()
            state.posts.append((self.path, dict(self.headers), payload))
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


def _mailto(box: Mailbox) -> str:
    return (
        f"mailto://alerts:{quote(PASSWORD, safe='')}@127.0.0.1:{box.port}"
        "?from=reload-chain@example.com&to=bi-team@example.com&mode=insecure"
    )


def test_an_email_names_the_app_the_root_the_reason_and_the_link(
    mailbox: Mailbox, logs: pytest.LogCaptureFixture
) -> None:
    result = deliver([_mailto(mailbox)], MESSAGE)

    assert result.ok, result.error
    assert mailbox.logins == [("alerts", PASSWORD)]
    assert len(mailbox.messages) == 1
    assert mailbox.messages[0].mail_from == "reload-chain@example.com"
    assert mailbox.messages[0].rcpt_tos == ["bi-team@example.com"]
    mail = mailbox.email()
    assert mail["Subject"] == "reload-chain: Reload failed: Accounts Payable"
    body = mail.get_content()
    for expected in ["Accounts Payable", APP, "Finance Extract", ROOT, MESSAGE.reason, LINK]:
        assert expected in body
    # Apprise logged at every level (TRACE included), yet never the password.
    assert any(r.name == "apprise" and r.levelno < logging.DEBUG for r in logs.records)
    logged = _client_text(logs)
    assert "Sent Email to bi-team@example.com" in logged
    assert all(form not in logged for form in _spellings(PASSWORD))


def test_unguarded_apprise_prints_the_password_at_trace(
    mailbox: Mailbox, logs: pytest.LogCaptureFixture
) -> None:
    """Why deliver() filters Apprise's logger: Apprise itself prints parsed URLs whole."""
    assert apprise.Apprise.instantiate(_mailto(mailbox)) is not None
    assert any(form in _client_text(logs) for form in _spellings(PASSWORD))


def test_an_unreachable_smtp_server_is_a_failure_naming_the_redacted_url(
    mailbox: Mailbox, logs: pytest.LogCaptureFixture
) -> None:
    url = _mailto(mailbox).replace(f":{mailbox.port}", ":1")

    result = deliver([url], MESSAGE, timeout_s=2)

    assert not result.ok
    assert result.failed == ("mailto://alerts:****@127.0.0.1:1/bi-team%40example.com",)
    assert result.error is not None
    assert "\n" not in result.error
    assert 'Connection error while submitting email to "127.0.0.1"' in result.error
    everything = f"{result.error} {result.failed} {_client_text(logs)}"
    assert all(form not in everything for form in _spellings(PASSWORD))


def test_a_json_webhook_gets_title_and_body(
    receiver: Receiver, logs: pytest.LogCaptureFixture
) -> None:
    url = (
        f"json://hook:{quote(PASSWORD, safe='')}@127.0.0.1:{receiver.port}/alerts/qlik"
        f"?+X-Api-Key={HEADER_SECRET}&-token={PARAM_SECRET}"
    )

    result = deliver([url], MESSAGE)

    assert result.ok, result.error
    [(path, headers, payload)] = receiver.posts
    assert path == f"/alerts/qlik?token={PARAM_SECRET}"
    assert headers["X-Api-Key"] == HEADER_SECRET
    assert ALERT_ID_HEADER not in headers  # a message without an id: no header, no id line
    assert payload["title"] == MESSAGE.title
    assert payload["message"] == MESSAGE.body
    logged = _client_text(logs)
    assert "Sent JSON POST notification." in logged
    # urllib3 logs each request's path and query at DEBUG: there, the parameter is redacted.
    assert '"POST /alerts/qlik?token=[redacted] HTTP/1.1" 200' in logged
    for secret in (PASSWORD, HEADER_SECRET, PARAM_SECRET):
        assert all(form not in logged for form in _spellings(secret))


def test_a_receiver_failing_then_recovering(
    receiver: Receiver, logs: pytest.LogCaptureFixture
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/alerts"
    receiver.answers = [500]

    failed = deliver([url], MESSAGE)
    recovered = deliver([url], MESSAGE)

    assert not failed.ok
    assert failed.failed == (f"json://127.0.0.1:{receiver.port}/alerts",)
    assert failed.error is not None
    assert failed.error.startswith(
        f"1 of 1 alert URLs failed: json://127.0.0.1:{receiver.port}/alerts: "
        "Failed to send JSON POST notification: "
    )
    assert failed.error.endswith("error=500.")
    assert recovered.ok
    assert recovered.error is None
    assert len(receiver.posts) == 2  # Apprise itself retried nothing


def test_every_url_is_tried_and_only_the_failed_ones_are_named(
    receiver: Receiver, mailbox: Mailbox
) -> None:
    hook = f"json://127.0.0.1:{receiver.port}/alerts"
    garbage = f"nope://alerts:{quote(PASSWORD, safe='')}@127.0.0.1/x"

    result = deliver([garbage, _mailto(mailbox), hook], MESSAGE)

    assert not result.ok
    assert result.failed == ("nope://****@127.0.0.1/...",)
    assert result.error == (
        "1 of 3 alert URLs failed: nope://****@127.0.0.1/...: not a valid Apprise URL"
    )
    assert len(receiver.posts) == 1
    assert len(mailbox.messages) == 1


def test_no_url_is_not_a_delivery() -> None:
    assert not deliver([], MESSAGE).ok


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        (
            f"mailto://alerts:{quote(PASSWORD, safe='')}@smtp.example.com:587"
            "?to=bi@example.com&from=rc@example.com",
            "mailto://alerts:****@smtp.example.com:587/bi%40example.com",
            [PASSWORD],
        ),
        (
            f"json://hook:{quote(PASSWORD, safe='')}@hooks.example.com/a"
            f"?+Authorization=Token%20{HEADER_SECRET}",
            "json://hook:****@hooks.example.com/a",
            [PASSWORD, HEADER_SECRET],
        ),
        (
            "slack://T1234ABCD/B1234ABCD/abcdefghijklmnopqrstuvwx",
            "slack://T...D/B...D/a...x//",
            ["abcdefghijklmnopqrstuvwx"],
        ),
        (
            "workflows://prod-01.westus.logic.azure.com:443/0123456789abcdef/sig-S3CRET-value",
            "workflow://prod-01.westus.logic.azure.com:443/0...f/s...e/",
            ["sig-S3CRET-value", "0123456789abcdef"],
        ),
    ],
)
def test_redacted_uses_apprises_privacy_form_without_the_query(
    url: str, shown: str, secrets: list[str], logs: pytest.LogCaptureFixture
) -> None:
    assert redacted(url) == shown
    logged = _client_text(logs)
    for secret in secrets:
        assert all(form not in logged for form in _spellings(secret))


def test_check_urls_names_the_bad_ones_redacted(logs: pytest.LogCaptureFixture) -> None:
    good = "json://hooks.example.com/alerts"
    bad = [
        "not a url at all",
        f"nope://alerts:{quote(PASSWORD, safe='')}@smtp.example.com/x",
        "json://",
        f"mailto://alerts:{quote(PASSWORD, safe='')}@",
        "",
    ]

    assert check_urls([good, *bad]) == [
        "(not a URL: no scheme://)",
        "nope://****@smtp.example.com/...",
        "json://",
        "mailto://****@",
        "(not a URL: no scheme://)",
    ]
    assert check_urls([good]) == []
    assert all(form not in _client_text(logs) for form in _spellings(PASSWORD))


def test_hub_link() -> None:
    assert hub_link(TENANT, APP) == LINK
    assert hub_link("https://acme.eu.qlikcloud.com", APP.upper()) == LINK
    assert hub_link(TENANT, SCRIPT) is None


def test_message_text_when_names_or_the_root_are_unknown() -> None:
    lost = AlertMessage("not_found", APP, None, None, None, "no such app", None)
    assert lost.title == f"reload-chain: App not found: {APP}"
    assert lost.body == f"App not found.\nApp: {APP} (name unknown)\nReason: no such app"

    sweeps = AlertMessage("sweep_failing", "", None, None, None, "3 sweeps\nended with 2", None)
    assert sweeps.title == "reload-chain: Sweeps are failing"
    assert sweeps.body == "Sweeps are failing.\nReason: 3 sweeps ended with 2"


# --- the alert id: a header for webhooks, the body's last line everywhere ---------------------


@pytest.mark.parametrize("scheme", ["json", "jsons", "form", "forms", "xml", "xmls"])
def test_a_webhook_url_is_keyed_with_a_header_apprise_reads_beside_its_own(scheme: str) -> None:
    url = f"{scheme}://hooks.example.com/alerts?+X-Other=kept"

    keyed = keyed_url(url, ALERT_ID)

    assert keyed == f"{url}&+{ALERT_ID_HEADER}={ALERT_ID}"
    plugin = apprise.Apprise.instantiate(keyed)
    assert plugin is not None
    assert plugin.headers == {"X-Other": "kept", ALERT_ID_HEADER: ALERT_ID}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("json://h/a", f"json://h/a?+{ALERT_ID_HEADER}={ALERT_ID}"),
        (" JSON://h/a? ", f"JSON://h/a?+{ALERT_ID_HEADER}={ALERT_ID}"),
        ("form://h/a?-token=t&", f"form://h/a?-token=t&+{ALERT_ID_HEADER}={ALERT_ID}"),
        ("mailto://u:p@smtp.example.com?to=a@example.com", None),
        ("slack://T1234ABCD/B1234ABCD/abcdefghijklmnopqrstuvwx", None),
        ("workflows://prod-01.westus.logic.azure.com:443/0123/sig", None),
        ("https://hooks.slack.com/services/T0/B0/X0", None),
        ("jsonx://h/a", None),
    ],
)
def test_only_the_schemes_with_custom_headers_are_keyed(url: str, expected: str | None) -> None:
    assert keyed_url(url, ALERT_ID) == (expected or url)
    assert keyed_url(url, "") == url  # no id (an old caller): the URL as it is


@pytest.mark.parametrize("scheme", ["json", "form", "xml"])
def test_a_webhook_gets_the_alert_id_header_and_keeps_its_own_headers(
    receiver: Receiver, logs: pytest.LogCaptureFixture, scheme: str
) -> None:
    url = (
        f"{scheme}://hook:{quote(PASSWORD, safe='')}@127.0.0.1:{receiver.port}/alerts"
        f"?+X-Other=kept&+X-Api-Key={HEADER_SECRET}"
    )

    result = deliver([url], KEYED)

    assert result.ok, result.error
    [(path, headers, payload)] = receiver.posts
    assert path == "/alerts"
    assert headers[ALERT_ID_HEADER] == ALERT_ID
    assert (headers["X-Other"], headers["X-Api-Key"]) == ("kept", HEADER_SECRET)
    assert KEYED.body.endswith(f"\nAlert id: {ALERT_ID}")
    if scheme == "json":
        assert payload["message"] == KEYED.body
    elif scheme == "form":
        assert parse_qs(payload)["message"] == [KEYED.body]
    else:
        assert f"Alert id: {ALERT_ID}" in payload
    logged = _client_text(logs)
    for secret in (PASSWORD, HEADER_SECRET):
        assert all(form not in logged for form in _spellings(secret))
    # The id is no secret: Apprise's log of the payload shows it, the header secret it hides.
    if scheme != "xml":  # Apprise logs an XML payload's head and tail only
        assert f"Alert id: {ALERT_ID}" in logged


def test_a_retried_delivery_carries_the_same_alert_id(receiver: Receiver) -> None:
    url = f"json://127.0.0.1:{receiver.port}/alerts"
    receiver.answers = [500]

    assert not deliver([url], KEYED).ok
    assert deliver([url], KEYED).ok

    assert [headers[ALERT_ID_HEADER] for _, headers, _ in receiver.posts] == [ALERT_ID] * 2
    assert receiver.posts[0][2] == receiver.posts[1][2]


def test_an_email_ends_with_the_alert_id_and_gets_no_header(
    mailbox: Mailbox, logs: pytest.LogCaptureFixture
) -> None:
    result = deliver([_mailto(mailbox)], KEYED)

    assert result.ok, result.error
    mail = mailbox.email()
    assert mail.get_content().rstrip().splitlines()[-1] == f"Alert id: {ALERT_ID}"
    assert mail[ALERT_ID_HEADER] is None
    assert all(form not in _client_text(logs) for form in _spellings(PASSWORD))


def test_a_failed_keyed_delivery_names_the_url_without_the_id(receiver: Receiver) -> None:
    receiver.answers = [500]
    url = f"json://127.0.0.1:{receiver.port}/alerts?+X-Api-Key={HEADER_SECRET}"

    result = deliver([url], KEYED)

    assert result.failed == (f"json://127.0.0.1:{receiver.port}/alerts",)
    assert result.error is not None
    assert ALERT_ID not in result.error and HEADER_SECRET not in result.error


def test_the_body_ends_with_the_alert_id_only_when_there_is_one() -> None:
    assert KEYED.body == f"{MESSAGE.body}\nAlert id: {ALERT_ID}"
    assert "Alert id" not in MESSAGE.body
    assert KEYED.title == MESSAGE.title

"""``[[alert]]`` tables: parsed into routes, refused with file and line, secrets scrubbed."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from jobs.alerts import KINDS
from scheduler.alert_config import (
    AlertRoute,
    alert_secrets,
    destination_of,
    parse_alerts,
    url_secrets,
)
from scheduler.config import load
from scheduler.runtime import Runtime
from scheduler.scrub import REDACTED, Scrubber
from scheduler.settings import Settings, SettingsError

PASSWORD = "s3cret-PW+42/x"
MAILTO = f"mailto://alerts:{quote(PASSWORD, safe='')}@smtp.example.com?to=bi-team@example.com"
SLACK_TOKEN = "abcdefghijklmnopqrstuvwx"
SLACK = f"slack://T1234ABCD/B1234ABCD/{SLACK_TOKEN}"
SIGNATURE = "sig-S3CRET-value"
WORKFLOW = f"workflows://prod-01.westus.logic.azure.com:443/0123456789abcdef/{SIGNATURE}"
HOOK = "json://hooks.example.com/alerts?+X-Api-Key=hdr-T0KEN-98765"
HEAD = 'tenant_url = "https://acme.eu.qlikcloud.com"\n'


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reload-chain.toml"
    path.write_text(HEAD + text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(SettingsError) as caught:
        load(settings_file(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_routes_with_defaults_and_lists(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path,
        f'\n[[alert]]\nurl = "{MAILTO}"\n\n'
        f'[[alert]]\nurl = ["{SLACK}", "{WORKFLOW}"]\non = ["reload_failed", "late"]\n'
        "repeat_minutes = 0\n",
    )

    mail, chat = load(path).alerts

    assert mail.urls == (MAILTO,)
    assert mail.kinds == frozenset(KINDS)
    assert mail.repeat_minutes == 60
    assert mail.origin == f"{path}:3"
    assert chat.urls == (SLACK, WORKFLOW)
    assert chat.kinds == {"reload_failed", "late"}
    assert chat.repeat_minutes == 0
    assert chat.destinations == (destination_of(SLACK), destination_of(WORKFLOW))
    assert PASSWORD not in repr(mail) and quote(PASSWORD, safe="") not in repr(mail)


def test_no_alert_table_means_no_routes_and_the_settings_still_load(tmp_path: Path) -> None:
    loaded = load(settings_file(tmp_path, "tolerance_minutes = 5\n"))
    assert loaded.alerts == ()
    assert loaded.settings.tolerance_minutes == 5
    assert load().alerts == ()


def test_a_destination_is_a_stable_hash_that_never_holds_the_url() -> None:
    assert destination_of(MAILTO) == destination_of(f"  {MAILTO} ")
    assert destination_of(MAILTO) != destination_of(SLACK)
    assert len(destination_of(MAILTO)) == 16
    assert "smtp" not in destination_of(MAILTO)


@pytest.mark.parametrize(
    ("text", "line", "complaint"),
    [
        ('[[alert]]\nurl = "json://h.example.com"\nto = "x"\n', 4, "unknown key 'to' in [[alert]]"),
        ('[[alert]]\nurl = "json://h.example.com"\non = ["reload_failed", "oops"]\n', 4, "oops"),
        ('[[alert]]\nurl = "json://h.example.com"\non = []\n', 4, "on must list alert kinds"),
        ('[[alert]]\nurl = "json://h.example.com"\nrepeat_minutes = -1\n', 4, "from 0 to"),
        ('[[alert]]\nurl = "json://h.example.com"\nrepeat_minutes = 1.5\n', 4, "whole number"),
        ('[[alert]]\nurl = "json://h.example.com"\nrepeat_minutes = true\n', 4, "whole number"),
        ("[[alert]]\non = ['late']\n", 2, "url must be an Apprise URL"),
        ("[[alert]]\nurl = []\n", 3, "url must be an Apprise URL"),
        ("[[alert]]\nurl = 42\n", 3, "url must be an Apprise URL"),
        ('[alert]\nurl = "json://h.example.com"\n', 2, "write [[alert]] tables"),
        ('alert = "json://h.example.com"\n', 2, "write [[alert]] tables"),
    ],
)
def test_a_wrong_table_names_the_file_and_line(
    tmp_path: Path, text: str, line: int, complaint: str
) -> None:
    message = refused(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'reload-chain.toml'}:{line}: ")
    assert complaint in message


def test_the_second_tables_error_names_its_own_line(tmp_path: Path) -> None:
    text = (
        '[[alert]]\nurl = "json://a.example.com"\n\n[apps]\nx = "65a1f0c2b3d4e5f6a7b8c9d0"\n\n'
        '[[alert]]\nurl = "json://b.example.com"\nrepeat_minutes = -5\n'
    )
    assert refused(tmp_path, text).startswith(f"{tmp_path / 'reload-chain.toml'}:10: ")


def test_an_unusable_url_is_refused_redacted_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)
    bad = f"nope://alerts:{quote(PASSWORD, safe='')}@smtp.example.com/x"
    message = refused(tmp_path, f'[[alert]]\nurl = ["json://h.example.com", "{bad}"]\n')

    assert message.endswith(": not a usable Apprise URL: nope://****@smtp.example.com/...")
    assert ":3: " in message
    everything = message + "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in everything and quote(PASSWORD, safe="") not in everything
    # Apprise's own "Unparseable URL" ERROR line would be a second line for one mistake.
    assert not [r for r in caplog.records if r.name == "apprise" and r.levelno >= logging.ERROR]


def test_url_secrets_are_the_password_and_apprises_private_fields() -> None:
    assert {PASSWORD, quote(PASSWORD, safe="")} <= set(url_secrets(MAILTO))
    assert SLACK_TOKEN in url_secrets(SLACK)
    assert SIGNATURE in url_secrets(WORKFLOW)
    assert "hdr-T0KEN-98765" in url_secrets(HOOK)
    assert url_secrets("json://hooks.example.com/alerts") == []


def test_every_output_scrubber_hides_the_alert_secrets(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path, f'api_key = "key-1234"\n[[alert]]\nurl = ["{MAILTO}", "{SLACK}"]\n'
    )
    loaded = load(path)
    runtime = Runtime.from_loaded(loaded)

    assert runtime.alerts == loaded.alerts
    text = f"login {PASSWORD} slack {SLACK_TOKEN} key key-1234 url {MAILTO}"
    scrubbed = runtime.scrubber().scrub(text)
    for secret in (PASSWORD, quote(PASSWORD, safe=""), SLACK_TOKEN, "key-1234"):
        assert secret not in scrubbed
    assert scrubbed.startswith(f"login {REDACTED} slack {REDACTED} key {REDACTED}")


def test_for_settings_takes_more_secrets() -> None:
    settings = Settings(tenant_url="https://t.example.com", api_key="key-1234")
    scrubber = Scrubber.for_settings(settings, [PASSWORD])
    assert scrubber.scrub(f"{PASSWORD} key-1234") == f"{REDACTED} {REDACTED}"
    routes = [AlertRoute((MAILTO, SLACK), frozenset(KINDS))]
    assert {PASSWORD, SLACK_TOKEN} <= set(alert_secrets(routes))


def test_parse_alerts_alone() -> None:
    document = {"alert": [{"url": "json://h.example.com", "on": "late"}]}
    (route,) = parse_alerts(document, '[[alert]]\nurl = "json://h.example.com"\n', "x.toml")
    assert route.kinds == {"late"}
    assert route.origin == "x.toml:1"
    assert parse_alerts({}, "", "x.toml") == ()

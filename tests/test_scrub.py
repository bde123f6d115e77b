"""The scrubber (issue 11 item 6): configured secrets and bearer tokens never reach any output."""

from __future__ import annotations

import json
import time
import traceback

import pytest
from pydantic import SecretStr

from scheduler.scrub import MIN_SECRET_LENGTH, REDACTED, Scrubber
from scheduler.settings import Settings

KEY = "sk-SECRET-1234567890abcdef"
CLIENT_SECRET = "cs-SECRET+0987/654=fedcba"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer eyJhbGc.eyJzdWIi.sig-_x", "Authorization: Bearer [redacted]"),
        ("sent bearer abc123, then stopped", "sent bearer [redacted], then stopped"),
        ("BEARER\tabc123", "BEARER\t[redacted]"),
        # httpx quoting a header whose value ends with CR/LF.
        (
            "Illegal header value b'Bearer abc123\\r\\n'",
            "Illegal header value b'Bearer [redacted]\\r\\n'",
        ),
        ('{"Authorization": "Bearer abc123"}', '{"Authorization": "Bearer [redacted]"}'),
        ("[('authorization', 'Bearer abc123')]", "[('authorization', 'Bearer [redacted]')]"),
        ("url?auth=Bearer%20abc123&x=1", "url?auth=Bearer%20[redacted]&x=1"),
        ("(Bearer abc123)", "(Bearer [redacted])"),
        # An OAuth token answer carries the bearer token without the word.
        (
            '{"access_token": "eyJabc", "expires_in": 3600}',
            '{"access_token": "[redacted]", "expires_in": 3600}',
        ),
        ("refresh_token=r-abc&grant_type=x", "refresh_token=[redacted]&grant_type=x"),
    ],
)
def test_bearer_tokens_are_redacted_without_any_configured_secret(text: str, expected: str) -> None:
    assert Scrubber().scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "sweep sw-1 finished: 3 triggered, 0 failed in 0.42s",
        "embearered text stays",
        "token_count=3, access_tokens counted",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Scrubber([KEY]).scrub(text) == text


def test_the_word_after_bearer_goes_even_in_prose() -> None:
    # Better a word too many than a token shown.
    assert Scrubber().scrub("the Bearer scheme is used") == f"the Bearer {REDACTED} is used"


def test_a_secret_inside_a_longer_string_is_redacted() -> None:
    scrubber = Scrubber([KEY, CLIENT_SECRET])
    assert scrubber.scrub(f"key={KEY};next") == f"key={REDACTED};next"
    assert scrubber.scrub(f"x{KEY}{KEY}y") == f"x{REDACTED}{REDACTED}y"
    assert scrubber.scrub(f"client {CLIENT_SECRET}.") == f"client {REDACTED}."


def test_a_secret_is_redacted_in_the_spellings_other_code_gives_it() -> None:
    odd = 'sk-"quoted"\\back-ünï'
    scrubber = Scrubber([odd, CLIENT_SECRET])
    shown = [
        json.dumps({"k": odd}),
        json.dumps({"k": odd}, ensure_ascii=False),
        repr(odd),
        repr(odd.encode()),
        "client_secret=cs-SECRET%2B0987%2F654%3Dfedcba&grant_type=client_credentials",
    ]
    for text in shown:
        scrubbed = scrubber.scrub(text)
        assert REDACTED in scrubbed, text
        assert "quoted" not in scrubbed and "0987" not in scrubbed, scrubbed


def test_a_secret_with_a_trailing_newline_is_redacted_with_and_without_it() -> None:
    scrubber = Scrubber(["sk-abc-123\r\n"])
    assert scrubber.scrub("key sk-abc-123 used") == f"key {REDACTED} used"
    assert scrubber.scrub("b'sk-abc-123\\r\\n'") == f"b'{REDACTED}'"


def test_the_longest_secret_wins_when_one_holds_another() -> None:
    scrubber = Scrubber(["abcd", "abcdefgh"])
    assert scrubber.scrub("abcdefgh abcd") == f"{REDACTED} {REDACTED}"


def test_empty_and_short_secrets_are_ignored() -> None:
    short = "x" * (MIN_SECRET_LENGTH - 1)
    scrubber = Scrubber(["", short])
    assert scrubber.scrub(f"{short} stays") == f"{short} stays"


def test_scrubbing_twice_changes_nothing_more() -> None:
    scrubber = Scrubber([KEY])
    once = scrubber.scrub(f"Authorization: Bearer {KEY} and {KEY}")
    assert once == f"Authorization: Bearer {REDACTED} and {REDACTED}"
    assert scrubber.scrub(once) == once


def test_a_traceback_whose_message_holds_the_secret_is_redacted() -> None:
    try:
        raise ValueError(f"Illegal header value b'Bearer {KEY}\\r\\n' (key {KEY})")
    except ValueError as error:
        text = "".join(traceback.format_exception(error))
    scrubbed = Scrubber([KEY]).scrub(text)
    assert KEY not in scrubbed
    assert (
        "ValueError: Illegal header value b'Bearer [redacted]\\r\\n' (key [redacted])" in scrubbed
    )


def test_for_settings_takes_the_api_key_and_the_client_secret() -> None:
    settings = Settings(
        tenant_url="https://t.example.com",
        api_key=SecretStr(KEY),
        client_id="client",
        client_secret=SecretStr(CLIENT_SECRET),
    )
    scrubber = Scrubber.for_settings(settings)
    assert scrubber.scrub(f"{KEY} {CLIENT_SECRET} client") == f"{REDACTED} {REDACTED} client"
    nothing = Scrubber.for_settings(Settings(tenant_url="https://t.example.com"))
    assert nothing.scrub("client Bearer x") == f"client Bearer {REDACTED}"


def test_scrubbing_a_log_line_is_cheap() -> None:
    # Every log line and every write to stdout and stderr goes through it.
    scrubber = Scrubber([KEY, CLIENT_SECRET])
    line = "2026-11-22 10:00:00 INFO    sweep sw-1: 12 events read, 3 new, 0 invalid, 2 sources\n"
    started = time.perf_counter()
    for _ in range(10_000):
        scrubber.scrub(line)
    per_line = (time.perf_counter() - started) / 10_000
    assert per_line < 50e-6, f"{per_line * 1e6:.1f} µs a line"

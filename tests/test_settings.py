"""Settings: defaults of SPEC section 6, the tenant URL rule, required values and secrets."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest
from pydantic import SecretStr, ValidationError

from scheduler.config import load
from scheduler.settings import Settings, SettingsError, check_tenant_url

SECRET = "sk-very-secret-api-key-0123456789"


def test_defaults_match_spec() -> None:
    settings = Settings()
    assert settings.tenant_url is None
    assert settings.api_key is None
    assert settings.tag_prefix == "next-"
    assert settings.tolerance_minutes == 10
    assert settings.interval_minutes == 0.5
    assert settings.overlap_minutes == 5
    assert settings.first_run_lookback_minutes == 60
    assert settings.auto_resolve_access is True
    assert settings.only_managed_spaces is False
    assert settings.log_file is None
    assert settings.event_type == "com.qlik.v1.app.reload.finished"
    assert settings.http_timeout_seconds == 30
    assert settings.late_window_minutes == 60
    assert settings.late_check_minutes == 10
    assert settings.max_sweep_minutes == 30


def test_default_database_is_in_user_data_dir() -> None:
    database = Settings().database
    assert database.parts[-2:] == ("reload-chain", "state.db")
    assert database.is_relative_to(Path(platformdirs.user_data_dir()))


def test_settings_object_ignores_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment is read by load_settings only, so it can name the source of an error.
    monkeypatch.setenv("RELOAD_CHAIN_TOLERANCE_MINUTES", "42")
    assert Settings().tolerance_minutes == 10


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.tolerance_minutes = 3  # type: ignore[misc]


def test_https_url_is_accepted() -> None:
    url = "https://tenant.eu.qlikcloud.com"
    assert check_tenant_url(url) == url


def test_trailing_slash_and_spaces_are_removed() -> None:
    assert (
        check_tenant_url(" https://tenant.eu.qlikcloud.com/ ") == "https://tenant.eu.qlikcloud.com"
    )


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost", "http://[::1]", "http://localhost:9000/"],
)
def test_plain_http_is_allowed_for_loopback(url: str) -> None:
    assert check_tenant_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://localhost.example.com",
        "http://10.0.0.1",
        "ftp://tenant.eu.qlikcloud.com",
        "tenant.eu.qlikcloud.com",
        "https://",
    ],
)
def test_other_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValueError):
        check_tenant_url(url)


def test_http_rejection_says_https_is_needed() -> None:
    with pytest.raises(ValueError, match="https://"):
        check_tenant_url("http://example.com")


def test_settings_validate_tenant_url() -> None:
    assert Settings(tenant_url="https://t.example.com/").tenant_url == "https://t.example.com"
    with pytest.raises(ValidationError, match="tenant_url"):
        Settings(tenant_url="http://example.com")


def test_require_tenant_names_missing_tenant_url() -> None:
    with pytest.raises(SettingsError, match="tenant_url") as caught:
        Settings(api_key=SECRET).require_tenant()
    assert caught.value.exit_code == 2
    assert "QLIK_TENANT_URL" in str(caught.value)


def test_require_tenant_names_missing_api_key() -> None:
    with pytest.raises(SettingsError, match="api_key") as caught:
        Settings(tenant_url="https://t.example.com").require_tenant()
    assert caught.value.exit_code == 2
    assert "QLIK_API_KEY" in str(caught.value)


def test_require_tenant_returns_url_and_key() -> None:
    url, key = Settings(tenant_url="https://t.example.com", api_key=SECRET).require_tenant()
    assert url == "https://t.example.com"
    assert isinstance(key, SecretStr)
    assert key.get_secret_value() == SECRET


def test_api_key_is_never_shown() -> None:
    settings = Settings(
        tenant_url="https://t.example.com", api_key=SECRET, client_secret=SECRET + "-client"
    )
    assert isinstance(settings.api_key, SecretStr)
    assert settings.api_key.get_secret_value() == SECRET
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in shown
    assert "t.example.com" in repr(settings)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("tolerance_minutes", 10**18),
        ("overlap_minutes", 10**18),
        ("first_run_lookback_minutes", 10**18),
        ("interval_minutes", 10**18),
        ("interval_minutes", 0.1),
        ("http_timeout_seconds", 0),
        ("http_timeout_seconds", 10**9),
        ("late_window_minutes", -1),
        ("late_window_minutes", 10**18),
        ("late_check_minutes", 10**18),
        ("max_sweep_minutes", 0),
        ("max_concurrency", 10**6),
    ],
)
def test_every_number_has_a_sane_range(key: str, value: float) -> None:
    with pytest.raises(ValidationError, match=key):
        Settings(**{key: value})


@pytest.mark.parametrize("variable", ["QLIK_API_KEY", "QLIK_CLIENT_SECRET"])
@pytest.mark.parametrize("bad", [SECRET + "\n", SECRET + "\r\n", " " + SECRET, "sk-a b", "sk\x00x"])
def test_a_secret_with_whitespace_or_control_characters_is_refused(variable: str, bad: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load(environ={variable: bad})
    text = str(caught.value)
    assert f"(from environment {variable})" in text
    assert "whitespace or control characters" in text
    assert "\n" not in text
    assert SECRET not in text
    assert "sk-a" not in text
    assert caught.value.exit_code == 2

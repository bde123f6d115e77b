"""Settings: one pydantic object built once in ``main()`` from flags, environment and TOML.

Precedence is flag > environment > TOML file > default. The layers are merged here, not by
pydantic-settings' own sources, so that an invalid value can be reported with where it came
from (``--interval-minutes``, ``RELOAD_CHAIN_TOLERANCE_MINUTES``, ``reload-chain.toml``).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from qlik.auth import ClientCredentials, Credentials
from qlik.errors import ReloadChainError
from qlik.events import APP_RELOAD_FINISHED, EventType

CONFIG_FILE_NAME = "reload-chain.toml"
# Whitespace or control characters: never part of a real API key or client secret.
_UNPRINTABLE = re.compile(r"[\s\x00-\x1f\x7f]")
CONFIG_ENV = "RELOAD_CHAIN_CONFIG"
# Tables of the settings file that hold chain definitions, not settings.
CHAIN_TABLES = frozenset({"apps", "edge", "join"})

ENVIRONMENT: dict[str, str] = {
    "tenant_url": "QLIK_TENANT_URL",
    "api_key": "QLIK_API_KEY",
    "client_id": "QLIK_CLIENT_ID",
    "client_secret": "QLIK_CLIENT_SECRET",
    "database": "RELOAD_CHAIN_DB",
    "tag_prefix": "RELOAD_CHAIN_TAG_PREFIX",
    "tolerance_minutes": "RELOAD_CHAIN_TOLERANCE_MINUTES",
    "only_managed_spaces": "RELOAD_CHAIN_ONLY_MANAGED_SPACES",
    "auto_resolve_access": "RELOAD_CHAIN_AUTO_RESOLVE_ACCESS",
    "interval_minutes": "RELOAD_CHAIN_INTERVAL_MINUTES",
    "overlap_minutes": "RELOAD_CHAIN_OVERLAP_MINUTES",
    "first_run_lookback_minutes": "RELOAD_CHAIN_FIRST_RUN_LOOKBACK_MINUTES",
    "log_file": "RELOAD_CHAIN_LOG_FILE",
    "event_type": "RELOAD_CHAIN_EVENT_TYPE",
    "max_concurrency": "RELOAD_CHAIN_MAX_CONCURRENCY",
    "log_json": "RELOAD_CHAIN_LOG_JSON",
    "http_timeout_seconds": "RELOAD_CHAIN_HTTP_TIMEOUT_SECONDS",
    "late_window_minutes": "RELOAD_CHAIN_LATE_WINDOW_MINUTES",
    "late_check_minutes": "RELOAD_CHAIN_LATE_CHECK_MINUTES",
    "max_sweep_minutes": "RELOAD_CHAIN_MAX_SWEEP_MINUTES",
    "max_active_reloads": "RELOAD_CHAIN_MAX_ACTIVE_RELOADS",
    "metrics_file": "RELOAD_CHAIN_METRICS_FILE",
    "retention_days": "RELOAD_CHAIN_RETENTION_DAYS",
    "report_file": "RELOAD_CHAIN_REPORT_FILE",
    "native_tasks_refresh_minutes": "RELOAD_CHAIN_NATIVE_TASKS_REFRESH_MINUTES",
}
PATH_KEYS = ("database", "log_file", "metrics_file", "report_file")


DAY_MINUTES = 24 * 60
DEFAULT_TAG_PREFIX = "next-"  # Qlik's Automate reload runner's convention
WEEK_MINUTES = 7 * DAY_MINUTES
# Qlik keeps audit events 90 days: nothing older can be read, so no window reaches further back.
AUDIT_RETENTION_MINUTES = 90 * DAY_MINUTES


class SettingsError(ReloadChainError):
    """A setting is missing or invalid; the message names the key and where it came from."""

    exit_code = 2


def default_database() -> Path:
    """``<user data dir>/reload-chain/state.db`` (platformdirs, so right on Windows too)."""
    return Path(platformdirs.user_data_dir("reload-chain", appauthor=False)) / "state.db"


class Settings(BaseSettings):
    """Every setting of SPEC section 6. Secrets are ``SecretStr`` and never printed."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    tenant_url: str | None = None
    api_key: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    database: Path = Field(default_factory=default_database)
    tag_prefix: str = Field(DEFAULT_TAG_PREFIX, min_length=1)
    # Every number has a sane range: 10**18 minutes is refused with one line, not an
    # OverflowError deep inside a sweep.
    tolerance_minutes: int = Field(10, ge=0, le=WEEK_MINUTES)
    only_managed_spaces: bool = False
    auto_resolve_access: bool = True
    interval_minutes: float = Field(0.5, ge=0.25, le=DAY_MINUTES)
    overlap_minutes: int = Field(5, ge=0, le=DAY_MINUTES)
    first_run_lookback_minutes: int = Field(60, ge=1, le=AUDIT_RETENTION_MINUTES)
    log_file: Path | None = None
    event_type: EventType = APP_RELOAD_FINISHED
    # Independent reads (items batches, spaces, per-app reloads) in flight at once.
    max_concurrency: int = Field(4, ge=1, le=16)
    log_json: bool = False
    http_timeout_seconds: float = Field(30.0, ge=1, le=600)
    late_window_minutes: int = Field(60, ge=0, le=AUDIT_RETENTION_MINUTES)
    late_check_minutes: int = Field(10, ge=0, le=DAY_MINUTES)
    max_sweep_minutes: float = Field(30.0, ge=1, le=DAY_MINUTES)
    # Start only while fewer reloads than this are active in the tenant (None: no limit).
    max_active_reloads: int | None = Field(None, ge=1, le=10_000)
    # A Prometheus text file rewritten after each sweep (None: none is written).
    metrics_file: Path | None = None
    # Days of history kept; what safety needs is kept longer (see state/retention.py).
    retention_days: int = Field(90, ge=7, le=3650)
    # The HTML report rewritten after each sweep (None: none is written).
    report_file: Path | None = None
    # How long a sweep may decide by the native tasks an earlier sweep listed (0: list them
    # in every sweep that starts something); see jobs/native_sweep.py.
    native_tasks_refresh_minutes: int = Field(15, ge=0, le=DAY_MINUTES)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values merged by ``load_settings``, which reads environment and file itself."""
        return (init_settings,)

    @field_validator("database", "log_file", "metrics_file", "report_file")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("api_key", "client_secret")
    @classmethod
    def _no_whitespace_in_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # A trailing CR/LF (a TOML """ string, a file read into a variable) would make httpx
        # quote the whole header, secret included, in its error. The value is never shown.
        if value is not None and _UNPRINTABLE.search(value.get_secret_value()):
            raise ValueError(
                "holds whitespace or control characters (a trailing newline or space?); "
                "remove them (the value is not shown)"
            )
        return value

    @field_validator("tenant_url")
    @classmethod
    def _https_unless_loopback(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_tenant_url(value)

    def require_tenant(self) -> tuple[str, Credentials]:
        """Tenant URL and credentials (see ``credentials``), or a ``SettingsError``."""
        if not self.tenant_url:
            raise SettingsError(
                "missing setting tenant_url: set QLIK_TENANT_URL or tenant_url in reload-chain.toml"
            )
        return self.tenant_url, self.credentials()

    def credentials(self) -> Credentials:
        """The API key, else the OAuth client (id and secret), or a ``SettingsError``.

        When both an API key and an OAuth client are set, the API key is used: it needs no
        token request, and the choice is made silently so that no log line touches a secret.
        A client id without its secret (or the reverse) is an error, even next to an API key.
        """
        oauth = self._oauth_client()
        if self.api_key is not None:
            return self.api_key
        if oauth is None:
            raise SettingsError(
                "missing credentials: set api_key (QLIK_API_KEY), or client_id and client_secret "
                "(QLIK_CLIENT_ID, QLIK_CLIENT_SECRET) for an OAuth client, in the environment "
                "or in reload-chain.toml, or store the secret in the OS keyring with "
                "'reload-chain secrets set api_key'"
            )
        return oauth

    def _oauth_client(self) -> ClientCredentials | None:
        """The OAuth client, None when neither half is set; one half alone is an error."""
        has_secret = self.client_secret is not None and bool(self.client_secret.get_secret_value())
        if not self.client_id and not has_secret:
            return None
        if not self.client_id:
            raise SettingsError(
                "client_secret is set but client_id is missing: set QLIK_CLIENT_ID or "
                "client_id in reload-chain.toml"
            )
        if self.client_secret is None or not has_secret:
            raise SettingsError(
                "client_id is set but client_secret is missing: set QLIK_CLIENT_SECRET or "
                "client_secret in reload-chain.toml, or store it in the OS keyring with "
                "'reload-chain secrets set client_secret'"
            )
        return ClientCredentials(self.client_id, self.client_secret)


def check_tenant_url(value: str) -> str:
    """``https://host`` (trailing slash removed); ``http://`` only for loopback hosts."""
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(
            f"must be an https:// URL such as https://tenant.eu.qlikcloud.com, not {url!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("must use https:// (plain http:// is allowed only for loopback hosts)")
    if parts.path or parts.query or parts.fragment:
        # A URL copied from the browser (https://tenant/hub/...) would get a bare 404 per call.
        address = f"{parts.scheme}://{parts.netloc}"
        raise ValueError(f"must be the tenant's address alone, without a path: use {address}")
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

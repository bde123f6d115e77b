"""Build ``Settings`` from flags, environment and the TOML file, naming the source of any error."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jobs.chainfile import ChainFile, ChainFileError, parse_chain_file
from jobs.deadline_config import DEADLINE_TABLE, Deadline, parse_deadlines
from scheduler.alert_config import ALERT_TABLE, AlertRoute, parse_alerts
from scheduler.secrets import keyring_source, keyring_user, read_secrets, wanted_secrets
from scheduler.settings import (
    CHAIN_TABLES,
    CONFIG_ENV,
    CONFIG_FILE_NAME,
    ENVIRONMENT,
    PATH_KEYS,
    Settings,
    SettingsError,
)

# A top-level ``key = value`` line of TOML: a bare key, or a quoted one.
_TOP_LEVEL_KEY = re.compile(r'^\s*(?:([A-Za-z0-9_-]+)|"([^"]+)")\s*=')


@dataclass(frozen=True)
class Layer:
    """Values from one source, and how to name that source in an error."""

    values: dict[str, Any]
    describe: Mapping[str, str]


# Per setting, every source that gave it a value, the one used first: ``--interval-minutes``,
# ``environment QLIK_API_KEY``, ``path:line``, ``keyring <host>:api_key``. Defaults are absent.
Origins = dict[str, tuple[str, ...]]


def find_config_file(flag: Path | None, environ: Mapping[str, str]) -> Path | None:
    """``--config``, else ``$RELOAD_CHAIN_CONFIG``, else ``./reload-chain.toml`` if it exists."""
    if flag is not None:
        return _existing(flag, "--config")
    if environ.get(CONFIG_ENV):
        return _existing(Path(environ[CONFIG_ENV]), CONFIG_ENV)
    local = Path(CONFIG_FILE_NAME)
    return local if local.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    """The whole TOML document; a syntax error names the file and line."""
    try:
        # utf-8-sig: Windows editors often start the file with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path}: invalid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise SettingsError(
            f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from None
    except OSError as error:
        raise SettingsError(f"{path}: cannot read settings file: {error.strerror}") from None


@dataclass(frozen=True)
class LoadedSettings:
    """The settings, the file they were read from, and the chains and alerts it declares."""

    settings: Settings
    config_path: Path | None = None
    chain: ChainFile = field(default_factory=ChainFile)
    alerts: tuple[AlertRoute, ...] = ()
    deadlines: tuple[Deadline, ...] = ()
    origins: Origins = field(default_factory=dict)


def load(
    config_flag: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    keyring: bool = True,
) -> LoadedSettings:
    """Settings from flags > environment > TOML file > OS keyring > defaults, with what the
    file held besides.

    The keyring is asked only for a secret the layers above lack (``scheduler.secrets``);
    ``keyring=False`` never asks it (``secrets set`` replaces what it holds, even a bad value).
    """
    env = os.environ if environ is None else environ
    config_path = find_config_file(config_flag, env)
    document = read_toml(config_path) if config_path else {}
    layers = [
        _flag_layer(flags or {}),
        _env_layer(env),
        _file_layer(config_path, document) if config_path else Layer({}, {}),
    ]
    if keyring:
        layers.append(_keyring_layer(layers))
    chain = _chain_file(config_path, document) if config_path else ChainFile()
    alerts = _alerts(config_path, document) if config_path else ()
    deadlines = _deadlines(config_path, document, chain) if config_path else ()
    settings, origins = _merged(layers)
    return LoadedSettings(settings, config_path, chain, alerts, deadlines, origins)


def _deadlines(path: Path, document: dict[str, Any], chain: ChainFile) -> tuple[Deadline, ...]:
    if DEADLINE_TABLE not in document:
        return ()
    text = path.read_text(encoding="utf-8-sig")
    try:
        return parse_deadlines(document, text, str(path), chain.aliases)
    except ChainFileError as error:
        raise SettingsError(str(error)) from None


def _alerts(path: Path, document: dict[str, Any]) -> tuple[AlertRoute, ...]:
    if ALERT_TABLE not in document:
        return ()
    return parse_alerts(document, path.read_text(encoding="utf-8-sig"), str(path))


def _chain_file(path: Path, document: dict[str, Any]) -> ChainFile:
    if not CHAIN_TABLES & set(document):
        return ChainFile()
    text = path.read_text(encoding="utf-8-sig")
    try:
        return parse_chain_file(document, text, str(path))
    except ChainFileError as error:
        raise SettingsError(str(error)) from None


def load_settings(
    config_flag: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from flags > environment > TOML file > defaults."""
    return load(config_flag, flags, environ).settings


def _merged(layers: list[Layer]) -> tuple[Settings, Origins]:
    merged: dict[str, Any] = {}
    origins: Origins = {}
    for layer in reversed(layers):
        merged.update(layer.values)
        for key in layer.values:
            origins[key] = (layer.describe[key], *origins.get(key, ()))
    try:
        return Settings(**merged), origins
    except ValidationError as error:
        raise settings_error(error, {key: used[0] for key, used in origins.items()}) from None


def _keyring_layer(layers: list[Layer]) -> Layer:
    """The secrets the layers above lack, from the OS keyring, once the tenant is known."""
    given: dict[str, Any] = {}
    for layer in reversed(layers):
        given.update(layer.values)
    tenant_url = given.get("tenant_url")
    wanted = wanted_secrets(given)
    if not isinstance(tenant_url, str) or not wanted:
        return Layer({}, {})
    values = read_secrets(tenant_url, wanted)
    users = {key: keyring_user(tenant_url, key) or "" for key in values}
    return Layer(values, {key: keyring_source(user) for key, user in users.items()})


def settings_error(error: ValidationError, origins: Mapping[str, str]) -> SettingsError:
    """One line: which key, from where, and what is wrong with it."""
    first = error.errors(include_url=False, include_input=False)[0]
    key = str(first["loc"][0]) if first["loc"] else "settings"
    where = origins.get(key, "defaults")
    if first["type"] == "extra_forbidden":
        return SettingsError(f"unknown setting {key!r} in {where}{_did_you_mean(key)}")
    message = str(first["msg"]).removeprefix("Value error, ")
    return SettingsError(f"invalid setting {key} (from {where}): {message}")


def _did_you_mean(key: str) -> str:
    """``; did you mean 'tolerance_minutes'?`` for a near miss of a known setting or table."""
    known = [*Settings.model_fields, *CHAIN_TABLES, ALERT_TABLE, DEADLINE_TABLE]
    close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


def _key_lines(text: str) -> dict[str, int]:
    """The line of each top-level ``key = value`` of a TOML text (before its first table)."""
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.lstrip().startswith("["):
            break
        match = _TOP_LEVEL_KEY.match(raw)
        if match:
            lines.setdefault(match.group(1) or match.group(2), number)
    return lines


def _flag_layer(flags: Mapping[str, Any]) -> Layer:
    values = {key: value for key, value in flags.items() if value is not None}
    return Layer(values, {key: "--" + key.replace("_", "-") for key in values})


def _env_layer(environ: Mapping[str, str]) -> Layer:
    values = {key: environ[name] for key, name in ENVIRONMENT.items() if environ.get(name)}
    return Layer(values, {key: f"environment {ENVIRONMENT[key]}" for key in values})


def _file_layer(path: Path, document: Mapping[str, Any]) -> Layer:
    tables = CHAIN_TABLES | {ALERT_TABLE, DEADLINE_TABLE}
    values = {key: value for key, value in document.items() if key not in tables}
    for key in PATH_KEYS:
        if isinstance(values.get(key), str):
            # Relative paths in the file are relative to the file, not to the working directory.
            values[key] = (path.parent / Path(values[key]).expanduser()).resolve()
    lines = _key_lines(path.read_text(encoding="utf-8-sig"))
    return Layer(
        values, {key: f"{path}:{lines[key]}" if key in lines else str(path) for key in values}
    )


def _existing(path: Path, named_by: str) -> Path:
    if not path.is_file():
        raise SettingsError(
            f"settings file {path} (from {named_by}) does not exist or is not a file"
        )
    return path

"""The settings part of ``doctor``: where each setting came from, and two checks on them.

- the sources section: the settings file read (or where one was looked for) and every setting
  given (not left at its default) with its source (``--flag``, ``environment VAR``, ``path:line``,
  ``keyring <host>:<key>``); a secret is shown as ``set``, never its value;
- an environment variable overriding a value of the file is a WARN (an old ``setx`` variable
  silently winning over the file is the classic trap);
- a settings file holding a secret that every user may read is a FAIL, as ssh refuses such a
  private key; one only its group may read is a WARN (``root:svc 0640`` is a sound setup when
  the group holds only the service's account). Windows is not checked (its ACLs are not
  modes): a note says so.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pydantic import SecretStr

from scheduler.secrets import SECRET_KEYS
from scheduler.settings import CONFIG_ENV, CONFIG_FILE_NAME, Settings

_ENVIRONMENT = "environment "
_NAME_WIDTH = 28  # the longest setting name and its colon, and a space


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it went, and what to do about it.

    ``ok`` False is a FAIL (exit 1); ``warn`` marks an ok check that deserves a look.
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False


def sources_lines(
    settings: Settings, origins: Mapping[str, tuple[str, ...]], config_path: Path | None
) -> list[str]:
    """The settings file read, then each setting given (not left at its default) and where it
    came from."""
    if config_path is None:
        where = f"none found (looked for --config, ${CONFIG_ENV}, ./{CONFIG_FILE_NAME})"
    else:
        where = str(config_path.resolve())
    names = [name for name in Settings.model_fields if name in origins]
    lines = [
        f"settings file: {where}",
        "settings given (the others at their default):" if names else "settings given: none",
    ]
    for name in names:
        shown = f"{name}:".ljust(_NAME_WIDTH)
        lines.append(f"  {shown}{_shown(getattr(settings, name))} (from {origins[name][0]})")
    return lines


def _shown(value: object) -> str:
    """A setting's value as the file would spell it; a secret is only ``set``."""
    if isinstance(value, SecretStr):
        return "set"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def settings_checks(
    origins: Mapping[str, tuple[str, ...]], config_path: Path | None
) -> list[Check]:
    """The override warning and the settings file's access, when they apply."""
    checks = [_overrides(origins, config_path)]
    if config_path is not None:
        checks.append(file_access(config_path, _secrets_in(origins, config_path), os.name))
    return [check for check in checks if check is not None]


def _in_file(source: str, path: Path) -> bool:
    return source == str(path) or source.startswith(f"{path}:")


def _secrets_in(origins: Mapping[str, tuple[str, ...]], path: Path) -> list[str]:
    """The secrets the file sets, used or not."""
    return [
        key for key in SECRET_KEYS if any(_in_file(source, path) for source in origins.get(key, ()))
    ]


def _overrides(origins: Mapping[str, tuple[str, ...]], path: Path | None) -> Check | None:
    """A WARN naming each environment variable that hides a value of the settings file."""
    if path is None:
        return None
    pairs = [
        f"{used[0]} overrides {key} of {next(s for s in used[1:] if _in_file(s, path))}"
        for key, used in origins.items()
        if used[0].startswith(_ENVIRONMENT) and any(_in_file(s, path) for s in used[1:])
    ]
    if not pairs:
        return None
    return Check(
        "overrides",
        True,
        "; ".join(pairs),
        "remove the variable if the file is right (one set with setx stays in every new "
        "session until deleted in System Properties > Environment Variables), or the line "
        "from the file",
        warn=True,
    )


def file_access(path: Path, secrets: Iterable[str], os_name: str) -> Check | None:
    """Who may read the settings file, when it holds a secret (None when it holds none)."""
    names = list(secrets)
    if not names:
        return None
    held = ", ".join(names)
    if os_name == "nt":
        return Check(
            "settings file",
            True,
            f"{path} holds {held}; its access is not checked on Windows: let only the task's "
            "account and administrators read it (Properties > Security)",
        )
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        return Check("settings file", False, f"{path}: cannot stat it: {error.strerror}")
    return _mode_check(path, names, mode)


def _mode_check(path: Path, names: list[str], mode: int) -> Check:
    held = ", ".join(names)
    spelled = f"mode {mode:04o}"
    fix = f"chmod 600 {path} (owned by the account that runs reload-chain)"
    if mode & 0o007:
        verb = "read" if mode & 0o004 else "change"
        return Check(
            "settings file",
            False,
            f"{path} holds {held} and every user of this machine may {verb} it ({spelled})",
            f"{fix}; or keep {held} in the OS keyring instead (reload-chain secrets set "
            f"{names[0]}) and remove it from the file",
        )
    if mode & 0o070:
        return Check(
            "settings file",
            True,
            f"{path} holds {held} and its group may use it ({spelled})",
            f"fine if the group holds only the account that runs reload-chain; else {fix}",
            warn=True,
        )
    return Check("settings file", True, f"{path} holds {held}; only its owner may read it")

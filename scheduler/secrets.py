"""Secrets in the OS keyring: read when neither the environment nor the settings file has them,
and stored by ``reload-chain secrets set``.

The ``keyring`` package picks the backend: the Windows Credential Manager, the macOS Keychain,
the Secret Service of a Linux desktop session. Each secret is one entry of service
``reload-chain`` whose user is ``<tenant host>:<setting>``, for example
``acme.eu.qlikcloud.com:api_key`` (the port belongs to the host when the URL names one), so
one account can keep the secrets of several tenants apart. Nothing is looked up before the
tenant URL is known. A machine without a usable backend (a headless Linux server) finds
nothing there, with one DEBUG line; a backend that fails is one WARNING naming it. A value
read there is validated and scrubbed like one from the environment: it is just another layer,
below the settings file.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from loguru import logger
from pydantic import ValidationError

from scheduler.scrub import Scrubber
from scheduler.settings import ENVIRONMENT, Settings, SettingsError

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

SERVICE = "reload-chain"
SECRET_KEYS = ("api_key", "client_secret")
KEYRING_SOURCE = "keyring"


def tenant_host(tenant_url: str) -> str | None:
    """The host (with its port, when the URL names one) that names a tenant's entries."""
    try:
        parts = urlsplit(tenant_url.strip())
        port = parts.port
    except ValueError:  # a port that is not a number: the settings refuse the URL anyway
        return None
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{port}" if port else parts.hostname


def keyring_user(tenant_url: str, key: str) -> str | None:
    """The entry's user for ``key`` of this tenant: ``<tenant host>:<key>``."""
    host = tenant_host(tenant_url)
    return f"{host}:{key}" if host else None


def keyring_source(user: str) -> str:
    """How an error or ``doctor`` names a value read from the keyring."""
    return f"{KEYRING_SOURCE} {user}"


def wanted_secrets(given: Mapping[str, Any]) -> tuple[str, ...]:
    """The secrets to look up, given the values of the layers above the keyring.

    ``api_key`` only when neither it nor a ``client_id`` is given: a key forgotten in the
    keyring must not silently take over from an OAuth client set in the environment.
    ``client_secret`` only when a ``client_id`` is given without its secret.
    """
    wanted = []
    if given.get("api_key") is None and not given.get("client_id"):
        wanted.append("api_key")
    if given.get("client_id") and given.get("client_secret") is None:
        wanted.append("client_secret")
    return tuple(wanted)


def read_secrets(tenant_url: str, keys: Iterable[str]) -> dict[str, str]:
    """The secrets of ``keys`` this tenant has in the keyring, by setting name.

    Never raises: without a backend nothing is found (DEBUG); a backend's failure is one
    WARNING naming the backend, and what was read before it is kept.
    """
    users = {key: user for key in keys if (user := keyring_user(tenant_url, key))}
    backend = usable_backend() if users else None
    if backend is None:
        return {}
    found: dict[str, str] = {}
    for key, user in users.items():
        try:
            value = backend.get_password(SERVICE, user)
        except Exception as error:  # each backend has its own errors (D-Bus, Win32, Security)
            _warn_unreadable(backend, error)
            break
        if value:
            found[key] = value
        said = "read from" if value else "not in"
        logger.debug("{} {} the keyring ({}, user {})", key, said, backend.name, user)
    return found


def _warn_unreadable(backend: KeyringBackend, error: Exception) -> None:
    from keyring.errors import NoKeyringError

    if isinstance(error, NoKeyringError):
        logger.debug("no usable OS keyring ({}): no secret looked up there", backend.name)
        return
    # The value was not read, so the backend's message cannot hold it.
    logger.warning(
        "cannot read the OS keyring ({}): {}: {}; secrets stored there are not used",
        backend.name,
        type(error).__name__,
        error,
    )


def usable_backend() -> KeyringBackend | None:
    """The keyring's backend, or None (one DEBUG line) when there is none that keeps secrets."""
    import keyring
    from keyring.backends import fail, null

    try:
        backend = keyring.get_keyring()
    except Exception as error:  # a backend named by PYTHON_KEYRING_BACKEND that cannot load
        logger.warning("cannot load the OS keyring: {}: {}", type(error).__name__, error)
        return None
    if isinstance(backend, fail.Keyring | null.Keyring):
        logger.debug("no usable OS keyring ({}): no secret looked up there", backend.name)
        return None
    return backend


def run_secrets(
    action: str,
    name: str,
    settings: Settings,
    origins: Mapping[str, tuple[str, ...]],
    *,
    stdin: TextIO,
    out: TextIO,
) -> int:
    """``reload-chain secrets set|delete NAME``: print where, never the value; exit code."""
    try:
        if action == "set":
            said = store_secret(name, settings, origins, stdin)
        else:
            said = delete_secret(name, settings)
    except KeyboardInterrupt:  # Ctrl+C at the prompt
        out.write(f"interrupted; {name} not changed\n")
        return 130
    out.write(said + "\n")
    return 0


def store_secret(
    name: str, settings: Settings, origins: Mapping[str, tuple[str, ...]], stdin: TextIO
) -> str:
    """Read ``name``'s value from a prompt or stdin and store it; what to print (no value)."""
    user, backend = _entry(name, settings)
    value = _checked(name, read_value(name, user, stdin))
    try:
        backend.set_password(SERVICE, user, value)
    except Exception as error:  # each backend has its own errors
        # The backend had the value: its message is scrubbed of it.
        raise SettingsError(
            f"cannot store {name} in the OS keyring ({backend.name}): "
            f"{type(error).__name__}: {Scrubber([value]).scrub(str(error))}"
        ) from None
    where = f"the OS keyring ({backend.name}): service {SERVICE}, user {user}"
    return "\n".join([f"stored {name} in {where}", *_notes(name, origins)])


def delete_secret(name: str, settings: Settings) -> str:
    """Remove ``name``'s entry of this tenant from the keyring; what to print."""
    from keyring.errors import PasswordDeleteError

    user, backend = _entry(name, settings)
    where = f"the OS keyring ({backend.name}): service {SERVICE}, user {user}"
    try:
        backend.delete_password(SERVICE, user)
    except PasswordDeleteError:
        return f"no {name} in {where}; nothing deleted"
    except Exception as error:  # each backend has its own errors
        raise SettingsError(
            f"cannot delete {name} from the OS keyring ({backend.name}): "
            f"{type(error).__name__}: {error}"
        ) from None
    return f"deleted {name} from {where}"


def _entry(name: str, settings: Settings) -> tuple[str, KeyringBackend]:
    """The entry's user and the backend, or a ``SettingsError`` saying what to do instead."""
    user = keyring_user(settings.tenant_url or "", name)
    if user is None:
        raise SettingsError(
            f"missing setting tenant_url: the keyring entry of {name} is named after the "
            "tenant; set QLIK_TENANT_URL or tenant_url in reload-chain.toml first"
        )
    backend = usable_backend()
    if backend is None:
        raise SettingsError(
            f"no OS keyring on this machine to store {name} in (keyring found no backend; "
            f"a Linux server has none): set {ENVIRONMENT[name]} in the environment of the "
            f"task or service instead, or {name} in the settings file, readable by its "
            "account only (chmod 600)"
        )
    return user, backend


def read_value(name: str, user: str, stdin: TextIO) -> str:
    """The value typed at a prompt that does not echo it, else one line of ``stdin``."""
    if stdin.isatty():
        try:
            return getpass.getpass(f"{name} for {user.rpartition(':')[0]} (not shown): ")
        except EOFError:
            return ""
    line = stdin.readline()
    return line.removesuffix("\n").removesuffix("\r") if line.endswith("\n") else line


def _checked(name: str, value: str) -> str:
    """The value, unless empty or holding what the settings refuse (never shown)."""
    if not value:
        raise SettingsError(f"refused: the value given for {name} is empty; nothing stored")
    try:
        Settings.model_validate({name: value})
    except ValidationError as error:
        problem = error.errors(include_url=False, include_input=False)[0]["msg"]
        raise SettingsError(
            f"refused: the value given for {name} {problem.removeprefix('Value error, ')}; "
            "nothing stored"
        ) from None
    return value


def _notes(name: str, origins: Mapping[str, tuple[str, ...]]) -> list[str]:
    """What would keep the stored value from being used."""
    notes = []
    used = origins.get(name, ())
    if used and not used[0].startswith(KEYRING_SOURCE):
        notes.append(f"note: {used[0]} sets {name} too and is used before the keyring")
    if name == "client_secret" and "client_id" not in origins:
        notes.append(
            "note: client_secret is read from the keyring only when client_id is set "
            f"({ENVIRONMENT['client_id']} or client_id in the settings file)"
        )
    if name == "api_key" and "client_id" in origins:
        notes.append(
            "note: client_id is set, so the keyring's api_key is not read (the OAuth client "
            "is used)"
        )
    return notes

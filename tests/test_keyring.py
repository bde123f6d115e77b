"""Secrets in the OS keyring (issue 16 item 3): looked up below the settings file, validated
and scrubbed like the others, stored by ``reload-chain secrets set`` from a prompt or stdin.

The OS keyring is replaced by an in-memory backend (``keyring.set_keyring``), put back after
each test.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import KeyringLocked, PasswordDeleteError

from scheduler.cli import main
from scheduler.config import load
from scheduler.runtime import Runtime
from scheduler.secrets import keyring_user, tenant_host
from scheduler.settings import SettingsError

TENANT = "https://acme.eu.qlikcloud.com"
HOST = "acme.eu.qlikcloud.com"
KEPT = "kr-SECRET-0123456789abcdef"
ENV = {"QLIK_TENANT_URL": TENANT}


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict; its constructor's argument keeps keyring from ever choosing it."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, entries: dict[tuple[str, str], str]) -> None:
        super().__init__()
        self.entries = entries
        self.asked: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.asked.append(username)
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class LockedKeyring(MemoryKeyring):
    """A backend that fails on every read, as a locked keychain does."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the keyring is locked")


@pytest.fixture
def entries() -> Iterator[dict[tuple[str, str], str]]:
    """The in-memory keyring's entries; the previous backend is put back afterwards."""
    previous = keyring.get_keyring()
    stored: dict[tuple[str, str], str] = {}
    keyring.set_keyring(MemoryKeyring(stored))
    yield stored
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """The backend keyring falls back to when a machine has none."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_entries_are_named_after_the_tenant_host_and_the_setting() -> None:
    assert keyring_user(TENANT, "api_key") == f"{HOST}:api_key"
    assert keyring_user("https://ACME.eu.qlikcloud.com/", "client_secret") == (
        f"{HOST}:client_secret"
    )
    assert tenant_host("http://127.0.0.1:8080") == "127.0.0.1:8080"
    assert tenant_host("not a url") is None


def test_the_environment_and_the_file_come_before_the_keyring(
    entries: dict[tuple[str, str], str], tmp_path: Path
) -> None:
    entries[("reload-chain", f"{HOST}:api_key")] = KEPT
    config = write_config(tmp_path / "rc.toml", 'api_key = "from-the-file"\n')

    both = load(config, environ={**ENV, "QLIK_API_KEY": "from-the-environment"})
    assert both.settings.api_key is not None
    assert both.settings.api_key.get_secret_value() == "from-the-environment"
    assert both.origins["api_key"] == ("environment QLIK_API_KEY", f"{config}:1")

    from_file = load(config, environ=ENV)
    assert from_file.settings.api_key is not None
    assert from_file.settings.api_key.get_secret_value() == "from-the-file"

    only_keyring = load(environ=ENV)
    assert only_keyring.settings.api_key is not None
    assert only_keyring.settings.api_key.get_secret_value() == KEPT
    assert only_keyring.origins["api_key"] == (f"keyring {HOST}:api_key",)


def test_nothing_is_looked_up_before_the_tenant_is_known(
    entries: dict[tuple[str, str], str],
) -> None:
    loaded = load(environ={})
    assert loaded.settings.api_key is None
    assert isinstance(backend := keyring.get_keyring(), MemoryKeyring) and backend.asked == []


def test_an_oauth_client_takes_its_secret_and_never_a_forgotten_key_from_the_keyring(
    entries: dict[tuple[str, str], str],
) -> None:
    entries[("reload-chain", f"{HOST}:api_key")] = "an-old-forgotten-key"
    entries[("reload-chain", f"{HOST}:client_secret")] = KEPT
    settings = load(environ={**ENV, "QLIK_CLIENT_ID": "rc-client"}).settings
    assert settings.api_key is None
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == KEPT


def test_a_machine_without_a_keyring_finds_nothing_quietly(
    no_keyring: None, logged: list[str]
) -> None:
    assert load(environ=ENV).settings.api_key is None
    assert [line for line in logged if not line.startswith(("DEBUG", "TRACE"))] == []
    assert any("no usable OS keyring (fail Keyring)" in line for line in logged)


def test_a_failing_keyring_is_one_warning_naming_the_backend(
    logged: list[str],
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring({}))
    try:
        loaded = load(environ={**ENV, "QLIK_CLIENT_ID": "rc-client", "QLIK_API_KEY": "k" * 8})
    finally:
        keyring.set_keyring(previous)
    assert loaded.settings.client_secret is None
    (warning,) = [line for line in logged if line.startswith("WARNING")]
    assert "test keyring LockedKeyring" in warning and "KeyringLocked" in warning


@pytest.mark.parametrize("bad", [KEPT + "\n", KEPT + " ", "\x00" + KEPT])
def test_a_keyring_value_with_whitespace_is_refused_unseen(
    entries: dict[tuple[str, str], str], bad: str
) -> None:
    entries[("reload-chain", f"{HOST}:api_key")] = bad
    with pytest.raises(SettingsError) as raised:
        load(environ=ENV)
    message = str(raised.value)
    assert f"invalid setting api_key (from keyring {HOST}:api_key)" in message
    assert KEPT not in message
    # secrets set replaces it: a load that does not ask the keyring still works.
    assert load(environ=ENV, keyring=False).settings.api_key is None


def test_a_keyring_secret_is_scrubbed_like_the_others(
    entries: dict[tuple[str, str], str],
) -> None:
    entries[("reload-chain", f"{HOST}:api_key")] = KEPT
    runtime = Runtime.from_loaded(load(environ=ENV))
    assert runtime.scrubber().scrub(f"the tenant said: {KEPT}") == "the tenant said: [redacted]"


def run_secrets(
    argv: list[str],
    text: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> tuple[int, str]:
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code = main(["secrets", *argv, "--log-level", "DEBUG"])
    out, err = capfd.readouterr()
    return code, out + err


@pytest.mark.usefixtures("fresh_logging")
@pytest.mark.parametrize("newline", ["\n", "\r\n", ""])
def test_secrets_set_stores_one_line_of_stdin_and_says_where(
    entries: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    newline: str,
) -> None:
    code, shown = run_secrets(["set", "api_key"], KEPT + newline, monkeypatch, capfd)
    assert code == 0, shown
    assert entries == {("reload-chain", f"{HOST}:api_key"): KEPT}
    assert (
        "stored api_key in the OS keyring (test keyring MemoryKeyring): "
        f"service reload-chain, user {HOST}:api_key"
    ) in shown
    assert KEPT not in shown


@pytest.mark.usefixtures("fresh_logging")
@pytest.mark.parametrize("text", ["", "\n", KEPT + " \n", "\t" + KEPT, KEPT + "\r\r\n"])
def test_secrets_set_refuses_an_empty_value_and_whitespace(
    entries: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    text: str,
) -> None:
    code, shown = run_secrets(["set", "client_secret"], text, monkeypatch, capfd)
    assert code == 2
    (refusal,) = [line for line in shown.splitlines() if "refused" in line]
    assert "ERROR" in refusal and "client_secret" in refusal and "nothing stored" in refusal
    assert entries == {}
    assert KEPT not in shown


@pytest.mark.usefixtures("fresh_logging", "no_keyring")
def test_secrets_set_without_a_keyring_says_what_to_do_instead(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    code, shown = run_secrets(["set", "api_key"], KEPT + "\n", monkeypatch, capfd)
    assert code == 2
    (error,) = [line for line in shown.splitlines() if "ERROR" in line]
    assert "no OS keyring on this machine" in error and "QLIK_API_KEY" in error
    assert KEPT not in shown


@pytest.mark.usefixtures("fresh_logging")
def test_secrets_set_reads_a_terminal_through_a_prompt_that_does_not_echo(
    entries: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(prompt)
        return KEPT

    terminal = io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setattr("sys.stdin", terminal)
    assert main(["secrets", "set", "api_key"]) == 0
    assert prompts == [f"api_key for {HOST} (not shown): "]
    assert entries[("reload-chain", f"{HOST}:api_key")] == KEPT
    assert KEPT not in "".join(capfd.readouterr())


@pytest.mark.usefixtures("fresh_logging")
def test_secrets_set_notes_a_source_that_comes_first(
    entries: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("QLIK_API_KEY", "an-older-key-in-the-environment")
    code, shown = run_secrets(["set", "api_key"], KEPT + "\n", monkeypatch, capfd)
    assert code == 0
    assert "note: environment QLIK_API_KEY sets api_key too and is used before the keyring" in (
        shown
    )


@pytest.mark.usefixtures("fresh_logging")
def test_secrets_delete_removes_the_entry_once(
    entries: dict[tuple[str, str], str],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    entries[("reload-chain", f"{HOST}:api_key")] = KEPT
    code, shown = run_secrets(["delete", "api_key"], "", monkeypatch, capfd)
    assert (code, entries) == (0, {})
    assert "deleted api_key from the OS keyring (test keyring MemoryKeyring)" in shown
    code, shown = run_secrets(["delete", "api_key"], "", monkeypatch, capfd)
    assert code == 0 and "nothing deleted" in shown
    assert KEPT not in shown


def test_the_value_is_never_an_argument() -> None:
    with pytest.raises(SystemExit):
        main(["secrets", "set", "api_key", KEPT])

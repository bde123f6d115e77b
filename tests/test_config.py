"""load_settings: precedence, finding the TOML file, and one-line errors naming the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.config import load, load_settings
from scheduler.settings import SettingsError

SECRET = "sk-very-secret-api-key-0123456789"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    return write(tmp_path / "conf" / "settings.toml", "tolerance_minutes = 20\n")


def error_of(**kwargs: object) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == 2
    message = str(caught.value)
    assert "\n" not in message
    return message


# Precedence: flag > environment > TOML > default.


def test_default_when_no_layer_sets_the_key() -> None:
    assert load_settings(environ={}).tolerance_minutes == 10


def test_toml_beats_default(toml: Path) -> None:
    assert load_settings(toml, environ={}).tolerance_minutes == 20


def test_environment_beats_toml(toml: Path) -> None:
    settings = load_settings(toml, environ={"RELOAD_CHAIN_TOLERANCE_MINUTES": "30"})
    assert settings.tolerance_minutes == 30


def test_flag_beats_environment_and_toml(toml: Path) -> None:
    settings = load_settings(
        toml,
        flags={"tolerance_minutes": 40},
        environ={"RELOAD_CHAIN_TOLERANCE_MINUTES": "30"},
    )
    assert settings.tolerance_minutes == 40


def test_flag_set_to_none_falls_through(toml: Path) -> None:
    settings = load_settings(toml, flags={"tolerance_minutes": None}, environ={})
    assert settings.tolerance_minutes == 20


def test_real_process_environment_is_read(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELOAD_CHAIN_TOLERANCE_MINUTES", "33")
    monkeypatch.setenv("QLIK_TENANT_URL", "https://t.example.com/")
    settings = load_settings(toml)
    assert settings.tolerance_minutes == 33
    assert settings.tenant_url == "https://t.example.com"


def test_explicit_environ_replaces_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELOAD_CHAIN_TOLERANCE_MINUTES", "33")
    assert load_settings(environ={}).tolerance_minutes == 10


def test_every_key_has_its_environment_variable() -> None:
    environ = {
        "QLIK_TENANT_URL": "https://t.example.com",
        "QLIK_API_KEY": SECRET,
        "QLIK_CLIENT_ID": "client",
        "QLIK_CLIENT_SECRET": "client-secret",
        "RELOAD_CHAIN_DB": "/data/state.db",
        "RELOAD_CHAIN_TAG_PREFIX": "then-",
        "RELOAD_CHAIN_TOLERANCE_MINUTES": "11",
        "RELOAD_CHAIN_ONLY_MANAGED_SPACES": "true",
        "RELOAD_CHAIN_AUTO_RESOLVE_ACCESS": "false",
        "RELOAD_CHAIN_INTERVAL_MINUTES": "3",
        "RELOAD_CHAIN_OVERLAP_MINUTES": "6",
        "RELOAD_CHAIN_FIRST_RUN_LOOKBACK_MINUTES": "90",
        "RELOAD_CHAIN_LOG_FILE": "/logs/rc.log",
        "RELOAD_CHAIN_EVENT_TYPE": "com.qlik.v1.reload.finished",
    }
    s = load_settings(environ=environ)
    assert s.tenant_url == "https://t.example.com"
    assert s.api_key is not None
    assert s.api_key.get_secret_value() == SECRET
    assert s.client_id == "client"
    assert s.client_secret is not None
    assert s.client_secret.get_secret_value() == "client-secret"
    assert s.database == Path("/data/state.db")
    assert s.tag_prefix == "then-"
    assert (s.tolerance_minutes, s.interval_minutes, s.overlap_minutes) == (11, 3, 6)
    assert s.first_run_lookback_minutes == 90
    assert s.only_managed_spaces is True
    assert s.auto_resolve_access is False
    assert s.log_file == Path("/logs/rc.log")
    assert s.event_type == "com.qlik.v1.reload.finished"


@pytest.mark.parametrize(("text", "value"), [("true", True), ("1", True), ("false", False)])
def test_boolean_from_environment(text: str, value: bool) -> None:
    settings = load_settings(environ={"RELOAD_CHAIN_ONLY_MANAGED_SPACES": text})
    assert settings.only_managed_spaces is value


def test_zero_from_environment_is_false() -> None:
    settings = load_settings(environ={"RELOAD_CHAIN_AUTO_RESOLVE_ACCESS": "0"})
    assert settings.auto_resolve_access is False


def test_empty_environment_value_is_unset(toml: Path) -> None:
    settings = load_settings(
        toml, environ={"RELOAD_CHAIN_TOLERANCE_MINUTES": "", "RELOAD_CHAIN_TAG_PREFIX": ""}
    )
    assert settings.tolerance_minutes == 20
    assert settings.tag_prefix == "next-"


# Finding the TOML file.


def test_toml_found_through_config_flag(tmp_path: Path) -> None:
    path = write(tmp_path / "flag.toml", 'tag_prefix = "flag-"\n')
    write(Path("reload-chain.toml"), 'tag_prefix = "local-"\n')
    env = write(tmp_path / "env.toml", 'tag_prefix = "env-"\n')
    settings = load_settings(path, environ={"RELOAD_CHAIN_CONFIG": str(env)})
    assert settings.tag_prefix == "flag-"


def test_toml_found_through_config_environment(tmp_path: Path) -> None:
    env = write(tmp_path / "env.toml", 'tag_prefix = "env-"\n')
    write(Path("reload-chain.toml"), 'tag_prefix = "local-"\n')
    assert load_settings(environ={"RELOAD_CHAIN_CONFIG": str(env)}).tag_prefix == "env-"


def test_toml_found_through_real_config_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = write(tmp_path / "env.toml", 'tag_prefix = "env-"\n')
    monkeypatch.setenv("RELOAD_CHAIN_CONFIG", str(env))
    assert load_settings().tag_prefix == "env-"


def test_toml_found_in_working_directory() -> None:
    write(Path("reload-chain.toml"), 'tag_prefix = "local-"\n')
    assert load_settings(environ={}).tag_prefix == "local-"


def test_empty_config_environment_falls_back_to_working_directory() -> None:
    write(Path("reload-chain.toml"), 'tag_prefix = "local-"\n')
    assert load_settings(environ={"RELOAD_CHAIN_CONFIG": ""}).tag_prefix == "local-"


def test_missing_config_flag_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    message = error_of(config_flag=missing, environ={})
    assert str(missing) in message
    assert "--config" in message


def test_missing_config_environment_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    message = error_of(environ={"RELOAD_CHAIN_CONFIG": str(missing)})
    assert str(missing) in message
    assert "RELOAD_CHAIN_CONFIG" in message


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", 'tag_prefix = "x"\ntolerance_minutes 20\n')
    message = error_of(config_flag=path, environ={})
    assert str(path) in message
    assert "line 2" in message


def test_unknown_key_in_toml(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", "x = 1\n")
    assert error_of(config_flag=path, environ={}) == f"unknown setting 'x' in {path}:1"


def test_chain_tables_are_not_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.toml",
        "tolerance_minutes = 15\n"
        "[apps]\nsales = '00000000-0000-4000-8000-000000000001'\n"
        "[[edge]]\nfrom = 'sales'\nto = '00000000-0000-4000-8000-000000000002'\n"
        "[[join]]\ntarget = 'sales'\nafter = ['00000000-0000-4000-8000-000000000002']\n",
    )
    assert load_settings(path, environ={}).tolerance_minutes == 15


def test_relative_database_in_toml_is_relative_to_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "conf" / "s.toml", 'database = "data/state.db"\nlog_file = "../rc.log"\n'
    )
    settings = load_settings(path, environ={})
    assert settings.database == (tmp_path / "conf" / "data" / "state.db").resolve()
    assert settings.log_file == (tmp_path / "rc.log").resolve()


def test_absolute_database_in_toml_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "state.db"
    path = write(tmp_path / "conf" / "s.toml", f'database = "{target.as_posix()}"\n')
    assert load_settings(path, environ={}).database == target.resolve()


# Invalid values: one line naming key and source.


def test_invalid_environment_value_names_variable() -> None:
    message = error_of(environ={"RELOAD_CHAIN_TOLERANCE_MINUTES": "soon"})
    assert message.startswith(
        "invalid setting tolerance_minutes (from environment RELOAD_CHAIN_TOLERANCE_MINUTES): "
    )
    assert "integer" in message


def test_invalid_toml_value_names_file(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", "overlap_minutes = -1\n")
    message = error_of(config_flag=path, environ={})
    assert message.startswith(f"invalid setting overlap_minutes (from {path}:1): ")


def test_invalid_flag_value_names_flag() -> None:
    message = error_of(flags={"interval_minutes": 0.2}, environ={})
    assert message.startswith("invalid setting interval_minutes (from --interval-minutes): ")
    assert "0.25" in message


def test_invalid_tenant_url_from_environment() -> None:
    message = error_of(environ={"QLIK_TENANT_URL": "http://example.com"})
    assert message.startswith("invalid setting tenant_url (from environment QLIK_TENANT_URL): ")
    assert "https://" in message
    assert "Value error" not in message


def test_invalid_event_type_names_key() -> None:
    message = error_of(environ={"RELOAD_CHAIN_EVENT_TYPE": "com.qlik.v1.other"})
    assert "event_type (from environment RELOAD_CHAIN_EVENT_TYPE)" in message


@pytest.mark.parametrize("value", ["123456789012", '["' + SECRET + '"]', '{k = "' + SECRET + '"}'])
def test_bad_api_key_error_hides_the_value(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "s.toml", f"api_key = {value}\n")
    message = error_of(config_flag=path, environ={})
    assert message.startswith(f"invalid setting api_key (from {path}:1)")
    assert SECRET not in message
    assert "123456789012" not in message


def test_toml_that_is_not_utf8_is_a_settings_error(tmp_path: Path) -> None:
    # A file saved as Windows-1252 by Notepad: "# données".
    path = tmp_path / "s.toml"
    path.write_bytes(b"# donn\xe9es\ntolerance_minutes = 5\n")
    message = error_of(config_flag=path, environ={})
    assert str(path) in message


CHAINS = """tag_prefix = "chain-"

[apps]
extract = "3f0a0000-0000-4000-8000-000000000001"

[[edge]]
from = "extract"
to = ["8b1c0000-0000-4000-8000-000000000002"]
on = "any"

[[join]]
target = "8b1c0000-0000-4000-8000-000000000002"
after = ["extract", "8c2e0000-0000-4000-8000-000000000003"]
within_minutes = 360
"""


def test_load_reads_the_chain_file_beside_the_settings(tmp_path: Path) -> None:
    path = write(tmp_path / "chains.toml", CHAINS)
    loaded = load(path, environ={})
    assert loaded.settings.tag_prefix == "chain-"
    (edge,) = loaded.chain.edges
    assert (edge.source, edge.on) == ("3f0a0000-0000-4000-8000-000000000001", "any")
    assert edge.origin == f"{path}:6"
    (join,) = loaded.chain.joins
    assert join.within_minutes == 360 and len(join.after) == 2


def test_a_chain_file_error_is_a_settings_error_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "chains.toml", CHAINS.replace('on = "any"', 'on = "sometimes"'))
    message = error_of(config_flag=path, environ={})
    assert message.startswith(f"{path}:9: on = 'sometimes'")


def test_no_chain_file_means_no_chains(toml: Path) -> None:
    assert load(toml, environ={}).chain.edges == ()
    assert load(environ={}).chain.joins == ()


def test_a_misspelt_setting_names_its_line_and_the_likely_one(tmp_path: Path) -> None:
    text = '# settings\ntenant_url = "https://t.example.com"\n\ntolerence_minutes = 5\n'
    path = write(tmp_path / "s.toml", text)
    assert error_of(config_flag=path, environ={}) == (
        f"unknown setting 'tolerence_minutes' in {path}:4; did you mean 'tolerance_minutes'?"
    )


def test_a_misspelt_table_is_suggested_too(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", 'alerts = "x"\n')
    assert error_of(config_flag=path, environ={}).endswith("; did you mean 'alert'?")


def test_a_key_far_from_any_setting_gets_no_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "s.toml", "colour = 3\n")
    assert error_of(config_flag=path, environ={}) == f"unknown setting 'colour' in {path}:1"

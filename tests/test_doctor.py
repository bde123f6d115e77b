"""``reload-chain doctor``: where each setting came from, each check, and exit 0 only when
none failed; native tasks declared twice, stopped or not listable are warnings."""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import takewhile
from pathlib import Path

import httpx
import keyring
import pytest

from scheduler.cli import main
from scheduler.doctor import diagnose
from scheduler.doctor_settings import file_access
from scheduler.runtime import Runtime
from scheduler.settings import Settings
from simulator.scenario import AppSpec, Scenario, SpaceSpec, UserSpec, builtin_scenario
from simulator.server import SimulatorServer
from tests.conftest import NOW
from tests.fake_tenant import TENANT, FakeTenant
from tests.native_rows import task_json
from tests.native_tenant import mixed


@pytest.fixture
def finance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SimulatorServer]:
    scenario = builtin_scenario()
    with SimulatorServer(scenario) as sim:
        monkeypatch.setenv("QLIK_TENANT_URL", sim.url)
        monkeypatch.setenv("QLIK_API_KEY", scenario.api_key)
        monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
        yield sim


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def checks(out: list[str]) -> list[str]:
    """The check lines, after the sources section."""
    return [line for line in out if line.startswith(("ok", "FAIL", "WARN"))]


def sources(out: list[str]) -> list[str]:
    """The settings given, as the sources section lists them (spaces squeezed)."""
    start = out.index("settings given (the others at their default):") + 1
    given = takewhile(lambda line: line.startswith("  "), out[start:])
    return [" ".join(line.split()) for line in given]


def test_a_healthy_tenant_passes_every_check(
    finance: SimulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 0
    everything = lines(capsys)
    out = checks(everything)
    names = [line.split(":")[0].split()[-1] for line in out]
    assert names == [
        "settings",
        "database",
        "identity",
        "audits",
        "reloads",
        "chains",
        "permissions",
        "tasks",
        "tasks",
    ]
    assert all(line.startswith("ok") for line in out[:7])
    assert "signed in as Sim Admin (admin)" in out[2]
    # The finance tenant's native tasks: one hop declared both ways, one task disabled.
    assert out[7].startswith("WARN native tasks: Finance extract -> Finance transform is ")
    assert out[8].startswith('WARN native tasks: native task "Accounts Receivable after ')
    assert "is disabled (CONSECUTIVE-FAILURES)" in out[8]
    assert everything[-1] == "all checks passed, 2 warning(s)"


def test_missing_apps_and_cycles_fail_with_what_to_do(
    finance: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = {app.key: app.id for app in finance.tenant.scenario.apps}
    config = tmp_path / "reload-chain.toml"
    config.write_text(
        f'[[edge]]\nfrom = "{ids["dashboard"]}"\nto = ["{ids["transform"]}", '
        '"5c0f9b1e-3a2d-4c8b-9e7f-0a1b2c3d4e5f"]\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "doctor"]) == 1
    chains = next(line for line in lines(capsys) if "chains:" in line)
    assert chains.startswith("FAIL")
    assert "missing app 5c0f9b1e-3a2d-4c8b-9e7f-0a1b2c3d4e5f" in chains
    assert "cycle " in chains and "Finance transform" in chains


def test_a_chained_app_in_someone_elses_personal_space_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = Scenario(
        users=[UserSpec(id="robot", name="Robot", api_key="k"), UserSpec(id="bob", name="Bob")],
        spaces=[SpaceSpec(id="s", name="S", type="shared")],
        apps=[
            AppSpec(key="source", space="s", next=["mine"]),
            AppSpec(key="mine", name="Bob's private app", owner="bob"),
        ],
    )
    with SimulatorServer(scenario) as sim:
        monkeypatch.setenv("QLIK_TENANT_URL", sim.url)
        monkeypatch.setenv("QLIK_API_KEY", "k")
        monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
        assert main(["doctor"]) == 1
    out = lines(capsys)
    permissions = next(i for i, line in enumerate(out) if "permissions:" in line)
    assert out[permissions].startswith("FAIL") and "Bob's private app" in out[permissions]
    assert "move them to a shared or managed space" in out[permissions + 1]


def test_a_rejected_key_fails_the_identity_check(
    finance: SimulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QLIK_API_KEY", "wrong-key")
    assert main(["doctor"]) == 1
    out = checks(lines(capsys))
    assert out[2].startswith("FAIL identity") and "401" in out[2]
    assert "wrong-key" not in "\n".join(out)
    assert not any(line.startswith(("ok   audits", "FAIL audits")) for line in out)


def test_missing_settings_are_reported_without_asking_any_tenant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["doctor"]) == 1
    out = lines(capsys)
    assert out[:3] == [
        "settings file: none found (looked for --config, $RELOAD_CHAIN_CONFIG, "
        "./reload-chain.toml)",
        "settings given: none",
        out[2],
    ]
    assert out[2].startswith("FAIL settings: missing setting tenant_url")
    assert out[-1] == "1 check(s) failed"


def test_a_damaged_database_fails_its_check_in_one_line(
    finance: SimulatorServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.test_database import damaged_database

    damaged_database(tmp_path / "state.db")

    assert main(["doctor"]) == 1
    (line,) = [line for line in lines(capsys) if line.startswith("FAIL database")]
    assert "damaged" in line and "quick_check" in line


def test_each_setting_not_at_its_default_is_listed_with_its_source(
    finance: SimulatorServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "reload-chain.toml"
    config.write_text("# tuned for the night\ntolerance_minutes = 15\n", encoding="utf-8")
    assert main(["--config", str(config), "doctor", "--log-json"]) == 0
    out = lines(capsys)
    assert out[0] == f"settings file: {config.resolve()}"
    assert sources(out) == [
        f"tenant_url: {finance.url} (from environment QLIK_TENANT_URL)",
        "api_key: set (from environment QLIK_API_KEY)",
        f"database: {tmp_path / 'state.db'} (from environment RELOAD_CHAIN_DB)",
        f"tolerance_minutes: 15 (from {config}:2)",
        "log_json: true (from --log-json)",
    ]
    assert finance.tenant.scenario.api_key not in "\n".join(out)


def test_a_secret_from_the_keyring_is_shown_as_set_from_there(
    finance: SimulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_keyring import MemoryKeyring

    key = finance.tenant.scenario.api_key
    host = finance.url.removeprefix("http://")
    monkeypatch.delenv("QLIK_API_KEY")
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring({("reload-chain", f"{host}:api_key"): key}))
    try:
        assert main(["doctor"]) == 0
    finally:
        keyring.set_keyring(previous)
    out = lines(capsys)
    assert f"api_key: set (from keyring {host}:api_key)" in sources(out)
    assert key not in "\n".join(out)


def test_an_environment_variable_hiding_the_file_is_a_warning_naming_both(
    finance: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "reload-chain.toml"
    config.write_text("tolerance_minutes = 15\n", encoding="utf-8")
    monkeypatch.setenv("RELOAD_CHAIN_TOLERANCE_MINUTES", "30")
    assert main(["--config", str(config), "doctor"]) == 0
    out = lines(capsys)
    warnings = [line for line in out if line.startswith("WARN")]
    (warning,) = [line for line in warnings if not line.startswith("WARN native tasks")]
    assert warning == (
        "WARN overrides: environment RELOAD_CHAIN_TOLERANCE_MINUTES overrides "
        f"tolerance_minutes of {config}:1"
    )
    assert "setx" in out[out.index(warning) + 1]
    assert "tolerance_minutes: 30 (from environment RELOAD_CHAIN_TOLERANCE_MINUTES)" in (
        sources(out)
    )
    assert out[-1] == f"all checks passed, {len(warnings)} warning(s)"


# A file mode, and the check line and exit code it gives (``{}``: the file holding api_key).
ACCESS_CASES = [
    (
        0o644,
        "FAIL settings file: {} holds api_key and every user of this machine may read it "
        "(mode 0644)",
        1,
    ),
    (
        0o602,
        "FAIL settings file: {} holds api_key and every user of this machine may change "
        "it (mode 0602)",
        1,
    ),
    (0o640, "WARN settings file: {} holds api_key and its group may use it (mode 0640)", 0),
    (0o600, "ok   settings file: {} holds api_key; only its owner may read it", 0),
]


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
@pytest.mark.parametrize("case", ACCESS_CASES, ids=lambda case: f"{case[0]:04o}")
def test_a_settings_file_holding_a_secret_is_checked_for_other_users(
    finance: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: tuple[int, str, int],
) -> None:
    mode, expected, code = case
    key = finance.tenant.scenario.api_key
    monkeypatch.delenv("QLIK_API_KEY")
    config = tmp_path / "reload-chain.toml"
    config.write_text(f'api_key = "{key}"\n', encoding="utf-8")
    config.chmod(mode)
    assert main(["--config", str(config), "doctor"]) == code
    out = lines(capsys)
    assert [line for line in checks(out) if "settings file:" in line] == [expected.format(config)]
    assert key not in "\n".join(out)


def test_a_file_without_secrets_needs_no_access_check_and_windows_gets_a_note(
    tmp_path: Path,
) -> None:
    config = tmp_path / "reload-chain.toml"
    assert file_access(config, [], "posix") is None
    note = file_access(config, ["client_secret"], "nt")
    assert note is not None and note.ok and "not checked on Windows" in note.detail


@pytest.fixture
def fake(tenant: FakeTenant, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeTenant:
    """The respx tenant, with the settings to reach it."""
    monkeypatch.setenv("QLIK_TENANT_URL", TENANT)
    monkeypatch.setenv("QLIK_API_KEY", "key")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    return tenant


def native_lines(out: list[str]) -> list[str]:
    """The native tasks check lines, each with its fix."""
    start = [n for n, line in enumerate(out) if "native tasks:" in line]
    return [
        line for n in start for line in out[n : n + 2] if "native tasks:" in line or "->" in line
    ]


def test_a_hop_declared_twice_and_stopped_native_tasks_are_warnings(
    fake: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = mixed(fake)
    assert main(["doctor"]) == 0
    out = lines(capsys)
    assert native_lines(out) == [
        f"WARN native tasks: App 1 -> App 2 is declared twice, by tag next-{apps.two} and by "
        'native task "Reload t-b" (t-b); after a run of the task upstream, reload-chain leaves '
        "this hop to the native task",
        "     -> remove the tag or the task",
        'WARN native tasks: native task "Reload t-c" (t-c) is disabled (CONSECUTIVE-FAILURES): '
        "it no longer reloads App 3 after App 2",
        "     -> fix what disabled it and enable it in the app's schedule, or delete it",
        'WARN native tasks: native task "Reload t-d" (t-d) waits on task t-gone, which is not '
        "listed (deleted, or on an app this identity may not reload): it no longer reloads "
        "App 4 after App 3",
        "     -> point it at an existing task, or delete it",
    ]
    assert "ok   chains: 1 edges and 0 joins over 2 apps" in out  # native apps are not chains
    assert out[-1] == "all checks passed, 3 warning(s)"


def test_a_hop_declared_twice_after_an_app_reload_chain_reloads_keeps_its_tag(
    fake: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    # X -> A by tag, A -> B by tag and by a native task: after reloads of A that reload-chain
    # starts no native task fires, so removing the tag would lose B after them.
    a, b = fake.add_app(1), fake.add_app(2)
    fake.add_app(3, tags=[f"next-{a}"])
    fake.apps[a].tags.append(f"next-{b}")
    fake.tasks = [task_json("t-a", a), task_json("t-b", b, after="t-a", after_app=a)]
    assert main(["doctor"]) == 0
    warning, fix = native_lines(lines(capsys))
    assert "App 1 -> App 2 is declared twice" in warning
    assert fix == (
        "     -> keep the tag: reload-chain also reloads App 1, and no native task fires after "
        "those reloads; or delete the task and let reload-chain run the hop"
    )


def test_a_hop_whose_native_task_will_not_fire_is_not_left_to_it(
    fake: FakeTenant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = fake.add_app(1), fake.add_app(2)
    (tmp_path / "reload-chain.toml").write_text(
        f'[[edge]]\nfrom = "{one}"\nto = "{two}"\n', encoding="utf-8"
    )
    disabled = task_json("t-b", two, after="t-a", enabled=False, disabled_code="MANUALLY")
    fake.tasks = [task_json("t-a", one), disabled]
    assert main(["--config", str(tmp_path / "reload-chain.toml"), "doctor"]) == 0
    (warning, fix) = native_lines(lines(capsys))
    assert "declared twice" not in warning and "is disabled (MANUALLY)" in warning
    assert fix.endswith("or delete it")


def test_the_chain_file_hop_declared_twice_names_the_file(
    fake: FakeTenant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = fake.add_app(1), fake.add_app(2)
    config = tmp_path / "reload-chain.toml"
    config.write_text(f'[[edge]]\nfrom = "{one}"\nto = "{two}"\non = "any"\n', encoding="utf-8")
    fake.tasks = [task_json("t-a", one), task_json("t-b", two, after="t-a", status="FAILED")]
    assert main(["--config", str(config), "doctor"]) == 0
    (warning, fix) = native_lines(lines(capsys))
    assert f"by the chain file ({config}:1) and by native task" in warning
    assert fix == "     -> remove the chain-file edge or the task"


def test_an_identity_that_may_not_list_native_tasks_is_told_once(
    fake: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed(fake)
    fake.tasks_answer = httpx.Response(403, json={"errors": [{"code": "HTTP-403"}]})
    assert main(["doctor"]) == 0
    out = lines(capsys)
    assert native_lines(out) == [
        "WARN native tasks: this identity may not list native reload tasks "
        "(GET /api/scheduling/tasks answered 403 or 404)",
        "     -> successors a native task starts may be reloaded twice; grant the identity the "
        "TenantAdmin role (or reload permission on the apps with tasks), or ignore this if you "
        "use no native tasks",
    ]
    assert out[-1] == "all checks passed, 1 warning(s)"


def test_native_tasks_that_all_fire_are_one_ok_line(
    fake: FakeTenant, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = fake.add_app(1), fake.add_app(2)
    fake.tasks = [task_json("t-a", one), task_json("t-b", two, after="t-a", after_app=one)]
    assert main(["doctor"]) == 0
    assert native_lines(lines(capsys)) == [
        "ok   native tasks: 2 listed, 1 of them started by another task's run; none stopped, "
        "no hop declared twice"
    ]


def test_the_tags_and_the_native_tasks_are_listed_once_for_every_check(
    fake: FakeTenant, tmp_path: Path
) -> None:
    mixed(fake)
    runtime = Runtime(Settings(tenant_url=TENANT, api_key="key", database=tmp_path / "s.db"))
    with runtime:
        checks = diagnose(runtime, NOW)
        calls = runtime.client().calls
    assert [check.name for check in checks].count("native tasks") == 3
    assert calls["GET /api/scheduling/tasks"] == 1
    assert calls["GET /api/v1/collections"] == 1

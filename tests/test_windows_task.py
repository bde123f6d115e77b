"""``reload-chain schedule-task``: the Task Scheduler XML, its encoding, paths and validation."""

from __future__ import annotations

import argparse
import codecs
import io
import signal
import sys
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scheduler.cli import main
from scheduler.config import load
from scheduler.runner import STOP_SIGNALS, WAKE_S, build_scheduler
from scheduler.settings import SettingsError
from scheduler.windows_task import DEFAULT_XML, NAMESPACE, duration, program, write_task
from tests.conftest import NOW

NS = {"t": NAMESPACE}
SETTINGS = 'tenant_url = "https://tenant.eu.qlikcloud.com"\napi_key = "secret-key-123"\n'


def namespace(
    every: int = 15, xml: Path | None = None, name: str = "reload-chain", config: Path | None = None
) -> argparse.Namespace:
    return argparse.Namespace(every=every, xml=xml, name=name, config=config, log_level="INFO")


def write(
    every: int = 15, xml: Path | None = None, name: str = "reload-chain", config: Path | None = None
) -> tuple[Path, str]:
    """Run write_task; the XML file written and what it printed."""
    args = namespace(every, xml, name, config)
    out = io.StringIO()
    config_path = load(args.config).config_path  # as main() finds it
    assert write_task(args, out, now=NOW, config=config_path) == 0
    target = args.xml if args.xml is not None else Path(DEFAULT_XML)
    return target.absolute(), out.getvalue()


def parse(path: Path) -> ET.Element:
    """Parse the bytes as a Windows tool would: the BOM tells the parser it is UTF-16."""
    return ET.parse(path).getroot()


def text(root: ET.Element, path: str) -> str | None:
    return root.findtext(path, namespaces=NS)


@pytest.fixture
def settings_file() -> Path:
    """A reload-chain.toml in the working directory, as users keep it."""
    path = Path.cwd() / "reload-chain.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    return path


@pytest.fixture
def tenant_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QLIK_TENANT_URL", "https://tenant.eu.qlikcloud.com")
    monkeypatch.setenv("QLIK_API_KEY", "secret-key-123")


def test_task_is_in_the_task_scheduler_namespace() -> None:
    path, _ = write()
    root = parse(path)
    assert root.tag == f"{{{NAMESPACE}}}Task"
    assert root.get("version") == "1.2"
    assert "reload-chain" in (text(root, "t:RegistrationInfo/t:Description") or "")


def test_file_is_utf16_little_endian_with_bom() -> None:
    path, _ = write()
    data = path.read_bytes()
    assert data.startswith(codecs.BOM_UTF16_LE)
    document = data.decode("utf-16")
    assert document.startswith('<?xml version="1.0" encoding="UTF-16"?>\n<Task ')


def test_trigger_repeats_every_n_minutes_indefinitely() -> None:
    root = parse(write(every=15)[0])
    (trigger,) = root.findall("t:Triggers/t:TimeTrigger", NS)
    assert text(trigger, "t:Repetition/t:Interval") == "PT15M"
    assert trigger.find("t:Repetition/t:Duration", NS) is None
    assert text(trigger, "t:StartBoundary") == "2026-11-22T10:00:00Z"
    assert text(trigger, "t:Enabled") == "true"


def test_settings_never_run_two_sweeps_and_catch_up() -> None:
    root = parse(write(every=15)[0])
    settings = root.find("t:Settings", NS)
    assert settings is not None
    assert text(settings, "t:MultipleInstancesPolicy") == "IgnoreNew"
    assert text(settings, "t:ExecutionTimeLimit") == "PT2H"
    assert text(settings, "t:StartWhenAvailable") == "true"
    assert text(settings, "t:DisallowStartIfOnBatteries") == "false"
    assert text(settings, "t:StopIfGoingOnBatteries") == "false"
    assert text(settings, "t:RunOnlyIfNetworkAvailable") == "true"
    assert text(settings, "t:AllowHardTerminate") == "true"
    assert text(settings, "t:Enabled") == "true"


def test_principal_runs_logged_off_without_a_stored_password() -> None:
    path, printed = write()
    root = parse(path)
    (principal,) = root.findall("t:Principals/t:Principal", NS)
    assert text(principal, "t:LogonType") == "S4U"
    assert text(principal, "t:RunLevel") == "LeastPrivilege"
    assert principal.find("t:UserId", NS) is None
    assert "Password" not in path.read_bytes().decode("utf-16")
    actions = root.find("t:Actions", NS)
    assert actions is not None and actions.get("Context") == principal.get("id")
    assert "secret-key-123" not in printed


@pytest.mark.parametrize(
    ("every", "interval", "limit"),
    [
        (1, "PT1M", "PT2H"),
        (60, "PT1H", "PT2H"),
        (90, "PT1H30M", "PT3H"),
        (1439, "PT23H59M", "PT47H58M"),
    ],
)
def test_time_limit_is_two_hours_or_two_intervals(every: int, interval: str, limit: str) -> None:
    root = parse(write(every=every)[0])
    assert text(root, "t:Triggers/t:TimeTrigger/t:Repetition/t:Interval") == interval
    assert text(root, "t:Settings/t:ExecutionTimeLimit") == limit


def test_duration_is_written_the_way_task_scheduler_writes_it() -> None:
    assert [duration(m) for m in (1, 59, 60, 61, 120, 2878)] == [
        "PT1M",
        "PT59M",
        "PT1H",
        "PT1H1M",
        "PT2H",
        "PT47H58M",
    ]


def test_exec_runs_the_installed_script_with_the_settings_file(settings_file: Path) -> None:
    root = parse(write()[0])
    execute = root.find("t:Actions/t:Exec", NS)
    assert execute is not None
    command = Path(text(execute, "t:Command") or "")
    assert command == program()[0]
    assert command.is_absolute()
    assert text(execute, "t:Arguments") == f'--config "{settings_file}" sweep'
    assert text(execute, "t:WorkingDirectory") == str(Path.cwd())


def test_installed_script_is_found_beside_this_python() -> None:
    # The test environment has the package installed, so its console script exists.
    command, leading = program()
    assert leading == []
    assert command.is_file()
    assert command.name in ("reload-chain", "reload-chain.exe")


def test_without_the_script_python_runs_the_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings_file: Path
) -> None:
    python = tmp_path / "Python 3.11" / "python.exe"
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *a, **k: str(tmp_path / "none"))
    root = parse(write()[0])
    assert text(root, "t:Actions/t:Exec/t:Command") == str(python)
    arguments = f'-m scheduler --config "{settings_file}" sweep'
    assert text(root, "t:Actions/t:Exec/t:Arguments") == arguments


def test_without_a_settings_file_there_is_no_config_flag() -> None:
    path, printed = write()
    assert text(parse(path), "t:Actions/t:Exec/t:Arguments") == "sweep"
    assert "No settings file found" in printed


def test_config_path_is_absolute_even_when_given_relatively() -> None:
    folder = Path.cwd() / "conf"
    folder.mkdir()
    (folder / "prod.toml").write_text(SETTINGS, encoding="utf-8")
    root = parse(write(config=Path("conf") / "prod.toml")[0])
    expected = Path.cwd() / "conf" / "prod.toml"
    assert text(root, "t:Actions/t:Exec/t:Arguments") == f'--config "{expected}" sweep'


def test_config_from_the_environment_is_made_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    (Path.cwd() / "env.toml").write_text(SETTINGS, encoding="utf-8")
    monkeypatch.setenv("RELOAD_CHAIN_CONFIG", "env.toml")
    root = parse(write()[0])
    expected = Path.cwd() / "env.toml"
    assert text(root, "t:Actions/t:Exec/t:Arguments") == f'--config "{expected}" sweep'


def test_default_xml_is_in_the_working_directory_and_the_schtasks_line_is_printed() -> None:
    path, printed = write(name="reload-chain")
    assert path == Path.cwd() / "reload-chain-task.xml"
    assert path.is_file()
    lines = printed.splitlines()
    assert lines[0].startswith(f"Task definition written to {path} ")
    assert f'  schtasks /Create /XML "{path}" /TN "reload-chain"' in lines
    assert "/RU" in printed and "/RP" in printed


def test_xml_option_creates_missing_folders_and_is_made_absolute() -> None:
    path, printed = write(xml=Path("out") / "tasks" / "sweep.xml", name="\\Qlik\\reload chain")
    assert path == Path.cwd() / "out" / "tasks" / "sweep.xml"
    assert parse(path).tag == f"{{{NAMESPACE}}}Task"
    assert f'schtasks /Create /XML "{path}" /TN "\\Qlik\\reload chain"' in printed


def test_spaces_ampersands_and_angle_brackets_are_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    folder = Path.cwd() / "Q & A <prod> 'x'"
    folder.mkdir()
    monkeypatch.chdir(folder)
    (folder / "reload-chain.toml").write_text(SETTINGS, encoding="utf-8")
    path, _ = write()
    raw = path.read_bytes().decode("utf-16")
    assert "Q &amp; A &lt;prod&gt;" in raw
    execute = parse(path).find("t:Actions/t:Exec", NS)
    assert execute is not None
    assert text(execute, "t:WorkingDirectory") == str(folder)
    expected = f'--config "{folder / "reload-chain.toml"}" sweep'
    assert text(execute, "t:Arguments") == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a/b",
        'say "hi"',
        "a|b",
        "a:b",
        "what?",
        "tab\there",
        " lead",
        "trail ",
        "\\",
        "x\\..\\y",
        "a\\\\b",
    ],
)
def test_names_task_scheduler_refuses_are_settings_errors(name: str) -> None:
    with pytest.raises(SettingsError, match="--name") as caught:
        write(name=name)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)
    assert not (Path.cwd() / DEFAULT_XML).exists()


def test_unwritable_xml_path_is_a_settings_error() -> None:
    (Path.cwd() / "taken").mkdir()
    with pytest.raises(SettingsError, match=r"--xml .*taken.*cannot write"):
        write(xml=Path("taken"))


@pytest.mark.parametrize("every", ["0", "-5", "1440", "100000"])
def test_bad_every_exits_2_with_one_line_through_the_cli(
    every: str, tenant_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedule-task", "--every", every]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1
    assert "--every" in err[0] and every in err[0]
    assert captured.out == ""
    assert not (Path.cwd() / DEFAULT_XML).exists()


def test_non_numeric_every_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["schedule-task", "--every", "often"])
    assert caught.value.code == 2
    assert "--every" in capsys.readouterr().err


def test_cli_writes_the_task_with_a_relative_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Path.cwd() / "my settings & more"
    folder.mkdir()
    (folder / "prod.toml").write_text(SETTINGS, encoding="utf-8")
    argv = ["--config", "my settings & more/prod.toml", "schedule-task", "--format", "windows"]
    argv += ["--every", "15"]
    assert main([*argv, "--xml", str(tmp_path / "task.xml"), "--name", "Qlik chain"]) == 0
    root = parse(tmp_path / "task.xml")
    expected = f'--config "{folder / "prod.toml"}" sweep'
    assert text(root, "t:Actions/t:Exec/t:Arguments") == expected
    assert text(root, "t:Triggers/t:TimeTrigger/t:Repetition/t:Interval") == "PT15M"
    out = capsys.readouterr().out
    assert f'schtasks /Create /XML "{tmp_path / "task.xml"}" /TN "Qlik chain"' in out
    assert "secret-key-123" not in out


def test_cli_default_writes_beside_the_settings(
    settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedule-task", "--format", "windows", "--every", "5"]) == 0
    path = Path.cwd() / DEFAULT_XML
    assert text(parse(path), "t:Triggers/t:TimeTrigger/t:Repetition/t:Interval") == "PT5M"
    assert f'schtasks /Create /XML "{path}" /TN "reload-chain"' in capsys.readouterr().out


# The Windows audit: ``reload-chain run`` must hear Ctrl+C (and Ctrl+Break) there too.


class RecordingEvent:
    """Stands in for the scheduler's wake-up event; never set, so every wait times out."""

    def __init__(self) -> None:
        self.timeouts: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.timeouts.append(timeout)
        return False


def test_run_stops_on_ctrl_c_ctrl_break_and_sigterm() -> None:
    assert signal.SIGINT in STOP_SIGNALS and signal.SIGTERM in STOP_SIGNALS
    if hasattr(signal, "SIGBREAK"):
        assert signal.SIGBREAK in STOP_SIGNALS


def test_idle_scheduler_wakes_every_second_so_windows_runs_signal_handlers() -> None:
    scheduler = build_scheduler(lambda: None, interval_minutes=2, first_run=NOW)
    event = RecordingEvent()
    scheduler._event = event
    scheduler._wait(3.5)
    assert event.timeouts == [WAKE_S, WAKE_S, WAKE_S, 0.5]

"""``reload-chain schedule-task --format systemd|cron``: the units, the crontab line, quoting."""

from __future__ import annotations

import argparse
import configparser
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler import linux_task
from scheduler.cli import main
from scheduler.linux_task import (
    RUN_SERVICE,
    SWEEP_SERVICE,
    SWEEP_TIMER,
    chosen_format,
    cron_schedule,
    default_format,
    write_linux_task,
)
from scheduler.settings import SettingsError
from scheduler.windows_task import DEFAULT_XML, program

SETTINGS = 'tenant_url = "https://tenant.eu.qlikcloud.com"\napi_key = "secret-key-123"\n'
UNITS = (SWEEP_SERVICE, SWEEP_TIMER, RUN_SERVICE)
# A folder name with everything systemd or cron would misread: blanks, both quotes, a
# specifier, a variable, a backslash, a shell operator.
AWKWARD = "Q & A 'x' \"y\" 100% $HOME \\z"


@pytest.fixture
def settings_file() -> Path:
    """A reload-chain.toml in the working directory, as users keep it."""
    path = Path.cwd() / "reload-chain.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    return path


@pytest.fixture
def awkward_folder(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory, named AWKWARD, with its settings file."""
    folder = Path.cwd() / AWKWARD
    folder.mkdir()
    monkeypatch.chdir(folder)
    (folder / "reload-chain.toml").write_text(SETTINGS, encoding="utf-8")
    return folder


def run_task(chosen: str, every: int = 5, folder: Path | None = None) -> str:
    """Run write_linux_task with the settings file main() would find; what it printed."""
    config = Path("reload-chain.toml") if Path("reload-chain.toml").is_file() else None
    out = io.StringIO()
    args = argparse.Namespace(every=every, dir=folder)
    assert write_linux_task(chosen, args, out, config=config) == 0
    return out.getvalue()


def unit(name: str, folder: Path | None = None) -> configparser.ConfigParser:
    """A written unit file, parsed; keys keep their case."""
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(((folder or Path.cwd()) / name).read_text(encoding="utf-8"))
    return parser


def exec_words(value: str) -> list[str]:
    """ExecStart= as systemd reads it: %% is %, C-style quotes, $$ is $ past the program."""
    words = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', value.replace("%%", "%"))
    plain = [re.sub(r"\\(.)", r"\1", w[1:-1]) if w.startswith('"') else w for w in words]
    return [plain[0], *(w.replace("$$", "$") for w in plain[1:])]


def cron_unescape(command: str) -> str:
    r"""What vixie cron and cronie give /bin/sh: \% becomes %, a bare % ends the command."""
    out: list[str] = []
    escaped = False
    for c in command:
        if escaped:
            out[-1:] = ["%"] if c == "%" else [out[-1], c]
            escaped = False
        elif c == "%":
            break
        else:
            escaped = c == "\\"
            out.append(c)
    return "".join(out)


def crontab_entry(printed: str) -> tuple[str, str]:
    """The printed entry's five time fields and its command."""
    comment, entry = printed.splitlines()[:2]
    assert comment.startswith("# reload-chain: ")
    fields = entry.split(" ", 5)
    return " ".join(fields[:5]), fields[5]


# systemd


def test_sweep_service_runs_one_sweep_and_takes_exit_3_as_success(settings_file: Path) -> None:
    run_task("systemd")
    parsed = unit(SWEEP_SERVICE)
    assert parsed.sections() == ["Unit", "Service"]  # no [Install]: the timer starts it
    assert "sweep" in parsed["Unit"]["Description"]
    assert parsed["Unit"]["Wants"] == parsed["Unit"]["After"] == "network-online.target"
    service = parsed["Service"]
    assert service["Type"] == "oneshot"
    assert service["WorkingDirectory"] == str(Path.cwd())
    assert exec_words(service["ExecStart"]) == [
        str(program()[0]),
        "--config",
        str(settings_file),
        "sweep",
    ]
    assert service["SuccessExitStatus"] == "3 143"
    assert service["TimeoutStartSec"] == "120min"
    assert service["SyslogIdentifier"] == "reload-chain"
    assert "Restart" not in service and "User" not in service
    assert set(service) == {
        "Type",
        "WorkingDirectory",
        "ExecStart",
        "SuccessExitStatus",
        "TimeoutStartSec",
        "SyslogIdentifier",
    }


def test_timer_starts_the_sweep_at_boot_then_every_n_minutes() -> None:
    run_task("systemd", every=15)
    parsed = unit(SWEEP_TIMER)
    assert parsed.sections() == ["Unit", "Timer", "Install"]
    assert "every 15 minutes" in parsed["Unit"]["Description"]
    assert dict(parsed["Timer"]) == {
        "OnBootSec": "1min",
        "OnUnitActiveSec": "15min",
        "AccuracySec": "1s",
        "Unit": SWEEP_SERVICE,
    }
    assert dict(parsed["Install"]) == {"WantedBy": "timers.target"}


def test_run_service_restarts_on_failure_and_stops_on_sigterm(settings_file: Path) -> None:
    run_task("systemd", every=5)
    parsed = unit(RUN_SERVICE)
    assert parsed.sections() == ["Unit", "Service", "Install"]
    assert parsed["Unit"]["Wants"] == parsed["Unit"]["After"] == "network-online.target"
    service = parsed["Service"]
    assert service["Type"] == "simple"
    assert service["WorkingDirectory"] == str(Path.cwd())
    command = [str(program()[0]), "--config", str(settings_file)]
    assert exec_words(service["ExecStart"]) == [*command, "run", "--interval-minutes", "5"]
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "30s"
    assert service["RestartPreventExitStatus"] == "2"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"] == "5min"
    assert service["SyslogIdentifier"] == "reload-chain"
    assert dict(parsed["Install"]) == {"WantedBy": "multi-user.target"}


def test_user_and_environment_file_are_suggested_commented_out() -> None:
    run_task("systemd")
    for name in (SWEEP_SERVICE, RUN_SERVICE):
        lines = (Path.cwd() / name).read_text(encoding="utf-8").splitlines()
        assert "#User=reload-chain" in lines
        assert "#EnvironmentFile=/etc/reload-chain/reload-chain.env" in lines


@pytest.mark.parametrize(
    ("every", "limit"), [(1, "120min"), (60, "120min"), (90, "180min"), (1439, "2878min")]
)
def test_sweep_time_limit_is_two_hours_or_two_intervals(every: int, limit: str) -> None:
    run_task("systemd", every=every)
    assert unit(SWEEP_SERVICE)["Service"]["TimeoutStartSec"] == limit
    assert unit(SWEEP_TIMER)["Timer"]["OnUnitActiveSec"] == f"{every}min"


def test_without_a_settings_file_there_is_no_config_flag() -> None:
    printed = run_task("systemd")
    words = exec_words(unit(SWEEP_SERVICE)["Service"]["ExecStart"])
    assert words == [str(program()[0]), "sweep"]
    assert "No settings file found" in printed and "EnvironmentFile=" in printed


def test_awkward_paths_are_quoted_the_systemd_way(awkward_folder: Path) -> None:
    run_task("systemd")
    raw = (awkward_folder / SWEEP_SERVICE).read_text(encoding="utf-8")
    # WorkingDirectory= is taken unquoted; only the specifier sign is doubled.
    assert f"WorkingDirectory={str(awkward_folder).replace('%', '%%')}\n" in raw
    config = str(awkward_folder / "reload-chain.toml")
    quoted = config.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    assert f'--config "{quoted.replace("$", "$$")}" sweep\n' in raw
    assert exec_words(unit(SWEEP_SERVICE)["Service"]["ExecStart"])[1:] == [
        "--config",
        config,
        "sweep",
    ]


def test_program_path_doubles_percent_but_not_dollar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd expands specifiers in the program's path but never variables.
    script = tmp_path / "my env 100% $x" / "bin" / "reload-chain"
    monkeypatch.setattr(linux_task, "program", lambda: (script, []))
    run_task("systemd")
    value = unit(SWEEP_SERVICE)["Service"]["ExecStart"]
    assert value == f'"{tmp_path}/my env 100%% $x/bin/reload-chain" sweep'


def test_python_runs_the_module_without_the_script(monkeypatch: pytest.MonkeyPatch) -> None:
    python = Path("/opt/Python 3.11/bin/python3")
    monkeypatch.setattr(linux_task, "program", lambda: (python, ["-m", "scheduler"]))
    run_task("systemd")
    words = exec_words(unit(RUN_SERVICE)["Service"]["ExecStart"])
    assert words == [str(python), "-m", "scheduler", "run", "--interval-minutes", "5"]


@pytest.mark.parametrize("bad", ["it's", 'say "hi"', "back\\slash"])
def test_program_path_systemd_refuses_is_a_settings_error(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(linux_task, "program", lambda: (Path(f"/opt/{bad}/reload-chain"), []))
    with pytest.raises(SettingsError, match="quote or a backslash") as caught:
        run_task("systemd")
    assert "\n" not in str(caught.value)
    assert not (Path.cwd() / SWEEP_SERVICE).exists()


@pytest.mark.parametrize(("name", "reason"), [("new\nline", "control"), ("trail ", "space")])
def test_working_directory_systemd_cannot_hold_is_refused(
    name: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path.cwd() / name
    folder.mkdir()
    monkeypatch.chdir(folder)
    with pytest.raises(SettingsError, match=reason):
        run_task("systemd")
    assert not any(folder.iterdir())


def test_dir_option_is_made_absolute_and_created() -> None:
    printed = run_task("systemd", folder=Path("units") / "new")
    folder = Path.cwd() / "units" / "new"
    assert sorted(p.name for p in folder.iterdir()) == sorted(UNITS)
    assert printed.startswith(f"systemd units written to {folder}:\n")
    # The units still run in the working directory, not in --dir.
    assert unit(SWEEP_SERVICE, folder)["Service"]["WorkingDirectory"] == str(Path.cwd())


def test_unwritable_dir_is_a_settings_error() -> None:
    (Path.cwd() / "taken").write_text("a file", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"--dir .*taken.*cannot write"):
        run_task("systemd", folder=Path("taken"))


def test_printed_steps_quote_awkward_paths_for_the_shell(awkward_folder: Path) -> None:
    printed = run_task("systemd")
    (copy,) = [line for line in printed.splitlines() if line.startswith("  sudo cp ")]
    words = shlex.split(copy)
    assert words[2:] == [*(str(awkward_folder / n) for n in UNITS), "/etc/systemd/system/"]


# systemd-analyze, where it is installed


def analyze(*paths: Path) -> subprocess.CompletedProcess[str]:
    command = ["systemd-analyze", "verify", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def systemd_analyze(tmp_path: Path) -> None:
    """Skip unless ``systemd-analyze verify`` is installed and works here."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the units are checked by parsing only")
    canary = tmp_path / "canary.service"
    canary.write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n", encoding="utf-8")
    if (done := analyze(canary)).returncode != 0:
        pytest.skip(f"systemd-analyze verify does not work here: {done.stderr.strip()}")


@pytest.mark.usefixtures("systemd_analyze")
def test_systemd_analyze_verifies_the_units(awkward_folder: Path) -> None:
    run_task("systemd")
    done = analyze(*(awkward_folder / name for name in UNITS))
    assert done.returncode == 0, done.stderr
    assert not any(name in done.stderr for name in UNITS), done.stderr


@pytest.mark.usefixtures("systemd_analyze")
def test_systemd_analyze_finds_a_program_with_an_awkward_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # verify checks that the program exists: this proves the quoting of its path.
    script = tmp_path / "my env 100% $x & y" / "reload-chain"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setattr(linux_task, "program", lambda: (script, []))
    run_task("systemd")
    assert analyze(Path.cwd() / SWEEP_SERVICE).returncode == 0
    script.unlink()  # and that it really looks
    assert "not executable" in analyze(Path.cwd() / SWEEP_SERVICE).stderr


# cron


@pytest.mark.parametrize(
    ("every", "fields"),
    [
        (1, "* * * * *"),
        (5, "*/5 * * * *"),
        (15, "*/15 * * * *"),
        (30, "*/30 * * * *"),
        (60, "0 * * * *"),
        (120, "0 */2 * * *"),
        (720, "0 */12 * * *"),
    ],
)
def test_cron_schedule_for_intervals_that_divide_the_hour_or_day(every: int, fields: str) -> None:
    assert cron_schedule(every) == fields
    assert crontab_entry(run_task("cron", every=every))[0] == fields


@pytest.mark.parametrize("every", [7, 45, 90, 100, 1439])
def test_cron_refuses_an_interval_it_cannot_repeat_evenly(every: int) -> None:
    with pytest.raises(SettingsError, match=f"--every {every}: .*--format systemd") as caught:
        cron_schedule(every)
    assert "\n" not in str(caught.value)


def test_cron_line_is_a_quiet_sweep_in_the_working_directory(settings_file: Path) -> None:
    before = sorted(Path.cwd().iterdir())
    printed = run_task("cron", every=15)
    assert sorted(Path.cwd().iterdir()) == before  # cron writes nothing
    _, command = crontab_entry(printed)
    config = ["--config", str(settings_file)]
    assert shlex.split(cron_unescape(command)) == [
        "cd",
        str(Path.cwd()),
        "&&",
        str(program()[0]),
        *config,
        "--log-level",
        "WARNING",
        "sweep",
        ">",
        "/dev/null",
    ]
    assert "crontab -e" in printed and "INFO" in printed and "warnings and errors" in printed
    assert "secret-key-123" not in printed


def test_cron_line_quotes_quotes_and_escapes_percent(awkward_folder: Path) -> None:
    _, command = crontab_entry(run_task("cron"))
    assert re.search(r"(?<!\\)%", command) is None  # no % that cron would cut the line at
    words = shlex.split(cron_unescape(command))
    assert words[:2] == ["cd", str(awkward_folder)]
    assert words[4:6] == ["--config", str(awkward_folder / "reload-chain.toml")]


@pytest.mark.parametrize("through_cron", [True, False], ids=["vixie-cron", "no-percent-rule"])
def test_cron_line_runs_in_a_real_shell(
    through_cron: bool, awkward_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "bin 100% 'q' $x" / "reload-chain"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\nprintf "%s\\n" "$PWD" "$@" > "$OUT"\n', encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setattr(linux_task, "program", lambda: (script, []))
    _, command = crontab_entry(run_task("cron"))
    shell = cron_unescape(command) if through_cron else command
    out = tmp_path / "args.txt"
    env = {**os.environ, "OUT": str(out)}
    subprocess.run(["/bin/sh", "-c", shell], cwd=tmp_path, env=env, check=True, timeout=30)
    config = str(awkward_folder / "reload-chain.toml")
    lines = [str(awkward_folder), "--config", config, "--log-level", "WARNING", "sweep"]
    assert out.read_text(encoding="utf-8").splitlines() == lines


def test_cron_without_a_settings_file_says_so() -> None:
    printed = run_task("cron", every=5)
    assert "--config" not in crontab_entry(printed)[1]
    assert "No settings file found" in printed


# The format: chosen, or the platform's; options of another format refused


def test_default_format_follows_the_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(linux_task, "SYSTEMD_MARKER", tmp_path / "run-systemd-system")
    monkeypatch.setattr(sys, "platform", "linux")
    assert default_format() == "cron"
    (tmp_path / "run-systemd-system").mkdir()
    assert default_format() == "systemd"
    monkeypatch.setattr(sys, "platform", "win32")
    assert default_format() == "windows"


def namespace(**given: object) -> argparse.Namespace:
    values: dict[str, object] = {"format": None, "xml": None, "name": None, "dir": None}
    return argparse.Namespace(**(values | given))


@pytest.mark.parametrize(
    ("given", "option"),
    [
        ({"format": "systemd", "xml": Path("t.xml")}, "--xml"),
        ({"format": "cron", "name": "reload-chain"}, "--name"),
        ({"format": "windows", "dir": Path("units")}, "--dir"),
        ({"format": "cron", "dir": Path("units")}, "--dir"),
    ],
)
def test_an_option_of_another_format_is_refused(given: dict[str, object], option: str) -> None:
    with pytest.raises(SettingsError, match=f"^{option} is only for --format") as caught:
        chosen_format(namespace(**given))
    assert caught.value.exit_code == 2


def test_options_of_the_chosen_format_are_accepted() -> None:
    assert chosen_format(namespace(format="systemd", dir=Path("u"))) == "systemd"
    windows = namespace(format="windows", xml=Path("t.xml"), name="x")
    assert chosen_format(windows) == "windows"


# End to end, through main()


@pytest.fixture
def on_linux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Linux without systemd; mkdir the returned marker to have systemd."""
    monkeypatch.setattr(sys, "platform", "linux")
    marker = tmp_path / "run-systemd-system"
    monkeypatch.setattr(linux_task, "SYSTEMD_MARKER", marker)
    return marker


def test_cli_writes_the_systemd_units(
    tmp_path: Path, settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "units dir"
    assert main(["schedule-task", "--format", "systemd", "--every", "5", "--dir", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(UNITS)
    words = exec_words(unit(SWEEP_SERVICE, folder)["Service"]["ExecStart"])
    assert words[1:] == ["--config", str(settings_file), "sweep"]
    out = capsys.readouterr().out
    for step in (
        "never both",
        "User=",
        "/etc/systemd/system/",
        "sudo systemctl daemon-reload",
        f"sudo systemctl enable --now {SWEEP_TIMER}",
        f"journalctl -u {SWEEP_SERVICE}",
        "~/.config/systemd/user",
        f"systemctl --user enable --now {SWEEP_TIMER}",
        f"systemctl --user add-wants default.target {RUN_SERVICE}",
        "loginctl enable-linger",
    ):
        assert step in out, step
    assert "secret-key-123" not in out


def test_cli_default_is_systemd_where_it_runs(
    on_linux: Path, settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    on_linux.mkdir()
    assert main(["schedule-task", "--every", "10"]) == 0
    assert unit(SWEEP_TIMER)["Timer"]["OnUnitActiveSec"] == "10min"
    assert not (Path.cwd() / DEFAULT_XML).exists()


def test_cli_default_is_cron_elsewhere(
    on_linux: Path, settings_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedule-task", "--every", "10"]) == 0
    assert crontab_entry(capsys.readouterr().out)[0] == "*/10 * * * *"
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["reload-chain.toml"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--format", "cron", "--every", "7"], ["--every 7", "--format systemd"]),
        (["--format", "systemd", "--every", "5", "--xml", "t.xml"], ["--xml", "windows"]),
        (["--every", "5", "--name", "x"], ["--name", "this system's default"]),
        (["--format", "cron", "--every", "0"], ["--every", "0"]),
    ],
)
def test_cli_refusals_are_one_line_and_exit_2(
    argv: list[str],
    words: list[str],
    on_linux: Path,
    settings_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schedule-task", *argv]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert all(word in line for word in words), line
    assert captured.out == ""
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["reload-chain.toml"]

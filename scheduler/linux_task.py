"""``reload-chain schedule-task --format systemd|cron``: units or a crontab line that sweep.

Like the Windows task it calls neither systemd nor cron: it writes the units or prints the
line, and what to do next, so it works (and is tested) anywhere.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TextIO

from scheduler.settings import SettingsError
from scheduler.windows_task import absolute, check_every, program

# What sd_booted() checks: this folder exists only while systemd is the init system.
SYSTEMD_MARKER = Path("/run/systemd/system")
SWEEP_SERVICE = "reload-chain-sweep.service"
SWEEP_TIMER = "reload-chain-sweep.timer"
RUN_SERVICE = "reload-chain.service"
# An option of one format only is refused with another rather than silently ignored.
OWN_FORMAT = {"xml": "windows", "name": "windows", "dir": "systemd"}
# systemd refuses an executable path holding these ("contains special characters").
NOT_IN_EXECUTABLE = frozenset("\"'\\")
CRON_EVERY = "1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60 minutes, or 2, 3, 4, 6, 8 or 12 hours"


def _service(what: str, kind: str) -> str:
    """The start of both services; ``{folder}`` and ``{command}`` are filled in later."""
    return f"""[Unit]
Description=reload-chain: {what}
Wants=network-online.target
After=network-online.target

[Service]
Type={kind}
WorkingDirectory={{folder}}
ExecStart={{command}}
SyslogIdentifier=reload-chain
# As a system unit: the account that owns the settings and the database.
#User=reload-chain
# Secrets as QLIK_API_KEY=... lines, in a file only root can read (chmod 600).
#EnvironmentFile=/etc/reload-chain/reload-chain.env
"""


SWEEP_TEXT = _service("one sweep, starting the reloads that follow finished ones", "oneshot")
SWEEP_TEXT += """# 3: another sweep holds the lock, the next run sweeps; 143: stopped by SIGTERM.
SuccessExitStatus=3 143
# No Restart=: the timer's next run retries an exit 1; an exit 2 needs a fix.
# Two hours, or two intervals if longer: a hung sweep must not block the next ones.
TimeoutStartSec={limit}min
"""
TIMER_TEXT = """[Unit]
Description=reload-chain: a sweep every {every} minutes

[Timer]
# Soon after boot (at once when enabled later), then {every} minutes after each start;
# a run due while a sweep still runs is skipped: never two at once.
OnBootSec=1min
OnUnitActiveSec={every}min
AccuracySec=1s
Unit={service}

[Install]
WantedBy=timers.target
"""
RUN_TEXT = _service("the background process, a sweep every {every} minutes", "simple")
RUN_TEXT += """# SIGTERM stops it with exit 0: the running sweep makes no new call and commits.
KillSignal=SIGTERM
TimeoutStopSec=5min
# Restarted after a crash or an exit 1 or 3; an exit 2 (settings) waits for a fix.
Restart=on-failure
RestartSec=30s
RestartPreventExitStatus=2

[Install]
WantedBy=multi-user.target
"""


def default_format() -> str:
    """``windows`` on Windows, ``systemd`` where systemd is the init system, else ``cron``."""
    if sys.platform == "win32":
        return "windows"
    return "systemd" if SYSTEMD_MARKER.is_dir() else "cron"


def chosen_format(args: argparse.Namespace) -> str:
    """``--format``, else the platform's; an option of another format is a ``SettingsError``."""
    chosen: str = args.format or default_format()
    for option, owner in OWN_FORMAT.items():
        if getattr(args, option, None) is not None and chosen != owner:
            how = "" if args.format else " (this system's default)"
            message = f"--{option} is only for --format {owner}, not {chosen}{how}"
            raise SettingsError(f"{message}: leave --{option} out or add --format {owner}")
    return chosen


def write_linux_task(
    chosen: str, args: argparse.Namespace, out: TextIO, *, config: Path | None
) -> int:
    """Write the units into ``args.dir`` or print the crontab line, each with what next."""
    check_every(args.every)
    config = absolute(config) if config is not None else None
    workdir = absolute(Path.cwd())
    if chosen == "cron":
        out.write(cron_text(args.every, workdir, config))
        return 0
    folder = absolute(args.dir if args.dir is not None else workdir)
    _write_units(folder, systemd_units(args.every, workdir, config))
    out.write(_systemd_instructions(folder, args.every, config))
    return 0


def systemd_units(every: int, workdir: Path, config: Path | None) -> dict[str, str]:
    """The three unit files by name: the sweep service, its timer, and the ``run`` service."""
    folder = _plain(workdir, "the working directory", "systemd unit", unit=True)
    limit = max(120, 2 * every)  # minutes, as the Windows task's ExecutionTimeLimit
    keys = {"every": every, "folder": folder.replace("%", "%%"), "limit": limit}
    run = exec_start(config, ["run", "--interval-minutes", str(every)])
    return {
        SWEEP_SERVICE: SWEEP_TEXT.format(**keys, command=exec_start(config, ["sweep"])),
        SWEEP_TIMER: TIMER_TEXT.format(**keys, service=SWEEP_SERVICE),
        RUN_SERVICE: RUN_TEXT.format(**keys, command=run),
    }


def exec_start(config: Path | None, command: list[str]) -> str:
    """``ExecStart=``'s value: the program, ``--config "<file>"`` if there is one, ``command``."""
    executable, leading = program()
    path = _plain(executable, "the program", "systemd unit")
    if NOT_IN_EXECUTABLE & set(path):
        why = "systemd runs no program whose path holds a quote or a backslash"
        raise SettingsError(f"{path}: {why}; install reload-chain in another folder")
    settings = ["--config", systemd_quote(str(config))] if config else []
    # The program is neither unescaped nor expanded as a variable: only % is doubled.
    return " ".join(['"' + path.replace("%", "%%") + '"', *leading, *settings, *command])


def systemd_quote(value: str) -> str:
    """One ``ExecStart=`` argument in C-style quotes, ``%`` (specifiers) and ``$`` doubled."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("%", "%%").replace("$", "$$") + '"'


def _write_units(folder: Path, units: dict[str, str]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in units.items():
            (folder / name).write_text(text, encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"--dir {folder}: cannot write: {error.strerror or error}") from None


def _systemd_instructions(folder: Path, every: int, config: Path | None) -> str:
    described = {
        SWEEP_SERVICE: "one sweep; exit 3 (another sweep holds the lock) is no failure",
        SWEEP_TIMER: f"starts it at boot, then every {every} minutes",
        RUN_SERVICE: f"or instead: reload-chain run, a sweep every {every} minutes",
    }
    lines = [f"systemd units written to {folder}:"]
    lines += [f"  {name:<28}{what}" for name, what in described.items()]
    lines += ["Enable the timer or the run service, never both.", *_enable_steps(folder)]
    return _with_settings_note(lines, config, "a service", ", or in an EnvironmentFile=")


def _enable_steps(folder: Path) -> list[str]:
    units = (SWEEP_SERVICE, SWEEP_TIMER, RUN_SERVICE)
    files = " ".join(shlex.quote(str(folder / name)) for name in units)
    return [
        "As system units: add User=ACCOUNT under [Service] in both .service files, the account",
        "that owns the settings and the database (without it they run as root), then:",
        f"  sudo cp {files} /etc/systemd/system/",
        "  sudo systemctl daemon-reload",
        f"  sudo systemctl enable --now {SWEEP_TIMER}   # or: {RUN_SERVICE}",
        f"  journalctl -u {SWEEP_SERVICE}   # or -u {RUN_SERVICE}; systemctl list-timers",
        "Or as user units of this account (no User= line):",
        f"  mkdir -p ~/.config/systemd/user && cp {files} ~/.config/systemd/user/",
        f"  systemctl --user daemon-reload && systemctl --user enable --now {SWEEP_TIMER}",
        f"  # or: systemctl --user add-wants default.target {RUN_SERVICE} && "
        f"systemctl --user start {RUN_SERVICE}",
        '  sudo loginctl enable-linger "$USER"   # run them from boot, logged in or not',
        f"  journalctl --user -u {SWEEP_SERVICE}",
    ]


def cron_schedule(every: int) -> str:
    """Cron's five time fields for a sweep every ``every`` minutes, or a ``SettingsError``."""
    if 60 % every == 0:
        return {1: "* * * * *", 60: "0 * * * *"}.get(every, f"*/{every} * * * *")
    if every % 60 == 0 and 1440 % every == 0:
        return f"0 */{every // 60} * * *"
    raise SettingsError(
        f"--every {every}: cron repeats evenly only every {CRON_EVERY}; "
        "choose one of those or use --format systemd"
    )


def cron_quote(value: str) -> str:
    """``value`` in shell single quotes, each ``%`` outside them as ``\\%`` (cron's escape)."""
    # Cron turns \% into %; anywhere else the shell does. Out of the quotes, no backslash of
    # the path can come before it.
    return "'" + value.replace("'", "'\\''").replace("%", "'\\%'") + "'"


def cron_line(every: int, workdir: Path, config: Path | None) -> str:
    """The crontab entry: in ``workdir``, a quiet sweep that prints only warnings and errors."""
    executable, leading = program()
    words = [cron_quote(_plain(executable, "the program", "crontab")), *leading]
    if config is not None:
        words += ["--config", cron_quote(_plain(config, "the settings file", "crontab"))]
    folder = cron_quote(_plain(workdir, "the working directory", "crontab"))
    command = " ".join([*words, "--log-level", "WARNING", "sweep"])
    return f"{cron_schedule(every)} cd {folder} && {command} > /dev/null"


def cron_text(every: int, workdir: Path, config: Path | None) -> str:
    """The crontab lines (a comment and the entry), then what to do with them."""
    lines = [
        f"# reload-chain: a sweep every {every} minutes (cron mails warnings and errors)",
        cron_line(every, workdir, config),
        "",
        "Add both lines with crontab -e, as the account that owns the settings and the database.",
        "Cron mails that account what a run writes: only warnings and errors, as routine lines "
        "are INFO (with --log-level WARNING, log_file keeps only those too).",
        "A run due while the last one still sweeps exits 3 at once, with one ERROR line.",
    ]
    return _with_settings_note(lines, config, "cron", "")


def _with_settings_note(lines: list[str], config: Path | None, who: str, other: str) -> str:
    if config is None:
        lines.append(
            f"No settings file found: {who} sees none of this shell's variables; put the "
            f"settings in a reload-chain.toml here{other} (chmod 600 if it holds a secret)."
        )
    return "\n".join(lines) + "\n"


def _plain(path: Path, what: str, where: str, *, unit: bool = False) -> str:
    text = str(path)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise SettingsError(f"{what} {text!r}: a {where} cannot hold its control characters")
    if unit and text != text.rstrip():  # systemd strips a value's trailing blanks
        raise SettingsError(f"{what} {text!r}: a {where} cannot end a path with a space")
    return text

"""``reload-chain schedule-task``: a Windows Task Scheduler definition that runs ``sweep``.

It only writes an XML file and prints the ``schtasks`` line that registers it, so it works (and
is tested) on any system; nothing here calls Windows.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import sysconfig
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from scheduler.settings import SettingsError

NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"
DEFAULT_XML = "reload-chain-task.xml"
DEFAULT_NAME = "reload-chain"  # the task name without --name
# A repetition under one day; a sweep once a day or less often is a calendar trigger's job.
MAX_EVERY = 1439
# Characters Windows forbids in file names, and so in task names; "\" separates task folders.
FORBIDDEN_IN_NAME = frozenset('<>:"/|?*')
DESCRIPTION = (
    "reload-chain: one sweep every {every} minutes, starting the Qlik Cloud reloads that "
    "follow the ones that finished (written by reload-chain schedule-task)."
)


def write_task(args: argparse.Namespace, out: TextIO, *, now: datetime, config: Path | None) -> int:
    """Write the task XML and print the ``schtasks`` line that registers it.

    ``args`` carries ``every``, ``xml`` and ``name``; ``now`` is the trigger's start;
    ``config`` is the settings file the settings were read from, which the task reads too.
    """
    check_every(args.every)
    check_name(args.name)
    config = absolute(config) if config is not None else None
    target = absolute(args.xml if args.xml is not None else Path(DEFAULT_XML))
    root = task_xml(args.every, now, config, absolute(Path.cwd()))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(encode(root))
    except OSError as error:
        raise SettingsError(f"--xml {target}: cannot write: {error.strerror or error}") from None
    out.write(_instructions(target, args.name, args.every, config))
    return 0


def check_every(every: int) -> None:
    """``--every`` is a whole number of minutes in 1..1439, or a ``SettingsError``."""
    if not 1 <= every <= MAX_EVERY:
        raise SettingsError(f"--every must be from 1 to {MAX_EVERY} minutes, not {every}")


def check_name(name: str) -> None:
    r"""A name Task Scheduler accepts: ``reload-chain`` or ``\Folder\reload-chain``."""
    bad = sorted({c for c in name if c in FORBIDDEN_IN_NAME or ord(c) < 32})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise SettingsError(f"--name {name!r}: Task Scheduler forbids {shown} in a task name")
    parts = name.removeprefix("\\").split("\\")
    if any(p in ("", ".", "..") or p != p.strip(" ") for p in parts):
        raise SettingsError(
            f"--name {name!r}: give a task name such as reload-chain or \\Qlik\\reload-chain "
            "(no empty, '.' or '..' parts, no leading or trailing spaces)"
        )


def task_xml(every: int, now: datetime, config: Path | None, workdir: Path) -> ET.Element:
    """The ``<Task>`` element: a sweep every ``every`` minutes from ``now`` on."""
    # The xmlns attribute, rather than ET.register_namespace, keeps ElementTree's global
    # prefix table untouched; the parsed document is in the Task namespace all the same.
    task = ET.Element("Task", {"version": "1.2", "xmlns": NAMESPACE})
    info = ET.SubElement(task, "RegistrationInfo")
    _leaf(info, "Description", DESCRIPTION.format(every=every))
    _trigger(ET.SubElement(task, "Triggers"), every, now)
    _principal(ET.SubElement(task, "Principals"))
    _settings(ET.SubElement(task, "Settings"), every)
    _action(ET.SubElement(task, "Actions", {"Context": "Author"}), config, workdir)
    return task


def _action(actions: ET.Element, config: Path | None, workdir: Path) -> None:
    command, leading = program()
    # Quoted always: the path may hold spaces, and Windows paths cannot hold a quote.
    arguments = [*leading, *(["--config", f'"{config}"'] if config else []), "sweep"]
    execute = ET.SubElement(actions, "Exec")
    _leaf(execute, "Command", str(command))
    _leaf(execute, "Arguments", " ".join(arguments))
    _leaf(execute, "WorkingDirectory", str(workdir))


def _trigger(triggers: ET.Element, every: int, now: datetime) -> None:
    trigger = ET.SubElement(triggers, "TimeTrigger")
    repetition = ET.SubElement(trigger, "Repetition")
    # No <Duration>: the repetition goes on indefinitely.
    _leaf(repetition, "Interval", duration(every))
    _leaf(repetition, "StopAtDurationEnd", "false")
    start = now.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    _leaf(trigger, "StartBoundary", start.isoformat() + "Z")
    _leaf(trigger, "Enabled", "true")


def _principal(principals: ET.Element) -> None:
    # S4U runs the task whether or not its user is logged on, and Windows stores no password
    # for it: what an unattended job wants. Its one limit, no Windows-authenticated network
    # access (shares), does not touch HTTPS to Qlik Cloud. No <UserId>: the account that
    # registers the task (or schtasks /RU) is the one it runs as.
    principal = ET.SubElement(principals, "Principal", {"id": "Author"})
    _leaf(principal, "LogonType", "S4U")
    _leaf(principal, "RunLevel", "LeastPrivilege")


def _settings(settings: ET.Element, every: int) -> None:
    _leaf(settings, "MultipleInstancesPolicy", "IgnoreNew")  # never two sweeps at once
    _leaf(settings, "DisallowStartIfOnBatteries", "false")
    _leaf(settings, "StopIfGoingOnBatteries", "false")
    _leaf(settings, "AllowHardTerminate", "true")
    _leaf(settings, "StartWhenAvailable", "true")  # a missed run starts late: catch-up
    _leaf(settings, "RunOnlyIfNetworkAvailable", "true")
    _leaf(settings, "AllowStartOnDemand", "true")
    _leaf(settings, "Enabled", "true")
    # Two hours, or two intervals if longer. A sweep commits only at its end, so killing a long
    # catch-up means redoing it: the largest measured backlog (20,000 events, 500 starts) takes
    # about 10 minutes under Qlik's rate limits, 12 times under the floor. A hung sweep must end
    # too: IgnoreNew skips every run while it hangs. Killing is safe (the OS frees the lock and
    # the ledger stops a double start), and a longer interval means more events per sweep.
    _leaf(settings, "ExecutionTimeLimit", duration(max(120, 2 * every)))


def _leaf(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text


def duration(minutes: int) -> str:
    """Minutes as an XML duration, the way Task Scheduler writes it: 90 -> ``PT1H30M``."""
    hours, rest = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{rest}M" if rest else "")


def program() -> tuple[Path, list[str]]:
    """The installed ``reload-chain`` script, else this Python with ``-m scheduler``."""
    script = "reload-chain.exe" if os.name == "nt" else "reload-chain"
    python = absolute(Path(sys.executable))
    # Scripts\ (Windows) or bin/ of this environment; a venv's python sits in it too.
    for folder in (Path(sysconfig.get_path("scripts")), python.parent):
        if (folder / script).is_file():
            return absolute(folder / script), []
    return python, ["-m", "scheduler"]


def encode(task: ET.Element) -> bytes:
    """The document as UTF-16 little-endian with a byte-order mark.

    That is what Task Scheduler itself exports and what ``schtasks /Create /XML`` reads
    reliably: UTF-8 files, with or without a BOM, are refused ("(1,2)::ERROR: incorrect
    document syntax"), and the ANSI code page would lose characters of paths and names.
    The declaration must name the same encoding as the bytes.
    """
    ET.indent(task)
    text = ET.tostring(task, encoding="unicode")
    document = f'<?xml version="1.0" encoding="UTF-16"?>\n{text}\n'
    return codecs.BOM_UTF16_LE + document.encode("utf-16-le")


def absolute(path: Path) -> Path:
    """``path`` made absolute against the working directory, links kept as they are."""
    # abspath, not resolve(): resolve() follows links, and a venv's python is a link to the
    # base interpreter, outside the venv; on Windows it also turns mapped drives into UNC paths.
    return Path(os.path.abspath(path))


def _instructions(target: Path, name: str, every: int, config: Path | None) -> str:
    lines = [
        f"Task definition written to {target} (a sweep every {every} minutes).",
        "Register it from an elevated command prompt (add /F to replace an existing task):",
        f'  schtasks /Create /XML "{target}" /TN "{name}"',
        "It runs as the account that registers it, logged on or not; no password is stored.",
        "To run it as another account, add /RU DOMAIN\\account /RP and type that account's "
        "password when schtasks asks for it; never write a password into a file.",
        "Task Scheduler keeps no console output: set log_file in the settings to keep logs.",
    ]
    if config is None:
        lines.append(
            "No settings file found: the task sees only the account's saved environment "
            "variables, not this shell's; a reload-chain.toml here is simpler."
        )
    return "\n".join(lines) + "\n"

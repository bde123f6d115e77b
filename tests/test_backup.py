"""``reload-chain backup FILE``: a consistent, checked copy, also while another process writes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler.cli import main
from state.backup import BackupError, backup_database
from state.database import open_database
from tests.test_database import damaged_database

# A writer in another process: each transaction inserts a batch of 50 rows, so any consistent
# copy holds a multiple of 50 rows; it prints "ready" once it has committed its first batch.
WRITER = """
import sys
from state.database import open_database
db = open_database(sys.argv[1])
for batch in range(400):
    with db.atomic():
        db.table("handled_events").insert_all(
            {"event_id": f"e{batch}-{n}", "reload_id": f"r{batch}-{n}", "outcome": "success",
             "app_id": "a", "event_time": "t", "sweep_id": "s"} for n in range(50))
    if batch == 0:
        print("ready", flush=True)
db.close()
"""


def filled(path: Path, rows: int = 500) -> Path:
    db = open_database(path)
    db.table("handled_events").insert_all(
        {"event_id": f"e{n}", "reload_id": f"r{n}", "outcome": "success"} for n in range(rows)
    )
    db.close()
    return path


def count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("select count(*) from handled_events").fetchone()[0])
    finally:
        conn.close()


def test_the_copy_holds_every_row_and_passes_the_check(tmp_path: Path) -> None:
    source = filled(tmp_path / "state.db")
    done = backup_database(source, tmp_path / "backups" / "state-copy.db")
    assert count(done.target) == 500
    assert done.pages > 0 and done.size_bytes == done.target.stat().st_size
    assert not list((tmp_path / "backups").glob("*.partial"))


def test_an_existing_backup_is_replaced(tmp_path: Path) -> None:
    source = filled(tmp_path / "state.db")
    target = tmp_path / "copy.db"
    target.write_text("an older backup")
    backup_database(source, target)
    assert count(target) == 500


def test_a_copy_taken_while_another_process_writes_is_one_committed_state(
    tmp_path: Path,
) -> None:
    source = filled(tmp_path / "state.db", rows=0)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(source)],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        copies = [backup_database(source, tmp_path / f"copy{n}.db").target for n in range(5)]
        assert writer.wait(timeout=60) == 0
    finally:
        writer.kill()
    counts = [count(copy) for copy in copies]
    assert all(rows % 50 == 0 and rows >= 50 for rows in counts), counts
    assert count(source) == 400 * 50


def test_no_database_yet_is_exit_2_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(tmp_path / "state.db"))
    assert main(["backup", str(tmp_path / "copy.db")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "does not exist yet: nothing to back up" in line
    assert not (tmp_path / "state.db").exists()


def test_the_database_itself_is_refused(tmp_path: Path) -> None:
    source = filled(tmp_path / "state.db")
    with pytest.raises(BackupError, match="the state database itself"):
        backup_database(source, source)
    assert count(source) == 500


def test_a_damaged_database_is_not_copied(tmp_path: Path) -> None:
    source = damaged_database(tmp_path / "state.db")
    target = tmp_path / "copy.db"
    with pytest.raises(Exception, match="damaged"):
        backup_database(source, target)
    assert not target.exists()


def test_the_command_says_what_it_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = filled(tmp_path / "state.db")
    monkeypatch.setenv("RELOAD_CHAIN_DB", str(source))
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"backed up {source} to {tmp_path / 'copy.db'} (")
    assert count(tmp_path / "copy.db") == 500

"""The sweep lock: one sweep per database, across processes; a dead holder never blocks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.lock import LockHeldError, lock_path, sweep_lock

HOLDER = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1], timeout=5)
lock.acquire()
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "state.db"


@pytest.fixture
def holder(database: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock until it is killed."""
    database.parent.mkdir(parents=True)
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_path(database))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == "locked", process.stderr.read() if process.stderr else ""
        yield process
    finally:
        process.kill()
        process.wait(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_lock_file_is_beside_the_database(database: Path) -> None:
    assert lock_path(database) == database.parent / "state.db.lock"
    with sweep_lock(database):
        assert lock_path(database).exists()
    assert not database.exists()


def test_second_acquisition_while_held_fails(database: Path) -> None:
    with sweep_lock(database), pytest.raises(LockHeldError) as caught, sweep_lock(database):
        pytest.fail("entered a held lock")
    assert caught.value.exit_code == 3
    assert str(database) in str(caught.value)


def test_lock_can_be_taken_again_after_release(database: Path) -> None:
    with sweep_lock(database):
        pass
    with sweep_lock(database):
        pass


def test_lock_is_released_when_the_block_raises(database: Path) -> None:
    with pytest.raises(RuntimeError), sweep_lock(database):
        raise RuntimeError("sweep failed")
    with sweep_lock(database):
        pass


def test_lock_held_by_another_process_blocks(database: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(LockHeldError, match="another reload-chain sweep"), sweep_lock(database):
        pytest.fail("entered a lock held by another process")


def test_killed_holder_leaves_no_stale_lock(database: Path, holder: subprocess.Popen[str]) -> None:
    with pytest.raises(LockHeldError), sweep_lock(database):
        pass
    holder.kill()  # SIGKILL: the holder gets no chance to clean up
    holder.wait(timeout=5)
    with sweep_lock(database):
        assert lock_path(database).exists()

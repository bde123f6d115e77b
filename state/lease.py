"""The database fences sweepers: only the holder of the lease may start reloads.

The file lock answers "already running" quickly, but an administrator can delete the lock
file under a running sweep, and then a second sweep takes a new one. The lease lives in the
database, where every write is serialised by SQLite, so it cannot be deleted from under a
sweep. Each sweep reads the lease's ``epoch`` when it begins; its first start takes the lease
(``epoch`` + 1) in the same transaction as the start's intent row, and only if nobody took it
since the sweep began. A sweep that finds the lease taken by another one has lost: it starts
nothing more, commits nothing, and exits 3. What it already started is in the ledger as
intents, settled by the next sweep like those of a crashed one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from state.database import StateError

LEASE = "sweeper"


class LeaseLostError(StateError):
    """Another sweeper works on this database now; this one must start nothing more."""

    exit_code = 3


@dataclass
class Fence:
    """One sweep's view of the lease: its id, and the epoch it last saw or set."""

    holder: str
    epoch: int
    held: bool = False

    def update(self, committed: Fence) -> None:
        """Take on what a committed transaction did to the lease (a rolled-back one did not)."""
        self.epoch, self.held = committed.epoch, committed.held


def current(db: Database) -> tuple[str | None, int]:
    """The lease's holder (None when free) and epoch (0 before any sweep took it)."""
    rows = list(db.execute("select holder, epoch from lease where name = ?", [LEASE]).fetchall())
    return (rows[0][0], int(rows[0][1])) if rows else (None, 0)


def hold(db: Database, fence: Fence, taken_at: str) -> Fence:
    """Take or keep the lease inside the caller's write transaction, or raise ``LeaseLostError``.

    Taking it is allowed only while the epoch is the one this sweep saw when it began: a holder
    left behind by a crashed sweep is taken over, a sweep that started in the meantime is not.
    Returns the fence as it stands once the transaction commits (``Fence.update`` then).
    """
    holder, epoch = current(db)
    if holder == fence.holder and epoch == fence.epoch:
        return fence
    if fence.held or epoch != fence.epoch:
        raise _lost(fence, holder)
    row = {"name": LEASE, "holder": fence.holder, "epoch": epoch + 1, "taken_at": taken_at}
    db.table("lease").upsert(row, pk="name")
    return Fence(fence.holder, epoch + 1, held=True)


def release(db: Database, fence: Fence, released_at: str = "") -> Fence:
    """Before a sweep commits: give the lease back, or raise if another sweeper acted meanwhile.

    Every commit moves the epoch on, whether the sweep started anything or not: of two
    sweeps that overlapped, the one that commits second read before the first committed,
    and its cursor could pass work the first left for later. Returns the fence as it stands
    once the transaction commits.
    """
    holder, epoch = current(db)
    if epoch != fence.epoch or (fence.held and holder != fence.holder):
        raise _lost(fence, holder)
    row = {"name": LEASE, "holder": None, "epoch": epoch + 1, "taken_at": released_at}
    db.table("lease").upsert(row, pk="name")
    return Fence(fence.holder, epoch + 1, held=False)


def check_claims(db: Database, app_id: str, sweep_id: str, source_reloads: tuple[str, ...]) -> None:
    """Refuse an intent that another sweep's start of the same app or edge already covers.

    A single sweeper never gets here with such a conflict: its reconciliation and decisions
    leave claimed apps and settled edges out. Only a second sweeper working from stale reads,
    or a guard that failed upstream, can.
    """
    check_unfinished(db, app_id, sweep_id)
    check_settled(db, app_id, source_reloads)


def check_unfinished(db: Database, app_id: str, sweep_id: str) -> None:
    """An earlier start of this app, by another sweep, that may have happened: never start it.

    The database's side of the ``unsettled`` rule (``jobs.decide``), checked in the intent's
    own transaction.
    """
    clash = db.execute(
        "select sweep_id from ledger where app_id = ? and sweep_id != ?"
        " and state in ('intent', 'unconfirmed') limit 1",
        [app_id, sweep_id],
    ).fetchone()
    if clash:
        raise _claimed(clash[0], app_id)


def check_settled(db: Database, app_id: str, source_reloads: tuple[str, ...]) -> None:
    """This app was already decided for good, for one of these source reloads, by another sweep."""
    if not source_reloads:
        return
    marks = ",".join("?" * len(source_reloads))
    clash = db.execute(
        "select sweep_id from settled_edges where target_app_id = ?"
        f" and source_reload_id in ({marks}) limit 1",
        [app_id, *source_reloads],
    ).fetchone()
    if clash:
        raise _claimed(clash[0], app_id)


def _claimed(other: str, app_id: str) -> LeaseLostError:
    return LeaseLostError(
        f"another sweep ({other}) already started or decided {app_id} for the same "
        "source reload: two sweepers are working on this database (was its lock file "
        "deleted?); this one starts nothing more"
    )


def _lost(fence: Fence, holder: str | None) -> LeaseLostError:
    other = f"sweep {holder}" if holder else "another sweep"
    return LeaseLostError(
        f"{other} took over this database while sweep {fence.holder} ran (was the lock file "
        "deleted?); this one starts nothing more and commits nothing"
    )

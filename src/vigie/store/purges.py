"""Retention purges of locations (`vigie db purge-locations`): one at a time, and did the last
one started end?

The command audits `purge_locations_started` before its first batch and `purge_locations` after
its last, or `purge_locations_failed` when it stops on an error it can report. A start that is
the last of these marks in the log is a purge that never ended: running still, or killed, its
machine lost, or its failure not written (the database away). The lock tells which: a purge
holds it from before its start mark to after its end, and it dies with the purge's process
(`held`). A start left by a purge that died means the fixes the law says to delete are still
there, and this is what says so to the next run of the command, to `/api/health` and to
supervision.

The audit log holds every access of every account; the marks are few, and a partial index holds
them alone (`ix_audit_log_purge_marks`, migration 0034): the last mark is its last entry, one
read whatever the log's size and however long ago the last purge ran.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from vigie.store.database import Database
from vigie.store.models import PURGE_MARKS, AuditEntry
from vigie.store.process_locks import FileLock, SessionLock, flocked, lock_file

STARTED = "purge_locations_started"
ENDED = "purge_locations"
FAILED = "purge_locations_failed"
INTERRUPTED = "purge_locations_interrupted"  # a run found the previous one unfinished
REFUSED = "purge_locations_refused"  # a run found another one running, and did nothing

# PostgreSQL: a session-level advisory lock, on a connection of the purge's own for its whole run.
PURGE_LOCK = 7420005
# How long a purge waits for the lock before it is refused. A purge holds it for its whole run;
# what holds it a moment is no purge running: the session of one just killed (PostgreSQL ends it
# when it sees the socket closed, a moment after the process), or a look at the lock
# (SQLite, `_file_running`).
LOCK_WAIT_S = 2.0
_LOCK_POLL_S = 0.05
# Is the purge lock held, by any session of this database? The lock manager's table, read: a look
# that takes no lock (a key under 2^32 is `objid`; `objsubid` 1 marks a single bigint key).
_PG_HELD = text(
    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    f" AND classid = 0 AND objid = {PURGE_LOCK} AND objsubid = 1)"
)
# An in-memory SQLite database lives in its process alone: no other process can purge it, so
# the lock is this process's.
_IN_MEMORY = threading.Lock()


class AlreadyRunning(Exception):
    """Another purge holds the lock: this one must read and delete nothing."""


@dataclass(frozen=True)
class UnfinishedPurge:
    """The last purge started, when it has not ended well: `running` (no end on record, its
    process holds the lock), `interrupted` (no end on record, no process holds it) or `failed`
    (its error on record). Dates and counts only: no personal data."""

    entry_id: int  # its `purge_locations_started` audit entry
    started_at: datetime
    cutoff: str | None  # the fixes older than this were to go (ISO 8601, UTC)
    older_than_days: int | None
    state: Literal["running", "interrupted", "failed"]
    error: str | None = None  # failed: the error's type and message

    def as_json(self) -> dict[str, Any]:
        """Its fields for an answer of the API (health, supervision)."""
        return {
            "started_at": self.started_at,
            "cutoff": self.cutoff,
            "older_than_days": self.older_than_days,
            "state": self.state,
            "error": self.error,
            "running": self.state == "running",
        }


@dataclass(frozen=True)
class _Mark:
    id: int
    at: datetime
    action: str
    detail: dict[str, Any]


# The newest start or end of a purge: the last entry of their partial index, read through it
# because the query repeats its predicate (`PURGE_MARKS`, SQL text: the planners match a partial
# index to a literal, not to a bound parameter).
LAST_MARK = (
    select(AuditEntry.id, AuditEntry.at, AuditEntry.action, AuditEntry.detail)
    .where(PURGE_MARKS)
    .order_by(AuditEntry.id.desc())
    .limit(1)
)


def _last_mark(session: Session) -> _Mark | None:
    row = session.execute(LAST_MARK).one_or_none()
    return None if row is None else _Mark(row.id, row.at, row.action, row.detail or {})


def _unended(mark: _Mark, running: bool) -> UnfinishedPurge:
    """A start with no end after it: its purge running, or gone."""
    return UnfinishedPurge(
        entry_id=mark.id,
        started_at=mark.at,
        cutoff=mark.detail.get("cutoff"),
        older_than_days=mark.detail.get("older_than_days"),
        state="running" if running else "interrupted",
    )


def _failed(session: Session, mark: _Mark) -> UnfinishedPurge:
    """A purge closed by its failure, dated by its start."""
    start = session.get(AuditEntry, mark.detail.get("started_entry") or -1)
    return UnfinishedPurge(
        entry_id=start.id if start is not None else mark.id,
        started_at=start.at if start is not None else mark.at,
        cutoff=mark.detail.get("cutoff"),
        older_than_days=mark.detail.get("older_than_days"),
        state="failed",
        error=f"{mark.detail.get('error_type')}: {mark.detail.get('error')}",
    )


def unfinished(session: Session, *, holding: bool = False) -> UnfinishedPurge | None:
    """The last purge started, if it has not ended (running, or interrupted) or ended on a
    failure; None when it ended well, or when no purge ever ran. `holding`: the caller holds the
    purge lock, so a start with no end is one whose purge died.

    A look at the lock only when the last mark is a start with no end: one read of the partial
    index otherwise, however often `/api/health` is polled."""
    mark = _last_mark(session)
    if mark is None or mark.action not in (STARTED, FAILED):
        return None
    if mark.action == FAILED:
        return _failed(session, mark)
    if holding:
        return _unended(mark, running=False)
    # Its purge took the lock before writing this start and keeps it until after its end: the
    # lock free while this start is still the last mark, read again after, is a purge that died
    # (read once, a purge ending between the two reads would be called interrupted).
    running = _lock_taken(session)
    again = _last_mark(session)
    if again is not None and again.id == mark.id:
        return _unended(mark, running)
    return unfinished(session)


@contextmanager
def held(database: Database) -> Iterator[None]:
    """The purge lock, for a whole run: `AlreadyRunning` when another purge holds it still
    after `LOCK_WAIT_S`.

    It dies with the process that holds it, however that ends (SIGKILL, a crash, a machine
    lost), so no run is ever refused because of one that is gone: on PostgreSQL a session-level
    advisory lock on a connection of its own (the server ends the session with the client); on
    SQLite an `flock` of a file beside the database (the kernel drops it with the process's
    files)."""
    with _lock_of(database) as take:
        deadline = time.monotonic() + LOCK_WAIT_S
        while not take():
            if time.monotonic() >= deadline:
                raise AlreadyRunning("a purge of locations is already running")
            time.sleep(_LOCK_POLL_S)
        yield


def _lock_of(database: Database) -> AbstractContextManager[Callable[[], bool]]:
    """The lock this database's purges take, as a context manager of its `take` (one try)."""
    if not database.is_sqlite:
        return _held_while(SessionLock(database.engine, PURGE_LOCK))
    path = _lock_file(database.engine)
    return _process_lock() if path is None else _held_while(FileLock(path))


def _lock_taken(session: Session) -> bool:
    """Whether a purge holds the lock now, seen from any process (cheap: no lock taken on
    PostgreSQL, a shared `flock` of a few microseconds on SQLite)."""
    engine = session.connection().engine
    if engine.dialect.name != "sqlite":
        return bool(session.scalar(_PG_HELD))
    path = _lock_file(engine)
    return _IN_MEMORY.locked() if path is None else _file_running(path)


def _lock_file(engine: Engine) -> Path | None:
    """Beside a SQLite file, the file its purges lock; None for an in-memory database."""
    return lock_file(engine, ".purge-lock")


@contextmanager
def _held_while(lock: SessionLock | FileLock) -> Iterator[Callable[[], bool]]:
    try:
        yield lock.take
    finally:
        lock.close()


def _file_running(path: Path) -> bool:
    """Whether a process holds the purge lock of this file: a shared lock is refused then. Taken
    and dropped at once; a purge trying the lock at that instant tries again (`LOCK_WAIT_S`)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # no purge ever ran on this file
        return False
    try:
        return not flocked(descriptor, fcntl.LOCK_SH)
    finally:
        os.close(descriptor)


@contextmanager
def _process_lock() -> Iterator[Callable[[], bool]]:
    taken = False

    def take() -> bool:
        nonlocal taken
        taken = _IN_MEMORY.acquire(blocking=False)
        return taken

    try:
        yield take
    finally:
        if taken:
            _IN_MEMORY.release()

"""Locks held for a process's run that die with the process, however it ends (SIGKILL, a crash,
a machine lost): so nothing is ever refused because of a holder that is gone.

On PostgreSQL a session-level advisory lock on a connection of its own (`SessionLock`): the
server ends the session with its client. On SQLite an `flock` of a file beside the database
(`FileLock`): the kernel drops it with the process's files. The retention purge holds one
(`purges`), and so does the embedded detector (`vigie.alarms.sole_detector`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from vigie.store.database import OWNER_ONLY

# The lock's session: no idle timeout of the server's may end it mid-run, and a holder's machine
# lost (no socket closed) ends it within about 25 s, where the system's default keepalives would
# keep the lock two hours; over a Unix socket PostgreSQL ignores keepalives.
LOCK_SESSION = (
    "SET idle_session_timeout = 0",
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


class SessionLock:
    """PostgreSQL's session-level advisory lock `key`, on a connection of its own opened at the
    first `take`, in autocommit: idle between its statements, never idle in a transaction (which
    would hold back the vacuum for as long as the lock is held)."""

    def __init__(self, engine: Engine, key: int) -> None:
        self._engine, self._key = engine, key
        self._connection: Connection | None = None
        self.held = False

    def take(self) -> bool:
        """One try: True once held (held already, True again)."""
        if self._connection is None:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                for setting in LOCK_SESSION:
                    connection.exec_driver_sql(setting)
            except BaseException:
                connection.invalidate()
                connection.close()
                raise
            self._connection = connection
        if not self.held:
            self.held = bool(self._connection.scalar(select(func.pg_try_advisory_lock(self._key))))
        return self.held

    def probe(self) -> None:
        """Raises if the lock's session is lost (and the lock with it): a failover, a restart."""
        if self._connection is not None:
            self._connection.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        """Given back now, not when the server notices the session gone (a moment after its
        socket closes: a next holder would wait for it); a connection already lost holds nothing.
        The session ends too: never given back to the pool holding a lock."""
        connection, self._connection, self.held = self._connection, None, False
        if connection is None:
            return
        with contextlib.suppress(SQLAlchemyError):
            connection.scalar(select(func.pg_advisory_unlock_all()))
        connection.invalidate()
        connection.close()


class FileLock:
    """An exclusive `flock` of `path` (created owner-only, and left in place: removed, one
    process could lock the old inode while another creates a new one)."""

    def __init__(self, path: Path) -> None:
        self._descriptor: int | None = os.open(path, os.O_CREAT | os.O_RDWR, OWNER_ONLY)

    def take(self) -> bool:
        """One try: True once held (held already, True again)."""
        assert self._descriptor is not None, "closed"
        return flocked(self._descriptor, fcntl.LOCK_EX)

    def close(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)  # its lock with it


def lock_file(engine: Engine, suffix: str) -> Path | None:
    """Beside a SQLite file, the file a lock of this kind takes; None for an in-memory database
    (no other process can reach it)."""
    name = engine.url.database
    if not name or name == ":memory:":
        return None
    path = Path(name)
    return path.with_name(path.name + suffix)


def flocked(descriptor: int, kind: int) -> bool:
    """`flock(descriptor, kind)` without waiting: False while another holds a conflicting one."""
    try:
        fcntl.flock(descriptor, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True

"""One embedded detector at a time on a store; another stands by and takes over when it stops.

Embedded detection is one partition, unfenced (`vigie.store.engine_state`). Two detectors
serving one store (two API processes on one PostgreSQL behind a load balancer, an API with its
own detection beside a `vigie centre` of the same store) each found the journal ahead of its
engine at every step (`journal.StoreWentBack`) and restored, step after step: at a France-size
centre a restore is seconds, so detection fell behind, a misconfiguration made blindness.

So a detector serves only while it holds the store's detection lock: on PostgreSQL a session
advisory lock on a connection of its own, which the server releases when that connection ends
(its process killed included); on SQLite an exclusive `flock` of a file beside the database,
which the kernel releases when the process ends. One that cannot take it stands by: it steps
nothing, and its health tells the progress the holder's steps committed (a holder that stalls
is seen blind from any process). It tries again every tick, so it takes over within a tick of
the holder's end. The holder checks its lock before each step: lost with its connection (a
failover), it takes it again, or stands by.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from vigie.store import Database
from vigie.store.failover import is_failover, unavailable

# The detection lock's key among the store's advisory locks ("vigi"); ingest's is another.
KEY = 0x76696769
SUFFIX = "-detector.lock"  # beside a SQLite database, as its own -wal and -shm are


class DetectorLock:
    """The store's detection lock, held from `hold` to `release`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: Connection | None = None
        self._file: IO[bytes] | None = None

    def hold(self) -> bool:
        """Take the lock, or check that it is still held: False while another detector has it.
        Raises `DatabaseUnavailable` when PostgreSQL cannot be asked (a failover)."""
        if self._db.engine.dialect.name == "postgresql":
            try:
                return self._hold_advisory()
            except DBAPIError as exc:
                self.release()
                if is_failover(exc):
                    raise unavailable(exc) from exc
                raise
        return self._hold_file()

    def release(self) -> None:
        """Let another detector take over (also when this one's connection is lost)."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # Its session must end (not go back to the pool, the lock with it): the server then
            # releases the lock, and a session already gone has nothing to release.
            connection.invalidate()
            connection.close()
        if self._file is not None:
            handle, self._file = self._file, None
            handle.close()

    def _hold_advisory(self) -> bool:
        if self._connection is not None:
            self._connection.execute(text("SELECT 1"))  # still ours while its session lives
            return True
        connection = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": KEY})
            held = bool(got.scalar())
        except BaseException:
            connection.close()
            raise
        if held:
            self._connection = connection
        else:
            connection.close()
        return held

    def _hold_file(self) -> bool:
        if self._file is not None:
            return True
        database = self._db.engine.url.database
        if not database or database == ":memory:":
            return True  # a store of this process alone
        path = os.path.abspath(database) + SUFFIX  # empty: a name to lock, owner-only anyway
        handle = os.fdopen(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600), "ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

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

from sqlalchemy.exc import DBAPIError

from vigie.store import Database
from vigie.store.failover import is_failover, unavailable
from vigie.store.process_locks import FileLock, SessionLock, lock_file

# The detection lock's key among the store's advisory locks (7420001-7420005 are others').
KEY = 7420006
SUFFIX = ".detector-lock"  # beside a SQLite database, as its purge's `.purge-lock`


class DetectorLock:
    """The store's detection lock, held from `hold` to `release`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock: SessionLock | FileLock | None = None

    def hold(self) -> bool:
        """Take the lock, or check that it is still held: False while another detector has it.
        Raises `DatabaseUnavailable` when PostgreSQL cannot be asked (a failover)."""
        if self._db.is_sqlite:
            return self._hold_file()
        try:
            return self._hold_session()
        except DBAPIError as exc:
            self.release()  # its session is lost, and the lock with it: taken again next time
            if is_failover(exc):
                raise unavailable(exc) from exc
            raise

    def release(self) -> None:
        """Let another detector take over."""
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.close()

    def _hold_session(self) -> bool:
        if self._lock is None:
            self._lock = SessionLock(self._db.engine, KEY)
        assert isinstance(self._lock, SessionLock)
        if self._lock.held:
            self._lock.probe()  # still ours while its session lives (one `SELECT 1` a step)
            return True
        return self._lock.take()

    def _hold_file(self) -> bool:
        if self._lock is None:
            path = lock_file(self._db.engine, SUFFIX)
            if path is None:
                return True  # an in-memory store: this process's alone
            self._lock = FileLock(path)
        return self._lock.take()

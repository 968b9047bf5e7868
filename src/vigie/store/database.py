"""Opening the store: one URL picks SQLite (embedded, WAL) or PostgreSQL + PostGIS."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from vigie.store.failover import is_failover, unavailable


@dataclass(frozen=True)
class Database:
    """An engine and its session factory; `session()` commits on success, rolls back on error."""

    engine: Engine
    sessions: sessionmaker[Session]
    # SQLite has one writer at a time and makes the others wait by sleeping (up to 100 ms a
    # try); queueing this process's transactions on a lock instead keeps latency low.
    _writer: threading.RLock = field(default_factory=threading.RLock)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, durable: bool = True) -> Iterator[Session]:
        """A transaction; on PostgreSQL, a lost connection or a server no longer writable (a
        failover) raises `DatabaseUnavailable` (vigie.store.failover), whatever the statement.

        `durable=False`: its commit returns without waiting for the disk (PostgreSQL's
        `synchronous_commit` off, SQLite's `synchronous` NORMAL), one flush of the log saved,
        for a transaction that writes only what can be made again from what is durable already
        (a detection step over stored readings). The log is written in order, so the next
        durable commit, anyone's, makes it durable too; a crash before that loses it whole.
        """
        with (
            self._failover_as_unavailable(),
            self.writer(),
            self.sessions() as session,
            session.begin(),
        ):
            if not durable:
                _not_durable(session)
            yield session

    def writer(self) -> AbstractContextManager[Any]:
        """This process's turn to write on SQLite (what `session()` holds), for a transaction on
        a connection of the caller's own; nothing to wait for on PostgreSQL."""
        return self._writer if self.is_sqlite else nullcontext()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: it never waits for the writer (WAL readers see the last
        commit), so a read never queues behind an ingest or a pipeline step. Its end (a commit of
        nothing) keeps what was loaded usable after the block, as `session()` does.
        """
        with self._failover_as_unavailable(), self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def _failover_as_unavailable(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            if self.is_sqlite or not is_failover(exc):
                raise
            # Every pooled connection leads to the server that went away (or to one no longer
            # writable): drop them all now rather than fail once on each.
            self.engine.dispose()
            raise unavailable(exc) from exc

    def dispose(self) -> None:
        self.engine.dispose()


PAGE_SIZE = 1024
# SQLite writes the WAL into the file (a checkpoint) each time it passes this size. A checkpoint
# writes each page the WAL holds once, and every WAL holds the same hot pages (the tables' and
# indexes' last pages, the audit chain's head, the steps' journal): the fewer checkpoints, the
# fewer times they are written. SQLite's default is 1,000 pages, 1 MB at 1 KB pages. The pipeline
# at 2,400 obs/s, 16,000 cases (bench/pipeline.py, each rate's WAL written out at its end):
# 886-893 bytes an observation at 1 MB, 771-773 at 4 MB, 714-719 at 16 MB, latencies alike.
WAL_CHECKPOINT_BYTES = 16 * 1024 * 1024


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # WAL lets the API read while the pipeline writes; synchronous=FULL makes every acknowledged
    # commit survive a crash of the process and of the machine alike.
    cursor = dbapi_connection.cursor()
    # A new file's pages (an existing file keeps its own: `vigie db repack` changes them). A
    # commit writes each page it touched whole, and most touch a few bytes of each: at 1 KB,
    # the pipeline at 2,400 obs/s wrote 896 bytes an observation where 4 KB pages wrote 1,151.
    cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    page_size = cursor.execute("PRAGMA page_size").fetchone()[0]  # a file's own, 4 KB if older
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_BYTES // page_size}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Sorts and temporary tables in memory: a compaction's grouping (`vigie.store.spans`) spilled
    # to a temporary file, about 300 bytes written a reading (bench/store_churn.py).
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


# SQLite cannot change `synchronous` inside a transaction: set before the first statement, and
# put back as the connection returns to the pool (`_durable_again`), before anyone else has it.
_NOT_DURABLE = "not_durable"


def _not_durable(session: Session) -> None:
    """This transaction's commit without waiting for the disk (see `Database.session`)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.connection.info[_NOT_DURABLE] = True  # before the PRAGMA: put back in any case
        connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
    else:
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO off")


def _durable_again(dbapi_connection: sqlite3.Connection | None, record: Any) -> None:
    """A SQLite connection back in the pool commits durably again (`_not_durable`)."""
    if record.info.pop(_NOT_DURABLE, False) and dbapi_connection is not None:
        dbapi_connection.execute("PRAGMA synchronous=FULL")


def json_text(value: Any) -> str:
    """How JSON columns are written: by pydantic-core (Rust), five times as fast as `json.dumps`
    on an observation's payload, written once per ingested row; by the standard library for what
    it refuses (a lone surrogate, which a device's JSON may carry as an escape)."""
    try:
        return pydantic_core.to_json(value, inf_nan_mode="constants").decode()
    except pydantic_core.PydanticSerializationError:
        return json.dumps(value)


OWNER_ONLY = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def owner_only(path: Path) -> None:
    """Make the SQLite file readable and writable by its owner only, creating it if need be.

    It holds people's positions and addresses. SQLite creates its -wal and -shm files with the
    main file's mode, so the main file is made 0600 before SQLite first opens it; files left
    with a wider mode by an earlier version are narrowed too.
    """
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, OWNER_ONLY))
    for file in (path, *(path.with_name(path.name + end) for end in SQLITE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o777 != OWNER_ONLY:
                file.chmod(OWNER_ONLY)


def create_store_engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file's folder is made, so embedded mode needs no setup."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            owner_only(Path(parsed.database))
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            json_serializer=json_text,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _durable_again)
        return engine
    # No pre-ping: a round trip before every ingest's transaction cost a tenth of its time. A
    # connection the server dropped fails once, and SQLAlchemy then renews the whole pool.
    return create_engine(url, pool_size=10, max_overflow=20, json_serializer=json_text)


def open_database(url: str) -> Database:
    """The store at `url` (the schema is managed apart, by `vigie db upgrade`)."""
    engine = create_store_engine(url)
    return Database(engine, sessionmaker(engine, expire_on_commit=False))

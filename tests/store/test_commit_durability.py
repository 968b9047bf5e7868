"""A transaction whose commit does not wait for the disk (`Database.session(durable=False)`):
only that one, and never the next user of its connection; a detection step over stored readings
commits so, one that archives its readings (a stream batch) waits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.alarms.test_pipeline import SCRIPT, T0, Clock, seed, store
from vigie.alarms.pipeline import PartitionStep
from vigie.alarms.sources import BatchSource
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.engine_state import StateRow

FULL, NORMAL = 2, 1  # SQLite's `PRAGMA synchronous` levels


def waits_for_disk(session: Session) -> bool:
    """Whether this transaction's commit waits for the disk, as its database says it."""
    if session.get_bind().dialect.name == "sqlite":
        return int(session.execute(text("PRAGMA synchronous")).scalar_one()) == FULL
    return session.execute(text("SHOW synchronous_commit")).scalar_one() == "on"


def test_only_the_transaction_asked_commits_without_waiting(db: Database) -> None:
    with db.session(durable=False) as session:
        assert not waits_for_disk(session)
        session.execute(text("CREATE TABLE kept (n INTEGER)"))
        session.execute(text("INSERT INTO kept VALUES (1)"))
        connection = session.connection().connection.driver_connection
    # The same connection, next out of the pool, waits again; what was committed is there.
    with db.session() as session:
        assert session.connection().connection.driver_connection is connection
        assert waits_for_disk(session)
        assert session.execute(text("SELECT n FROM kept")).scalar_one() == 1
    with db.reading() as session:
        assert waits_for_disk(session)


def test_a_failed_transaction_leaves_its_connection_waiting_again(db: Database) -> None:
    with (
        pytest.raises(DBAPIError, match="no_such_column"),  # the statement's own error
        db.session(durable=False) as session,
    ):
        session.execute(text("SELECT no_such_column FROM engine_state"))
    with db.session() as session:
        assert waits_for_disk(session)


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement the database's engine runs meanwhile."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def not_durable(seen: list[str]) -> bool:
    return any("synchronous" in s and ("NORMAL" in s or "off" in s) for s in seen)


def test_a_step_over_stored_readings_commits_without_waiting(db: Database) -> None:
    seed(db)
    store(db, *SCRIPT[0])
    pipeline = PartitionStep(db, Settings(escalation_after_s=3600), Clock(T0))
    with statements(db) as seen:
        result = pipeline.step()
    assert result.observations == len(SCRIPT[0])
    assert not_durable(seen)


def test_a_step_that_archives_its_readings_waits_for_the_disk(db: Database) -> None:
    seed(db)
    rows = [log.row_for(record, T0, T0, source="stream") for record in SCRIPT[0]]
    worker = PartitionStep(db, Settings(escalation_after_s=3600), Clock(T0), state=StateRow(0))
    worker.claim()
    with statements(db) as seen:
        result = worker.step(BatchSource(rows, cursor=7, messages=1))
    assert result.observations == len(SCRIPT[0]) and result.cursor == 7
    assert not not_durable(seen)

"""Which database errors are a failover, and the bounded retry of idempotent writes."""

from __future__ import annotations

import itertools
import time

import pytest
from sqlalchemy import literal, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from vigie.ports import free_port
from vigie.store import Database, open_database
from vigie.store.failover import DatabaseUnavailable, retrying


def test_a_write_that_fails_then_passes_is_retried_until_it_passes() -> None:
    tries: list[float] = []

    def write() -> str:
        tries.append(time.monotonic())
        if len(tries) < 4:
            raise DatabaseUnavailable("connection refused")
        return "stored"

    assert retrying(write, 10, "test write") == "stored"
    assert len(tries) == 4
    pauses = [b - a for a, b in itertools.pairwise(tries)]
    assert pauses[0] >= 0.05 and pauses[2] >= 0.2  # doubling from 50 ms


def test_past_its_budget_the_last_failure_is_raised() -> None:
    calls = 0

    def write() -> None:
        nonlocal calls
        calls += 1
        raise DatabaseUnavailable("session is read-only")

    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="failover in progress: session is read-only"):
        retrying(write, 0.3, "test write")
    assert 0.3 <= time.monotonic() - started < 1.5 and calls >= 3


def test_other_errors_are_not_retried() -> None:
    calls = 0

    def write() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not a failover")

    with pytest.raises(ValueError):
        retrying(write, 10, "test write")
    assert calls == 1


def test_postgresql_out_of_reach_is_unavailable_on_every_host() -> None:
    hosts = f"host=127.0.0.1:{free_port()}&host=127.0.0.1:{free_port()}"
    database = open_database(
        f"postgresql+psycopg://vigie@/vigie?{hosts}&target_session_attrs=read-write"
    )
    with pytest.raises(DatabaseUnavailable, match="refused"), database.session() as session:
        session.execute(text("SELECT 1"))
    with pytest.raises(DatabaseUnavailable), database.reading() as session:
        session.execute(text("SELECT 1"))
    database.dispose()


def test_errors_of_the_statement_itself_stay_what_they_are(db: Database) -> None:
    # A bug in SQL is not a failover, on either backend: never retried, never a 503.
    expected = OperationalError if db.is_sqlite else ProgrammingError
    with pytest.raises(expected), db.session() as session:
        session.execute(text("SELECT * FROM no_such_table"))


def test_a_wrong_database_name_is_no_failover(postgres_server: str) -> None:
    # A setting to correct, not a failover to wait out: never retried, never "failover".
    database = open_database(f"{postgres_server}/no_such_database")
    with pytest.raises(OperationalError, match="does not exist"), database.session() as session:
        session.execute(text("SELECT 1"))
    database.dispose()


def test_a_statement_libpq_will_not_send_is_no_failover(pg_url: str) -> None:
    # Over 65,535 parameters, libpq refuses to send it: the statement's fault, the same at every
    # try. Told as a failover, detection retried it for ever (125,000 cases at a cold start).
    database = open_database(pg_url)
    too_many = select(literal(1)).where(literal(1).in_(list(range(70_000))))
    with pytest.raises(OperationalError, match="number of parameters"), database.session() as s:
        s.execute(too_many)
    database.dispose()

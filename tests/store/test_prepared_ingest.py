"""A batch made ready before the writer is taken (`observations.prepare`) is stored exactly as an
insert through SQLAlchemy stores it, on both databases, and keeps duplicates and conflicts."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert

from tests.store.test_spans import some_readings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.fix_payload import stored_payload
from vigie.store.models import Observation

T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
RECEIVED = T0 + timedelta(hours=3)
# Past SQLite's rows a statement (several statements) and PostgreSQL's COPY threshold.
COUNT = log.SQLITE_ROWS * 2 + 345


def rows_of(readings: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Each reading as ingest stores it, its device renamed with `prefix`, with sources of their
    own and, on some, a note the store keeps whole."""
    out = []
    for n, reading in enumerate(readings):
        said = reading["payload"] | {"device": prefix + reading["device"]}
        if n % 7 == 0:
            said["note"] = "réseau perdu" if n % 14 == 0 else "ok"
        out.append(log.row_for(said, reading["t"], RECEIVED, source=f"api:s{n % 3}"))
    return out


def stored(db: Database) -> list[tuple[Any, ...]]:
    """Every column but the id of every row, as the database hands them to its own driver
    (SQLite's text as written), in id order."""
    columns = [c.name for c in Observation.__table__.columns if c.name != "id"]
    with db.engine.connect() as conn:
        found = conn.exec_driver_sql(
            f"SELECT {', '.join(columns)} FROM observations ORDER BY id"
        ).all()
    return [tuple(row) for row in found]


def test_a_prepared_batch_is_stored_as_sqlalchemy_stores_it(db: Database) -> None:
    """The prepared path writes its values itself (SQLite: bound by the columns' own types,
    in multi-row statements; PostgreSQL: COPY): every column comes back as SQLAlchemy's own
    insert of the same rows wrote it."""
    batch = rows_of(some_readings(random.Random(11), COUNT, T0), "P")
    with db.session() as session:
        session.execute(
            insert(Observation.__table__), [r | {"payload": stored_payload(r)} for r in batch]
        )
    reference = stored(db)
    with db.session() as session:
        session.execute(delete(Observation.__table__))
    prepared = log.prepare(batch, db.engine.dialect)
    with db.session() as session:
        accepted = log.append(session, prepared)
    assert len(accepted.ids) == COUNT and accepted.duplicates == 0
    assert len(reference) == COUNT and stored(db) == reference
    with db.session() as session:  # the same batch again: every row a duplicate
        again = log.append(session, log.prepare(batch, db.engine.dialect))
    assert (again.ids, again.duplicates) == ([], COUNT)


def test_a_prepared_batch_keeps_its_conflicts(db: Database) -> None:
    """A prepared batch that reuses stored sequence numbers with other content stores those
    readings as conflicts, the others as duplicates, the new ones with ids."""
    records = [
        r | {"payload": r["payload"] | {"seq": n}}
        for n, r in enumerate(some_readings(random.Random(12), 300, T0))
    ]
    with db.session() as session:
        first = log.append(session, log.prepare(rows_of(records, "C"), db.engine.dialect))
    changed = [
        r | {"payload": r["payload"] | {"battery_note": "changed"}} if n % 10 == 0 else r
        for n, r in enumerate(records)
    ]
    extra = [
        r | {"payload": r["payload"] | {"seq": 10_000 + n}}
        for n, r in enumerate(some_readings(random.Random(13), 80, T0 + timedelta(days=1)))
    ]
    batch = rows_of(changed, "C") + rows_of(extra, "C")
    with db.session() as session:
        second = log.append(session, log.prepare(batch, db.engine.dialect))
    assert len(first.ids) == 300
    assert len(second.conflicts) == 30 and len(second.ids) == 80 and second.duplicates == 270
    assert min(second.conflicts + second.ids) > max(first.ids)


def test_a_batch_prepared_for_the_other_database_is_refused(db: Database) -> None:
    """Values bound for one database are not written to the other."""
    other = "postgresql" if db.is_sqlite else "sqlite"
    wrong = log.Prepared(rows_of(some_readings(random.Random(14), 3, T0), "W"), [], other)
    with db.session() as session, pytest.raises(ValueError, match="prepared for"):
        log.append(session, wrong)
    with db.reading() as session:
        assert log.count(session) == 0

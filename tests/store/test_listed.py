"""`listed_in`: a list of any length in one statement, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from vigie.store import Database, audit
from vigie.store.listed import listed_in
from vigie.store.models import AuditEntry, Device

COUNT = 70_000  # above libpq's 65,535 parameters a statement


def test_a_list_longer_than_a_statement_takes_is_one_parameter(db: Database) -> None:
    with db.session() as session:
        session.execute(
            text(
                "INSERT INTO devices (id, kind, created_at) WITH RECURSIVE g(n) AS "
                f"(SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {COUNT}) "
                "SELECT 'D' || n, 'bracelet', CURRENT_TIMESTAMP FROM g"
            )
        )
    # Half of them, a repeat, and as many strangers: over 65,535 values.
    asked = [f"D{n}" for n in range(2, COUNT + 1, 2)] + ["D2"] + [f"E{n}" for n in range(COUNT)]
    with db.reading() as session:
        found = session.scalars(select(Device.id).where(listed_in(session, Device.id, asked)))
        assert sorted(found) == sorted({f"D{n}" for n in range(2, COUNT + 1, 2)})
        assert (
            session.scalar(
                select(func.count()).select_from(Device).where(listed_in(session, Device.id, []))
            )
            == 0
        )


def test_integer_columns_and_only_those(db: Database) -> None:
    with db.session() as session:
        ids = [audit.record(session, "t", "read", f"x{n}").id for n in range(3)]
    with db.reading() as session:
        query = select(AuditEntry.target).where(listed_in(session, AuditEntry.id, ids[1:]))
        assert sorted(session.scalars(query)) == ["x1", "x2"]
        with pytest.raises(TypeError, match="neither integer nor text"):
            listed_in(session, Device.created_at, [])

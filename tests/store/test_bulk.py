"""`insert_returning`: many rows in one statement of fixed text, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, select

from vigie.store import Database
from vigie.store.bulk import UNNEST_FROM, insert_returning
from vigie.store.models import AlarmEventRow

T0 = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
EVENTS = cast(Table, AlarmEventRow.__table__)
KEY = ("case_ref", "event_key")


def row(n: int, **changed: Any) -> dict[str, Any]:
    return {
        "t": T0 + timedelta(milliseconds=n),
        "case_ref": f"C{n % 7}",
        "kind": "tamper",
        "state": "raised",
        "device": f"B{n}",
        "detail": {"n": n, "nested": [1, None, "é'\""]},
        "created_at": T0,
        "event_key": f"k{n}",
    } | changed


def test_rows_come_back_with_their_ids_in_the_rows_order(db: Database) -> None:
    rows = [row(n) for n in range(5_000)]
    with db.session() as session:
        back = insert_returning(session, EVENTS, rows, (EVENTS.c.id, EVENTS.c.event_key))
    assert len(back) == len(rows)
    assert [key for _, key in sorted(back)] == [r["event_key"] for r in rows]
    with db.reading() as session:
        stored = session.execute(
            select(EVENTS.c.t, EVENTS.c.detail, EVENTS.c.alarm_id, EVENTS.c.case_ref).where(
                EVENTS.c.event_key == "k4999"
            )
        ).one()
    assert stored == (T0 + timedelta(milliseconds=4999), rows[4999]["detail"], None, "C1")


@pytest.mark.parametrize("others", [2, UNNEST_FROM])  # as VALUES, as arrays on PostgreSQL
def test_conflicts_are_left_out_and_the_stored_row_kept(db: Database, others: int) -> None:
    with db.session() as session:
        (first,) = insert_returning(
            session, EVENTS, [row(1)], (EVENTS.c.id,), skip_conflicts_on=KEY
        )
        new = [row(n) for n in range(2, 2 + others)]
        again = [row(1, kind="other"), *new, row(2, kind="other")]
        back = insert_returning(
            session, EVENTS, again, (EVENTS.c.event_key, EVENTS.c.kind), skip_conflicts_on=KEY
        )
    assert sorted(back) == sorted((r["event_key"], "tamper") for r in new)
    with db.reading() as session:
        kept = session.execute(
            select(EVENTS.c.event_key, EVENTS.c.id, EVENTS.c.kind).where(
                EVENTS.c.event_key.in_(("k1", "k2"))
            )
        )
        (k1, one, kind1), (k2, _, kind2) = sorted(kept.all())
        assert (k1, one, kind1, k2, kind2) == ("k1", first[0], "tamper", "k2", "tamper")


def test_no_rows_no_statement(db: Database) -> None:
    with db.session() as session:
        assert insert_returning(session, EVENTS, [], (EVENTS.c.id,)) == []
        assert session.scalars(select(EVENTS.c.id)).all() == []

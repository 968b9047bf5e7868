"""Migration 0040 (`unwatched_placements.raised_at` for the flag `raised`) both ways, with rows:
a raised row counts its reminder from its `since`, one not raised stays so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from tests.cases import factories as make
from tests.conftest import fresh_database
from vigie import clock
from vigie.cases import placements
from vigie.store import open_database
from vigie.store.schema import alembic_config, upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request, request.param, tmp_path, migrated=False) as found:
        yield found


def _rows(url: str, column: str) -> list[tuple[str, object]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = f"SELECT case_ref, {column} FROM unwatched_placements ORDER BY case_ref"
            return [(case, value) for case, value in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_the_reminders_column_comes_and_goes_with_its_rows(url: str) -> None:
    upgrade(url)
    database = open_database(url)
    since = clock.now() - timedelta(days=2)
    try:
        with database.session() as session:
            who = make.contacts(session)
            ids = [
                placements.create(
                    session, make.placement_form(make.person(session), who, case_ref=case), "t"
                ).id
                for case in ("C1", "C2")
            ]
            for placement_id, case, raised_at in zip(
                ids, ("C1", "C2"), (since + timedelta(minutes=5), None), strict=True
            ):
                session.execute(
                    text(
                        "INSERT INTO unwatched_placements (placement_id, case_ref, partition, "
                        "device, since, detail, raised_at) VALUES (:p, :c, 0, 'B', :s, '{}', :r)"
                    ),
                    {"p": placement_id, "c": case, "s": since, "r": raised_at},
                )
    finally:
        database.dispose()
    command.downgrade(alembic_config(url), "0039")
    assert [(case, bool(raised)) for case, raised in _rows(url, "raised")] == [
        ("C1", True),
        ("C2", False),
    ]
    upgrade(url)
    (c1, at), (c2, never) = _rows(url, "raised_at")
    assert (c1, c2, never) == ("C1", "C2", None)
    assert at is not None  # the row raised before counts from its `since`
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(
                text("SELECT raised_at = since FROM unwatched_placements WHERE case_ref = 'C1'")
            ).scalar_one()
    finally:
        engine.dispose()

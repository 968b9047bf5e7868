"""`bench/pipeline.py --seeded` on PostgreSQL: a seeded SQLite store copied in whole (seeding
16,000 cases there through the application would take over an hour), row for row, and the
centre goes on writing after it: ids, the audit chain and the placement watermark continue."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from tests.conftest import fresh_database
from vigie.cases import people
from vigie.cases.forms import PersonIn
from vigie.store import audit, open_database
from vigie.store import observations as log
from vigie.store.models import Base

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from pipeline import copy_seeded, seed


def test_a_seeded_sqlite_store_copied_into_postgresql_is_the_same_and_goes_on(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source = f"sqlite:///{tmp_path / 'seeded.sqlite'}"
    seed(source, 50, 5)
    with fresh_database(request, "postgresql", tmp_path) as target:
        assert copy_seeded(source, target) > 0
        sqlite, postgresql = open_database(source), open_database(target)
        with sqlite.reading() as a, postgresql.reading() as b:
            for table in Base.metadata.sorted_tables:
                query = select(table).order_by(*table.primary_key.columns)
                assert b.execute(query).all() == a.execute(query).all(), table.name
            assert b.execute(text("SELECT count(*) FROM persons")).scalar_one() == 55
            assert audit.verify(b)[1] is None
            watermark = b.execute(text("SELECT value FROM placement_watermark")).scalar_one()

        now = datetime.now(UTC)
        record = {"device": "D0", "seq": 1, "t": now.isoformat(), "type": "position"}
        with postgresql.session() as session:
            person = people.create_person(
                session, PersonIn(last_name="N", first_name="X", birth_date="1980-01-01"), "t"
            )
            log.append(
                session, [log.row_for(record | {"lat": 43.0, "lon": 1.0}, now, now, source="t")]
            )
            session.execute(text("UPDATE placements SET revision = revision + 1 WHERE id = 1"))
        with postgresql.reading() as b:
            assert person.id == 56  # 50 wearers and 5 protected persons copied
            assert b.execute(text("SELECT count(*) FROM observations")).scalar_one() == 1
            changed = b.execute(text("SELECT changed FROM placements WHERE id = 1")).scalar_one()
            assert changed == watermark + 1  # the trigger is back on, above every copied value
            assert audit.verify(b)[1] is None  # the new entries chain onto the copied ones
        sqlite.dispose()
        postgresql.dispose()

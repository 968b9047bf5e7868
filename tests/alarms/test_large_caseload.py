"""A caseload larger than a statement's parameters: a cold start loads every placement, and
PostgreSQL takes at most 65,535 parameters a statement. At 125,000 cases (`bench/restart.py`)
the load was one statement: every step failed on it, told as a failover, and detection never
started."""

from __future__ import annotations

from sqlalchemy import func, select, text

from tests.alarms.test_pipeline import Clock
from tests.alarms.test_unmonitored import CONFIG, _home_unit, _placement
from vigie import clock
from vigie.alarms.pipeline import Pipeline
from vigie.store import Database
from vigie.store.models import Placement

CLONES = 70_000  # above PostgreSQL's 65,535 parameters a statement


def test_a_cold_start_loads_more_placements_than_a_statement_takes(db: Database) -> None:
    _home_unit(db, _placement(db, "C0"), "H-C0")  # watched: bracelet and home unit
    # The others cloned from it in SQL, without a bracelet: loaded, known, not watched.
    columns = [c.name for c in Placement.__table__.columns if c.name not in ("id", "case_ref")]
    names = ", ".join(columns)
    with db.session() as session:
        session.execute(
            text(
                f"INSERT INTO placements (case_ref, {names}) "
                "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g "
                f"WHERE n < {CLONES}) SELECT 'K' || n, {names} FROM placements, g "
                "WHERE placements.case_ref = 'C0'"
            )
        )
        assert session.scalar(select(func.count()).select_from(Placement)) == CLONES + 1
    pipeline = Pipeline(db, CONFIG, Clock(clock.now()))
    pipeline.step()
    assert pipeline.health.last_error is None
    engine = pipeline._engine
    assert engine is not None and engine.placement("C0") is not None
    assert engine.placement(f"K{CLONES}") is None  # no bracelet: known, not watched
    assert len(pipeline._revisions) == CLONES + 1

"""A caseload larger than a statement's parameters, and steps that handle all of it at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from tests.alarms.test_pipeline import Clock
from tests.alarms.test_unmonitored import CONFIG, GRACE_S, _home_unit, _placement
from vigie import clock
from vigie.alarms.pipeline import Pipeline
from vigie.store import Database, audit
from vigie.store.models import Alarm, AuditEntry, Device, DeviceAssignment, Placement

CLONES = 70_000  # above PostgreSQL's 65,535 parameters a statement


def _clone_cases(db: Database, source: str, count: int) -> None:
    """`count` copies of case `source` (K1...), each with a copy of its bracelet assigned, in
    SQL: a caseload built in seconds, where the API would take an hour."""
    series = f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {count}) "

    def cloned(table: Any, key: str, value: str, where: str) -> str:
        columns = [c.name for c in table.columns if c.name not in ("id", key)]
        names = ", ".join(columns)
        return (
            f"INSERT INTO {table.name} ({key}, {names}) {series}"
            f"SELECT {value}, {names} FROM {table.name}, g WHERE {where}"
        )

    with db.session() as session:
        session.execute(
            text(cloned(Placement.__table__, "case_ref", "'K' || n", f"case_ref = '{source}'"))
        )
        session.execute(text(cloned(Device.__table__, "id", "'B-K' || n", f"id = 'B-{source}'")))
        columns = [
            c.name
            for c in DeviceAssignment.__table__.columns
            if c.name not in ("id", "device_id", "placement_id")
        ]
        names = ", ".join(f"a.{c}" for c in columns)
        session.execute(
            text(
                f"INSERT INTO device_assignments (device_id, placement_id, {', '.join(columns)}) "
                f"{series}SELECT 'B-K' || n, p.id, {names} FROM device_assignments a, g, "
                f"placements p WHERE a.device_id = 'B-{source}' AND p.case_ref = 'K' || n"
            )
        )


def test_every_case_loaded_and_raised_at_once(db: Database) -> None:
    """A cold start loads every placement at once; a centre-wide event raises an alarm in every
    case at once. Each step reads and writes lists of every case and device, which PostgreSQL
    took one parameter a value (65,535 a statement at most), and spends seconds of Python
    between two statements, past the idle limit a step had: the step failed, every time it was
    retried, and detection never started, or no alarm of that event nor any after it reached an
    operator (at 125,000 cases, `bench/restart.py`, detection never started). Here a DDSE
    without its home unit in every case (not watchable), raised past the grace."""
    _home_unit(db, _placement(db, "W"), "H-W")  # watched: bracelet and home unit
    _placement(db, "C0")  # a bracelet, no home unit: refused, raised as unmonitored
    _clone_cases(db, "C0", CLONES)
    now = Clock(clock.now())
    pipeline = Pipeline(db, CONFIG, now)
    pipeline.step()
    assert pipeline.health.last_error is None
    engine = pipeline._engine
    assert engine is not None and engine.placement("W") is not None
    assert engine.placement(f"K{CLONES}") is None  # refused: known, not watched
    assert len(pipeline._revisions) == CLONES + 2
    now.now += timedelta(seconds=GRACE_S + 1)
    pipeline.step()
    assert pipeline.health.last_error is None
    with db.session() as session:
        raised = session.scalar(
            select(func.count())
            .select_from(Alarm)
            .where(Alarm.kind == "unmonitored", Alarm.status == "open")
        )
        devices = set(session.scalars(select(Alarm.device).where(Alarm.kind == "unmonitored")))
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "placement_not_monitored")
        )
        checked, breach = audit.verify(session)
    assert raised == audited == CLONES + 1
    assert {"B-C0", f"B-K{CLONES}"} <= devices and "B-W" not in devices
    assert breach is None and checked >= audited

"""The BAR devices' recent fixes (the engine's history, `alignment`) are stored apart from the
checkpoint: a base, then each checkpoint's additions (`engine_history`). The checkpoint stays
the same size however long the history grows, and a restart replays base and additions to
the very engine it had, out-of-order fixes, the history's two-hour horizon and a new base
included."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.alarms.test_pipeline import T0, Clock, store
from tests.cases import factories as make
from vigie.alarms import journal, pipeline
from vigie.alarms.pipeline import Pipeline
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.detect.engine import Engine
from vigie.detect.engine.alignment import HISTORY_MS
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import EngineHistory, EngineState

EVERY_STEP = Settings(escalation_after_s=3600, checkpoint_s=0)
LAT, LON = 45.0, 4.0


def seed_bar(db: Database) -> None:
    """Case C5: the wearer's bracelet W1 and the protected person's phone P1, 30 km apart."""
    with db.session() as session:
        who = make.contacts(session)
        wearer = make.person(session)
        victim = make.person(session, "Durand", home_lat=LAT, home_lon=LON)
        form = make.placement_form(wearer, who, "bar", case_ref="C5", protected_person_id=victim.id)
        placement = placements.create(session, form, "t")
        for device, kind, role in (
            ("W1", "bracelet", "wearer"),
            ("P1", "protected_device", "protected"),
        ):
            devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
            devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "t")


def at(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def fixes(minute: float, n: int = 3) -> list[dict[str, Any]]:
    """Both devices' fixes of a minute, the phone's last one sent late (before the others)."""
    out = []
    for k in range(n):
        t = T0 + timedelta(minutes=minute, seconds=10 * k)
        for device, lat in (("W1", LAT + 0.3), ("P1", LAT)):
            seq = int(minute * 100) * 10 + k
            out.append(
                {"kind": "obs", "device": device, "t": at(t), "type": "position", "seq": seq}
                | {"lat": lat + 0.0001 * k, "lon": LON, "accuracy_m": 10.0}
            )
    return [out[-1], *out[:-1]]


def rows(db: Database) -> list[tuple[bool, int]]:
    with db.session() as session:
        found = session.execute(
            select(EngineHistory.base, EngineHistory.fixes).order_by(EngineHistory.id)
        )
        return [(base, n) for base, n in found]


def run(db: Database, clock: Clock, centre: Pipeline, minutes: list[float]) -> None:
    for minute in minutes:
        store(db, *fixes(minute))
        clock.now = T0 + timedelta(minutes=minute + 0.9)
        centre.step()


def restarted(db: Database, clock: Clock) -> Pipeline:
    again = Pipeline(db, EVERY_STEP, clock)
    with db.reading() as session:
        again._load(session, clock.now)
    return again


def test_a_restart_replays_the_stored_history_to_the_same_engine(db: Database) -> None:
    seed_bar(db)
    clock = Clock(T0)
    centre = Pipeline(db, EVERY_STEP, clock)
    run(db, clock, centre, [0, 1, 2, 3])
    assert rows(db) == [(True, 6), (False, 6), (False, 6), (False, 6)]
    with db.session() as session:
        text = zlib.decompress(session.get_one(EngineState, 1).snapshot or b"")
    assert b'"history":null' in text  # the checkpoint holds none of it
    assert centre._engine is not None
    held = centre._engine.history_fixes()
    assert len(held) == 24
    again = restarted(db, clock)
    assert again._engine is not None
    assert again._engine.snapshot() == centre._engine.snapshot()
    # Past the two-hour horizon the oldest fixes go; the restored history drops them as well.
    run(db, clock, centre, [HISTORY_MS / 60_000 + 2])
    assert len(centre._engine.history_fixes()) < len(held)
    again = restarted(db, clock)
    assert again._engine is not None
    assert again._engine.snapshot() == centre._engine.snapshot()


def test_the_checkpoint_does_not_grow_with_the_history(db: Database) -> None:
    seed_bar(db)
    clock = Clock(T0)
    centre = Pipeline(db, EVERY_STEP, clock)
    sizes = []
    for minute in range(0, 40, 10):
        run(db, clock, centre, [minute])
        with db.session() as session:
            sizes.append(len(session.get_one(EngineState, 1).snapshot or b""))
    assert centre._engine is not None and len(centre._engine.history_fixes()) == 24
    assert max(sizes) - min(sizes) < 40  # the clock's digits, not 6 more fixes a minute


def test_a_new_base_replaces_what_was_stored_before_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "HISTORY_REBASE_MIN", 10)
    seed_bar(db)
    clock = Clock(T0)
    centre = Pipeline(db, EVERY_STEP, clock)
    run(db, clock, centre, [0, 1])
    assert rows(db) == [(True, 6), (False, 6)]
    run(db, clock, centre, [2])  # 12 stored after a base of 6: more than 10, a new base
    assert rows(db) == [(True, 18)]
    run(db, clock, centre, [3, 4, 5])
    assert rows(db) == [(True, 18), (False, 6), (False, 6), (False, 6)]
    run(db, clock, centre, [6])  # 24 after a base of 18
    assert rows(db) == [(True, 42)]
    again = restarted(db, clock)
    assert again._engine is not None and centre._engine is not None
    assert again._engine.snapshot() == centre._engine.snapshot()


def test_a_checkpoint_saved_with_its_history_inside_is_restored_then_based(db: Database) -> None:
    """A centre upgraded in place: its last checkpoint holds the history; the first one after
    stores it as a base."""
    seed_bar(db)
    clock = Clock(T0)
    centre = Pipeline(db, EVERY_STEP, clock)
    run(db, clock, centre, [0, 1])
    assert centre._engine is not None
    with db.session() as session:
        session.get_one(EngineState, 1).snapshot = centre._engine.checkpoint()  # the old form
        session.execute(EngineHistory.__table__.delete())
    again = restarted(db, clock)
    assert again._engine is not None
    assert again._engine.snapshot() == centre._engine.snapshot()
    run(db, clock, again, [2, 3])  # a restore checkpoints at its second step
    assert rows(db) == [(True, 24)]


def test_the_engine_refuses_a_checkpoint_without_its_history() -> None:
    engine = Engine()
    with pytest.raises(ValueError, match="history"):
        Engine.restore(engine.checkpoint(history=False), {})


def test_packed_history_comes_back_bit_for_bit() -> None:
    fixes = [("W1", (1, 0.1 + 0.2, -0.0, 5e-324)), ("P1", (2**62, 45.123456789012345, 4.0, 10.0))]
    fixes += [("W1", (3, float("inf"), 1e308, 0.0))]
    back = journal.unpack_history(journal.pack_history(fixes))
    assert [(d, tuple(map(repr, f))) for d, f in back] == [
        (d, tuple(map(repr, f))) for d, f in fixes
    ]
    assert journal.unpack_history(journal.pack_history([])) == []


def test_a_base_as_old_as_the_history_horizon_is_stored_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Then the rows hold no fix older than the engine itself could hold: in a small centre the
    additions would take days to outgrow the base."""
    monkeypatch.setattr(pipeline, "HISTORY_REBASE_S", 0.0)
    seed_bar(db)
    clock = Clock(T0)
    centre = Pipeline(db, EVERY_STEP, clock)
    run(db, clock, centre, [0, 1, 2])
    assert rows(db) == [(True, 18)]

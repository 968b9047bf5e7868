"""The live pipeline: stored observations reach the real detection engine and become alarms;
a restart from the stored snapshot continues exactly as if it had never stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.cases import factories as make
from vigie.alarms.pipeline import Pipeline
from vigie.cases import devices, placements
from vigie.cases.detection import placement_record
from vigie.cases.forms import AssignmentIn, DeviceIn, ZoneIn
from vigie.detect import Engine
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import Alarm, AlarmEventRow, Placement

# Monday 23 November 2026, 21:00 Paris = 20:00 UTC: inside the 20:00-07:00 home window.
T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def seed(db: Database) -> int:
    with db.session() as session:
        wearer, who = make.person(session), make.contacts(session)
        zone = {"id": "Z1", "type": "exclusion", "geometry": make.square(48.90, 2.40, 0.005)}
        placement = placements.create(
            session, make.placement_form(wearer, who, case_ref="C1", zones=[zone]), "t"
        )
        for device, kind, role in (("B1", "bracelet", "wearer"), ("H1", "home_unit", "home_unit")):
            devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
            devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "t")
        return placement.id


def store(db: Database, *records: dict[str, Any], received_at: datetime | None = None) -> None:
    """Store records as the ingest would, received when they were taken unless told."""
    with db.session() as session:
        rows = []
        for r in records:
            t = datetime.fromisoformat(r["t"].replace("Z", "+00:00"))
            rows.append(log.row_for(r, t, received_at or t, source="test"))
        log.append(session, rows)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def presence(minutes: float, present: bool) -> dict[str, Any]:
    return {"kind": "obs", "device": "H1", "t": at(minutes), "type": "presence", "present": present}


def fix(minutes: float, lat: float, lon: float) -> dict[str, Any]:
    record = {"kind": "obs", "device": "B1", "t": at(minutes), "type": "position"}
    return record | {"lat": lat, "lon": lon, "accuracy_m": 10.0, "seq": int(minutes * 60)}


SCRIPT = [
    [presence(0, True), fix(0, 48.91, 2.41)],
    [presence(1, False)],
    [fix(2, 48.90, 2.40)],  # inside the exclusion zone (1.3 km in 2 minutes: plausible)
    [fix(3, 48.91, 2.41), presence(3.5, True)],
    [fix(4, 48.90, 2.40)],  # back inside: the same zone episode, still open
]


def run(db: Database, restart_after: int | None) -> list[tuple[Any, ...]]:
    clock = Clock(T0)
    config = Settings(escalation_after_s=3600)
    pipeline = Pipeline(db, config, clock)
    for i, batch in enumerate(SCRIPT):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=i + 0.9)
        pipeline.step()
        if restart_after == i:
            pipeline = Pipeline(db, config, clock)  # a new process: restores the snapshot
    with db.session() as session:
        return [
            (e.t, e.case_ref, e.kind, e.state, e.device, e.alarm_id)
            for e in session.scalars(select(AlarmEventRow).order_by(AlarmEventRow.id))
        ]


def test_observations_become_alarm_episodes(db: Database) -> None:
    seed(db)
    events = run(db, restart_after=None)
    kinds = [(kind, state) for _, _, kind, state, _, _ in events]
    assert ("absence", "raised") in kinds and ("absence", "cleared") in kinds
    assert kinds.count(("zone_entry", "raised")) == 2
    with db.session() as session:
        alarms = {a.kind: a for a in session.scalars(select(Alarm))}
    assert set(alarms) == {"absence", "zone_entry"}
    assert alarms["zone_entry"].event_count == 3 and alarms["zone_entry"].cleared_at is None
    assert alarms["absence"].cleared_at is not None
    assert alarms["zone_entry"].detail["zone"] == "Z1"


def test_restart_from_snapshot_gives_the_same_events(db: Database) -> None:
    placement_id = seed(db)
    with db.session() as session:
        placement = session.get_one(Placement, placement_id)
        record = placement_record(placement)
    # The same batches and ticks through one engine that never stops...
    engine = Engine()
    engine.add_placement(record)
    expected = []
    for i, batch in enumerate(SCRIPT):
        tick = {"kind": "tick", "t": at(i + 0.9)}
        records = [{k: v for k, v in r.items() if k != "seq"} for r in batch]
        expected += [
            (e.t, e.case, e.kind, e.state, e.device) for e in engine.process([*records, tick])
        ]
    # ...and through the pipeline, killed and restored from the store after the second step.
    resumed = run(db, restart_after=1)
    assert [e[:5] for e in resumed] == expected
    assert len(expected) >= 4


def test_placement_change_reaches_the_engine(db: Database) -> None:
    placement_id = seed(db)
    clock = Clock(T0)
    pipeline = Pipeline(db, Settings(), clock)
    store(db, fix(0, 45.0, 5.0))
    pipeline.step()
    with db.session() as session:
        placement = session.get_one(Placement, placement_id)
        zone = ZoneIn(id="Z2", type="exclusion", geometry=make.square(45.0, 5.0, 0.01))
        placements.put_zone(session, placement, zone, "t")
    store(db, fix(1, 45.0, 5.0001))
    clock.now = T0 + timedelta(minutes=1)
    result = pipeline.step()
    assert result.observations == 1 and len(result.opened) == 1
    with db.session() as session:
        assert session.get_one(Alarm, result.opened[0]).detail["zone"] == "Z2"


def test_a_fix_older_than_another_observation_of_its_batch_is_not_taken_for_late(
    db: Database,
) -> None:
    """A stored batch mixes kinds: the pipeline must give what the engine gives in time order.

    The bracelet's fix at minute 5 and the home unit's report at minute 20 arrive together. In
    time order the bracelet falls silent at 5 and is lost at 15; handing the home unit's report
    over first would move the clock to 20 and call the bracelet lost at 10, wrongly.
    """
    placement_id = seed(db)
    with db.session() as session:
        record = placement_record(session.get_one(Placement, placement_id))
    batches = [[presence(0, True), fix(0, 48.85, 2.35)], [presence(20, True), fix(5, 48.85, 2.35)]]
    ticks = [0.5, 20.5]
    engine = Engine()
    engine.add_placement(record)
    expected = []
    for batch, tick in zip(batches, ticks, strict=True):
        records = [{k: v for k, v in r.items() if k != "seq"} for r in batch]
        done = engine.process([*records, {"kind": "tick", "t": at(tick)}])
        expected += [(e.t, e.case, e.kind, e.state, e.device) for e in done]
    clock = Clock(T0)
    pipeline = Pipeline(db, Settings(escalation_after_s=3600), clock)
    for batch, tick in zip(batches, ticks, strict=True):
        store(db, *batch)
        clock.now = T0 + timedelta(minutes=tick)
        pipeline.step()
    with db.session() as session:
        got = [
            (e.t, e.case_ref, e.kind, e.state, e.device)
            for e in session.scalars(select(AlarmEventRow).order_by(AlarmEventRow.id))
        ]
    lost = [(t, device, state) for t, _, kind, state, device in got if kind == "signal_lost"]
    assert [(t, state) for t, device, state in lost if device == "B1"] == [
        (T0 + timedelta(minutes=15), "raised")
    ]
    # The home unit, silent from 0 to 20, was lost at 10 and found again at 20.
    assert [(t, state) for t, device, state in lost if device == "H1"] == [
        (T0 + timedelta(minutes=10), "raised"),
        (T0 + timedelta(minutes=20), "cleared"),
    ]
    assert got == expected


def test_the_running_pipeline_rings_when_a_step_changed_alarms(db: Database) -> None:
    """A step that opens an alarm rings (consoles are woken); a step with no event does not."""
    seed(db)

    async def scenario(pipeline: Pipeline, rings: list[int]) -> None:
        store(db, fix(0, 48.91, 2.41))  # outside every zone (1.3 km off): no event
        await until(lambda: pipeline.health.cursor > 0)
        assert len(rings) == 0
        store(db, fix(1, 48.90, 2.40))  # in zone Z1
        pipeline.wake()
        await until(lambda: bool(rings))

    run_live(db, Settings(tick_s=0.05, escalation_after_s=3600), scenario)
    with db.session() as session:
        assert session.scalars(select(Alarm.kind)).all() == ["zone_entry"]


def test_observations_stored_without_a_ring_are_found_before_the_tick(db: Database) -> None:
    """The gateway stores readings from its own process and wakes nobody: the running pipeline
    looks for them every `poll_s`, well before its two-minute tick here."""
    seed(db)

    async def scenario(_pipeline: Pipeline, rings: list[int]) -> None:
        store(db, fix(1, 48.90, 2.40))  # in zone Z1, and no pipeline.wake()
        await until(lambda: bool(rings))

    run_live(db, Settings(tick_s=120, poll_s=0.05, escalation_after_s=3600), scenario)
    with db.session() as session:
        assert session.scalars(select(Alarm.kind)).all() == ["zone_entry"]


def run_live(
    db: Database,
    config: Settings,
    scenario: Callable[[Pipeline, list[int]], Awaitable[None]],
) -> None:
    """Play `scenario` beside a running pipeline, once warm, that counts its rings; stop it."""
    rings: list[int] = []
    pipeline = Pipeline(
        db, config, Clock(T0 + timedelta(minutes=2)), on_change=lambda: rings.append(1)
    )

    async def main() -> None:
        task = asyncio.create_task(pipeline.run())
        try:
            await until(lambda: pipeline.health.warm)
            await scenario(pipeline, rings)
        finally:
            pipeline.stop()
            await task

    asyncio.run(main())


async def until(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_escalation_is_looked_for_every_escalation_check_s_of_the_step_clock(
    db: Database,
) -> None:
    """A step a message would make the escalation query hundreds of times a second: it is
    made every `escalation_check_s` of the step clock, and an alarm past its delay escalates
    at the first look after it."""
    seed(db)
    clock = Clock(T0 + timedelta(minutes=3))
    config = Settings(escalation_after_s=60, escalation_factors={}, escalation_check_s=1.0)
    pipeline = Pipeline(db, config, clock)
    store(db, fix(0, 48.91, 2.41), fix(2, 48.90, 2.40))  # into the exclusion zone
    pipeline.step()
    opened = clock.now

    def escalated() -> list[datetime | None]:
        with db.session() as session:
            return list(session.scalars(select(Alarm.escalated_at)))

    assert escalated() == [None]
    seen = []
    for after_s in (59.5, 60.3, 60.6):  # due at 60 s; looked at 59.5, then not before 60.5
        clock.now = opened + timedelta(seconds=after_s)
        pipeline.step()
        seen.append(escalated())
    assert seen == [[None], [None], [opened + timedelta(seconds=60.6)]]

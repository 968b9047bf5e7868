"""Issue 20's rules: certainty without a cap, plausibility, persistence, one episode one alarm
in any arrival order, BAR pairs aligned in time, and ``detected_at``."""

from __future__ import annotations

from typing import Any

from tests.detect.records import T0, bar, circle, fix, minutes_of, offset, psem, run, zone
from vigie.detect import AlarmEvent, Engine

LAT, LON = 48.85, 2.35
ZONE = zone("Z1", "exclusion", circle(LAT, LON, 500))


def entries(events: list[AlarmEvent]) -> list[tuple[float, str]]:
    return [(minutes_of(e), e.state) for e in events if e.kind == "zone_entry"]


def inside(metres_deep: float) -> tuple[float, float]:
    """A point ``metres_deep`` inside the 500 m zone."""
    return offset(LAT, LON, 0, 500 - metres_deep)


def outside(metres: float = 300) -> tuple[float, float]:
    return offset(LAT, LON, 0, 500 + metres)


def engine_with(*placements: dict[str, Any]) -> Engine:
    engine = Engine()
    for placement in placements:
        engine.add_placement(placement)
    return engine


def one_by_one(engine: Engine, records: list[dict[str, Any]]) -> list[AlarmEvent]:
    """Records given to the engine as they arrive, one at a time (a live centre)."""
    out: list[AlarmEvent] = []
    for record in records:
        out += engine.process([record])
    return out


# --- certainty ------------------------------------------------------------------------------


def test_a_3_km_fix_never_raises_and_asks_for_a_precise_one() -> None:
    engine = engine_with(psem(zones=[ZONE]))
    events = engine.process([fix("B2", 0, *inside(450), acc=3000)])
    assert entries(events) == []
    assert engine.uncertain_devices() == ["B2"]
    assert [(d, reason) for d, _, reason in engine.take_fix_requests()] == [("B2", "uncertain")]
    assert engine.take_fix_requests() == []  # taken once


def test_a_10_m_fix_55_m_inside_raises() -> None:
    events = run([psem(zones=[ZONE])], [fix("B2", 0, *inside(55), acc=10)])
    assert entries(events) == [(0, "raised")]


# --- plausibility ---------------------------------------------------------------------------


def test_an_impossible_jump_is_held_as_suspect_then_confirmed() -> None:
    far_zone = zone("Z1", "exclusion", circle(LAT + 0.05, LON, 500))  # 5.6 km north
    far = (LAT + 0.05, LON)
    records = [fix("B2", 0, LAT, LON), fix("B2", 0.5, *far)]  # 5.6 km in 30 s: 185 m/s
    assert entries(run([psem(zones=[far_zone])], records)) == []
    # The next fix there confirms the jump: the breach is raised at it.
    records.append(fix("B2", 1, *far))
    assert entries(run([psem(zones=[far_zone])], records)) == [(1, "raised")]
    # A fix back on the old track refutes it: nothing raised.
    refuted = [*records[:2], fix("B2", 1, LAT, LON), fix("B2", 1.5, LAT, LON)]
    assert entries(run([psem(zones=[far_zone])], refuted)) == []


# --- persistence ----------------------------------------------------------------------------


def test_a_breach_is_raised_by_a_second_fix_with_the_added_delay() -> None:
    placement = psem(zones=[ZONE], confirm_s=600)
    events = run(
        [placement],
        [fix("B2", 0, *outside()), fix("B2", 1, *inside(200)), fix("B2", 1.5, *inside(210))],
    )
    assert entries(events) == [(1.5, "raised")]
    raised = next(e for e in events if e.kind == "zone_entry")
    assert raised.detail["confirmed_by"] == "second_fix"
    assert raised.detail["confirm_delay_s"] == 30.0


def test_a_single_fix_inside_then_one_outside_raises_nothing() -> None:
    placement = psem(zones=[ZONE], confirm_s=600)
    records = [fix("B2", 0, *outside()), fix("B2", 1, *inside(200)), fix("B2", 6, *outside())]
    assert entries(run([placement], records)) == []


def test_a_breach_with_no_fix_after_it_is_raised_at_the_bound() -> None:
    placement = psem(zones=[ZONE], confirm_s=600)
    events = run(
        [placement],
        [
            fix("B2", 0, *outside()),
            fix("B2", 1, *inside(200)),
            {"kind": "tick", "t": "2026-11-23T12:30:00Z"},
        ],
    )
    assert entries(events) == [(11, "raised")]
    raised = next(e for e in events if e.kind == "zone_entry")
    assert raised.detail["confirmed_by"] == "time" and raised.detail["confirm_delay_s"] == 600.0


def test_a_held_breach_survives_a_snapshot() -> None:
    placement = psem(zones=[ZONE], confirm_s=600)
    engine = engine_with(placement)
    engine.process([fix("B2", 0, *outside()), fix("B2", 1, *inside(200))])
    restored = Engine.restore(engine.snapshot())
    assert restored.snapshot() == engine.snapshot()
    later = [fix("B2", 1.5, *inside(210))]
    assert [e.to_json() for e in restored.process(later)] == [
        e.to_json() for e in engine.process(later)
    ]


# --- one episode, one alarm, in any arrival order --------------------------------------------


def test_late_fixes_after_later_outside_fixes_give_one_past_episode() -> None:
    # The case: fixes inside at 10:05, 10:06, 10:07 arrive after outside ones at 10:10.
    for confirm in (None, 600):
        settings = {} if confirm is None else {"confirm_s": confirm}
        engine = engine_with(psem(zones=[ZONE], **settings))
        live = [fix("B2", 0, *outside()), fix("B2", 10, *outside()), fix("B2", 11, *outside())]
        late = [fix("B2", m, *inside(200)) for m in (5, 6, 7)]
        again = [fix("B2", m, *inside(200)) for m in (7, 6, 5)]  # retransmitted, newest first
        events = one_by_one(engine, live + late + again)
        raised = [e for e in events if e.kind == "zone_entry" and e.state == "raised"]
        assert len(raised) == 1, confirm
        assert minutes_of(raised[0]) == 5  # its own time...
        assert raised[0].detected_at == T0.replace(minute=11)  # ...and when the centre learned
        cleared = [e for e in events if e.kind == "zone_entry" and e.state == "cleared"]
        assert [(minutes_of(e), e.detail["reason"]) for e in cleared] == [(11, "superseded")]


def test_a_breach_uploaded_newest_first_is_one_episode_still_raised() -> None:
    engine = engine_with(psem(zones=[ZONE], confirm_s=600))
    burst = [fix("B2", m, *inside(200)) for m in (9, 8, 7, 6)]
    events = one_by_one(engine, [fix("B2", 0, *outside()), *burst])
    assert entries(events) == [(8, "raised")]
    assert next(e for e in events if e.kind == "zone_entry").detected_at is not None


# --- BAR alignment --------------------------------------------------------------------------


def test_a_drive_by_seen_late_is_paired_with_the_protected_person_then() -> None:
    # She drives away east at 20 m/s; he passes 2.8 km from where she is at each of his fixes
    # (alert at 3 km), but his fixes reach the centre 15 minutes late, after hers.
    placement = bar(protected="P3", places=[], km=3.0, alert_confirm_s=60, confirm_s=600)
    hers = [fix("P3", m / 2, *offset(LAT, LON, 90, 600 * m)) for m in range(0, 41)]
    his = [
        fix("B3", m / 2, *offset(*offset(LAT, LON, 90, 600 * m), 0, 2_800)) for m in range(4, 12)
    ]
    events = one_by_one(engine_with(placement), hers + his)
    alerts = [e for e in events if e.kind == "alert" and e.state == "raised"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert minutes_of(alert) == 2.5  # his second fix, at its own time
    assert abs(alert.detail["distance_m"] - 2_800) < 30
    assert alert.detected_at == T0.replace(minute=20)
    # Paired with her newest position instead, he would have been 17 km away: no alert.


def test_a_drive_through_a_zone_corner_between_two_fixes_is_raised_as_a_transit() -> None:
    # Driving east at 20 m/s, fixes 30 s apart, along a chord 450 m from the centre: one fix
    # lands inside (50 m deep), the ones before and after are outside.
    chord = offset(LAT, LON, 180, 450)
    way = [offset(*chord, 90, x) for x in (-600, 0, 600)]
    records = [fix("B2", m / 2, *p) for m, p in enumerate(way)]
    events = run([psem(zones=[ZONE], confirm_s=600)], records)
    assert entries(events) == [(0.5, "raised"), (1, "cleared")]
    assert next(e for e in events if e.kind == "zone_entry").detail["confirmed_by"] == "track"


def test_a_canyon_jump_into_a_zone_off_the_way_is_not_a_transit() -> None:
    # Walking along a street 100 m outside; one fix jumps 160 m into the zone, then back.
    street = offset(LAT, LON, 180, 600)
    records = [
        fix("B2", 0, *offset(*street, 90, -20)),
        fix("B2", 0.5, *offset(*street, 0, 160)),
        fix("B2", 1, *offset(*street, 90, 20)),
    ]
    assert entries(run([psem(zones=[ZONE], confirm_s=600)], records)) == []

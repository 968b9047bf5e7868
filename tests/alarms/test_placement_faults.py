"""One placement detection fails on cannot blind the others: a circle of 1e-308 m (the API took
any radius above 0 until its save-time check, which then answered 500 on it) made the engine's
set-up raise a ValueError, not its refusal; the step failed, and every step after it, each
retrying the record: the whole partition went unwatched. It is refused now, and whatever fault
of ours a placement sets off is that case's `unmonitored` fault, the others watched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.alarms.test_pipeline import Clock
from tests.alarms.test_unmonitored import CONFIG, GRACE_S, _alarms, _home_unit, _placement
from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.alarms.pipeline import Pipeline
from vigie.detect import Engine, ScenarioError, replay
from vigie.store import Database
from vigie.store.models import AlarmEventRow, UnwatchedPlacement, Zone

VANISHING = {"type": "circle", "lat": 45.05, "lon": 5.0, "radius_m": 1e-308}


def _watched_pair(db: Database) -> int:
    """Two DDSE cases with their bracelet and home unit, C1 and C2; returns C2's id."""
    first, second = _placement(db, "C1"), _placement(db, "C2")
    _home_unit(db, first, "H-C1")
    _home_unit(db, second, "H-C2")
    return second


def _steps_past_the_grace(db: Database, second: int) -> None:
    """A detector's step, C1 watched and C2 held unwatched by it; then one past the grace."""
    now = Clock(clock.now())
    pipeline = Pipeline(db, CONFIG, now)
    pipeline.step()
    engine = pipeline._engine
    assert engine is not None
    assert engine.placement("C1") is not None and engine.placement("C2") is None
    assert _unwatched(db) == [second]
    now.now += timedelta(seconds=GRACE_S + 1)
    pipeline.step()


def _unwatched(db: Database) -> list[int]:
    with db.session() as session:
        return list(session.scalars(select(UnwatchedPlacement.placement_id)))


def test_a_vanishing_circle_stored_before_the_check_blinds_nothing(db: Database) -> None:
    second = _watched_pair(db)
    with db.session() as session:  # as the API saved it before its save-time check
        session.add(Zone(placement_id=second, key="Q", type="exclusion", geometry=VANISHING))
    _steps_past_the_grace(db, second)  # the first raised ValueError before, and every step after
    (alarm,) = _alarms(db, "C2")
    assert alarm.status == "open"


def test_any_fault_a_placement_sets_off_is_its_case_s_alone(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault of ours not yet known (injected here): the same as a refusal, not fatal."""
    second = _watched_pair(db)
    add = Engine.add_placement

    def failing(self: Engine, record: dict[str, object]) -> None:
        if record["case"] == "C2":
            raise RuntimeError("latitude 48.8566 of her place")  # words that could place her
        add(self, record)

    monkeypatch.setattr(Engine, "add_placement", failing)
    _steps_past_the_grace(db, second)
    with db.session() as session:
        (detail,) = session.scalars(
            select(AlarmEventRow.detail).where(AlarmEventRow.case_ref == "C2")
        ).all()
    assert detail["error"] == "detection failed on it (RuntimeError)"
    assert "48.8566" not in str(detail)


def test_the_api_refuses_a_circle_with_nothing_inside(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    for radius, field in ((1e-308, "zones[Q].geometry"), (1e9, "zones[Q].geometry")):
        answer = centre.client.put(
            f"/api/placements/{world.placement}/zones/Q",
            json={"id": "Q", "type": "exclusion", "geometry": VANISHING | {"radius_m": radius}},
            headers=supervisor,
        )
        assert answer.status_code == 422, answer.text  # 500 before, for 1e-308
        assert answer.json()["field"].startswith(field)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (
            {"kind": "placement", "case": "C", "measure": "psem", "wearer": "B"}
            | {"zones": [{"id": "Z", "type": "exclusion", "geometry": VANISHING}]},
            "zones.0.geometry",
        ),
        (
            {"kind": "placement", "case": "C", "measure": "psem", "wearer": "B"}
            | {
                "zones": [
                    {"id": "Z", "type": "exclusion", "geometry": VANISHING | {"radius_m": 1e308}}
                ]
            },
            "zones.0.geometry.radius_m",
        ),
        ({"kind": "tick", "t": "0001-01-01T00:00:00+14:00"}, "t"),
        ({"kind": "obs", "device": "H", "t": "0001-01-01T00:00:00Z", "type": "presence"}, "t"),
        ({"kind": "obs", "device": "H", "t": "9999-12-31T23:59:59Z", "type": "presence"}, "t"),
    ],
)
def test_replay_names_the_line_and_field_of_what_it_cannot_run(
    line: dict[str, object], field: str
) -> None:
    """Exit 2 naming them (the contract), where a year-1 time at a DDSE's home unit ended the
    run on an OverflowError and the circles on a ValueError or numbers overflowing."""
    import json

    ddse = {
        "kind": "placement",
        "case": "D",
        "measure": "ddse",
        "wearer": "W",
        "home_unit": "H",
        "schedule": [{"days": "mon-fri", "from": "20:00", "to": "07:00"}],
    }
    if line.get("type") == "presence":
        line = line | {"present": False}
    with pytest.raises(ScenarioError) as refused:
        replay([json.dumps(ddse), json.dumps(line)])
    assert refused.value.line == 2
    assert refused.value.field == field

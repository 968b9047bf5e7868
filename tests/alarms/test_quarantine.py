"""One record must never stop or blind detection (issue 11, section 1).

Each test replays a finding of the review: a record the engine could not run (an unknown tamper
`what`, a time in year 9999 or year 1) was accepted, then stopped every later step or froze the
engine's clock, so that a real strap cut or a real loss of signal raised nothing. Now the one
model refuses it at the API (422 naming the field); stored all the same (a database from before,
or any other writer), it is quarantined by the pipeline, and detection goes on for everyone.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import journal
from vigie.alarms.pipeline import ENGINE_FAULT, Pipeline, PipelineHealth, ThreadDoorbell
from vigie.detect import Engine
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import Alarm, AuditEntry, EngineState, QuarantinedObservation

SIGNAL_TIMEOUT = timedelta(seconds=600)  # the placements' default


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def obs(device: str, t: str, type_: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "obs", "device": device, "t": t, "type": type_, **fields}


def post(centre: Centre, *records: dict[str, Any]) -> Any:
    return centre.client.post(
        "/api/observations",
        json={"observations": list(records)},
        headers=centre.headers("integration"),
    )


def store_raw(db: Database, record: dict[str, Any], t: datetime, received_at: datetime) -> int:
    """A row written straight into the store, past every check (a database from before)."""
    with db.session() as session:
        (row_id,) = log.append(session, [log.row_for(record, t, received_at, source="test")]).ids
    return row_id


def alarms(db: Database) -> dict[tuple[str, str, str], Alarm]:
    with db.session() as session:
        return {(a.case_ref, a.kind, a.device): a for a in session.scalars(select(Alarm))}


def quarantined(db: Database) -> dict[int, QuarantinedObservation]:
    with db.session() as session:
        return {q.observation_id: q for q in session.scalars(select(QuarantinedObservation))}


@pytest.fixture
def world(centre: Centre) -> Centre:
    build(centre)
    return centre


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The centre's clock, stopped: moved by the test, for the API and the pipeline alike."""
    stopped = Clock(clock.now())
    monkeypatch.setattr(clock, "now", stopped)
    return stopped


def pipeline_of(centre: Centre, at: Clock) -> Pipeline:
    """The real pipeline on the centre's database, reported by the centre's /api/health."""
    pipeline = Pipeline(centre.db, Settings(escalation_after_s=3600), at)
    centre.client.app.state.pipeline = pipeline  # type: ignore[attr-defined]
    return pipeline


def test_unknown_tamper_word_is_refused_and_a_real_strap_cut_still_raises(
    world: Centre, at: Clock
) -> None:
    bad = obs("NOT-REGISTERED", iso(at.now), "tamper", what="strap_opened")
    refused = post(world, bad)
    assert refused.status_code == 422
    assert refused.json()["field"] == "observations[0].tamper.what"
    # The same record in the store all the same (written before the model, or by another path).
    bad_id = store_raw(world.db, bad, at.now, at.now)
    pipeline = pipeline_of(world, at)
    at.now += timedelta(seconds=1)
    assert pipeline.step().quarantined == 1
    assert post(world, obs("B1", iso(at.now), "tamper", what="strap_cut")).is_success
    at.now += timedelta(seconds=1)
    pipeline.step()  # and every step after
    assert ("C1", "tamper", "B1") in alarms(world.db)
    mark = quarantined(world.db)[bad_id]
    assert mark.field == "what" and "strap_opened" in mark.reason and not mark.clock_fault
    health = world.client.get("/api/health")
    assert health.status_code == 200, health.text
    assert health.json()["pipeline"]["quarantined"] == 1
    listed = world.client.get("/api/quarantine", headers=world.headers("admin"))
    assert [(q["id"], q["device"], q["field"]) for q in listed.json()] == [
        (bad_id, "NOT-REGISTERED", "what")
    ]
    assert world.client.get("/api/quarantine", headers=world.headers("operator")).status_code == 403


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_an_absurd_time_is_refused_and_loss_of_signal_is_still_detected(
    world: Centre, at: Clock, when: str
) -> None:
    absurd = obs("B1", when, "battery", level=0.9)
    refused = post(world, absurd)
    assert refused.status_code == 422 and refused.json()["field"] == "observations[0].t"
    fix = obs("B1", iso(at.now), "position", lat=48.85, lon=2.35, accuracy_m=10)
    assert post(world, fix).is_success
    bad_id = store_raw(world.db, absurd, datetime.fromisoformat(when), at.now)
    pipeline = pipeline_of(world, at)
    at.now += timedelta(seconds=1)
    pipeline.step()
    assert quarantined(world.db)[bad_id].clock_fault
    # B1's clock is wrong, not the centre's: a technical alarm on its case, nobody's time moved.
    fault = alarms(world.db)[("C1", "clock_fault", "B1")]
    assert fault.detail["device_t"].startswith(when[:4]) and fault.cleared_at is None
    at.now += SIGNAL_TIMEOUT + timedelta(seconds=5)
    pipeline.step()
    assert ("C1", "signal_lost", "B1") in alarms(world.db)
    # A report in time again clears the clock fault (and ends the silence).
    assert post(world, obs("B1", iso(at.now), "battery", level=0.8)).is_success
    at.now += timedelta(seconds=1)
    pipeline.step()
    assert alarms(world.db)[("C1", "clock_fault", "B1")].cleared_at is not None
    assert world.client.get("/api/health").status_code == 200


def test_a_row_stored_with_a_wrong_receipt_time_cannot_drag_the_engine_either(
    world: Centre, at: Clock
) -> None:
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    fix = obs("B1", iso(at.now), "position", lat=48.85, lon=2.35, accuracy_m=10)
    assert post(world, fix).is_success
    bad_id = store_raw(world.db, obs("B1", iso(far), "battery", level=0.5), far, far)
    pipeline = pipeline_of(world, at)
    pipeline.step()
    assert quarantined(world.db)[bad_id].clock_fault
    at.now += SIGNAL_TIMEOUT + timedelta(seconds=5)
    pipeline.step()
    assert ("C1", "signal_lost", "B1") in alarms(world.db)


def test_an_engine_whose_clock_was_dragged_before_recovers_by_itself(
    world: Centre, at: Clock
) -> None:
    """A database from before: a record of the year 8999 was run, and the engine's clock saved
    with it (the engine now refuses a time from 9000 on, as its calendar's end)."""
    pipeline = pipeline_of(world, at)
    fix = obs("B1", iso(at.now), "position", lat=48.85, lon=2.35, accuracy_m=10)
    assert post(world, fix).is_success
    pipeline.step()
    far = obs("X9", "8999-12-31T23:59:59Z", "battery", level=0.5)
    far_id = store_raw(world.db, far, datetime(8999, 12, 31, 23, 59, 59, tzinfo=UTC), at.now)
    with world.db.session() as session:  # what the old pipeline saved after running it
        state = session.get_one(EngineState, 1)
        saved = journal.load(session)
        assert saved is not None
        engine = Engine.restore(saved.snapshot, saved.records, journal.history(session))
        engine.process([far])
        state.snapshot, state.cursor = engine.snapshot(), far_id
    at.now += timedelta(seconds=5)
    pipeline = pipeline_of(world, at)  # a restart: the saved engine is restored
    pipeline.step()
    assert far_id in quarantined(world.db)
    with world.db.session() as session:
        actions = list(session.scalars(select(AuditEntry.action)))
    assert "detection_restarted" in actions
    # Watching again: B1 reports, then falls silent, and the loss of signal is raised.
    assert post(world, obs("B1", iso(at.now), "battery", level=0.8)).is_success
    pipeline.step()
    at.now += SIGNAL_TIMEOUT + timedelta(seconds=5)
    pipeline.step()
    assert ("C1", "signal_lost", "B1") in alarms(world.db)
    assert world.client.get("/api/health").status_code == 200


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "presence", "present": "yes"}, "observations[0].presence.present"),
        ({"type": "presence", "present": 1}, "observations[0].presence.present"),
        ({"type": "power", "mains": "false"}, "observations[0].power.mains"),
        ({"type": "position", "lat": 0, "lon": 0, "accuracy_m": 5}, "observations[0].position"),
        (
            {"type": "position", "lat": 45, "lon": 5, "accuracy_m": 1e6},
            "observations[0].position.accuracy_m",
        ),
        ({"type": "tamper", "what": "opened"}, "observations[0].tamper.what"),
        ({"type": "battery", "level": 2}, "observations[0].battery.level"),
        ({"type": "weather"}, "observations[0]"),
    ],
)
def test_the_api_speaks_the_engines_vocabulary(
    centre: Centre, fields: dict[str, Any], field: str
) -> None:
    record = {"device": "B1", "t": iso(clock.now())} | fields
    refused = post(centre, record)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == field


def test_the_allowed_clock_skew_is_a_setting(database_url: str, db: Database) -> None:
    from fastapi.testclient import TestClient

    from vigie.api import create_app

    config = Settings(database_url=database_url, run_pipeline=False, max_clock_skew_s=10)
    with TestClient(create_app(config)) as client:
        centre = Centre(client, db)
        now = clock.now()
        ahead = post(centre, obs("B1", iso(now + timedelta(seconds=30)), "battery", level=0.5))
        # "29 s" or "30 s": the request itself takes time between the two clocks' readings.
        assert ahead.status_code == 422 and ahead.json()["field"] == "observations[0].t"
        assert "s ahead of its receipt" in ahead.json()["message"]
        assert "at most 10 s allowed" in ahead.json()["message"]
        assert post(
            centre, obs("B1", iso(now + timedelta(seconds=5)), "battery", level=0.5)
        ).is_success
        old = post(centre, obs("B1", iso(now - timedelta(days=400)), "battery", level=0.5))
        assert old.status_code == 422 and old.json()["field"] == "observations[0].t"


def test_a_detector_asked_to_stop_during_a_long_catch_up_stops_between_steps(
    world: Centre, at: Clock
) -> None:
    """A stop is heard after the step under way, not after the whole backlog."""
    readings = [
        obs("B1", iso(at.now - timedelta(seconds=n)), "battery", level=0.5, seq=n)
        for n in range(2000)
    ]
    for start in range(0, len(readings), 500):
        assert post(world, *readings[start : start + 500]).is_success
    bell = ThreadDoorbell()
    pipeline = Pipeline(world.db, Settings(escalation_after_s=3600), at, batch=100)
    steps: list[int] = []

    def report(health: PipelineHealth, _changed: bool) -> None:
        steps.append(health.cursor)
        if len(steps) == 2:
            bell.close()  # SIGTERM reached the detector while 1800 observations wait

    runner = threading.Thread(target=pipeline.serve, args=(bell, report))
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert len(steps) == 2 and steps[-1] == 200  # two batches consumed, the rest left


def test_the_admins_list_shows_a_refused_fix_whole_but_where_it_was(
    world: Centre, at: Clock
) -> None:
    """A fix is stored without what its columns hold: the quarantine's list puts its record back
    together (who, when, its extras) and still leaves out its coordinates and accuracy."""
    unusable = obs("B1", iso(at.now), "position", lat=48.85, lon=2.35, accuracy_m=1e12, seq=4)
    unusable["hdop"] = 0.7
    bad_id = store_raw(world.db, unusable, at.now, at.now)
    pipeline_of(world, at).step()
    assert quarantined(world.db)[bad_id].field == "lat"
    listed = world.client.get("/api/quarantine", headers=world.headers("admin")).json()
    (shown,) = [q for q in listed if q["id"] == bad_id]
    where = {"lat", "lon", "accuracy_m"}
    assert shown["payload"] == {k: v for k, v in unusable.items() if k not in where}


# An observation that detection itself fails on (a fault of ours it sets off, as a device no
# case wears did in the rule tables' index): quarantined, not fatal to every step after it.


def failing_on(monkeypatch: pytest.MonkeyPatch, device: str | None) -> None:
    """The engine's fix path fails on a batch holding `device`'s fix (None: on every batch)."""
    real = Engine.process_positions

    def process_positions(engine: Engine, index: np.ndarray, *columns: Any) -> Any:
        ids = {engine._devices.ids[int(d)] for d in index}
        if device is None or device in ids:
            raise RuntimeError(f"a fault of ours on {device or 'anything'}")
        return real(engine, index, *columns)

    monkeypatch.setattr(Engine, "process_positions", process_positions)


def test_a_row_detection_fails_on_is_quarantined_and_the_others_run(
    world: Centre, at: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fix = obs("B1", iso(at.now), "position", lat=48.85, lon=2.35, accuracy_m=10)
    store_raw(world.db, fix, at.now, at.now)
    pipeline = pipeline_of(world, at)
    pipeline.step()
    failing_on(monkeypatch, "SPARE7")
    at.now += timedelta(seconds=5)
    strange = obs("SPARE7", iso(at.now), "position", lat=48.85, lon=2.35, accuracy_m=80)
    bad_id = store_raw(world.db, strange, at.now, at.now)
    cut = obs("B1", iso(at.now), "tamper", what="strap_cut")
    store_raw(world.db, cut, at.now, at.now)
    store_raw(world.db, fix | {"t": iso(at.now)}, at.now, at.now)
    at.now += timedelta(seconds=1)
    result = pipeline.step()  # it failed, and every step after it, for every case
    assert result.quarantined == 1
    mark = quarantined(world.db)[bad_id]
    assert mark.field == ENGINE_FAULT and "RuntimeError: a fault of ours on SPARE7" in mark.reason
    assert ("C1", "tamper", "B1") in alarms(world.db)
    health = world.client.get("/api/health").json()["pipeline"]
    assert health["quarantined"] == 1 and health["last_error"] is None
    # A restart re-runs the journaled step without the row, and comes out the same.
    restarted = Pipeline(world.db, Settings(escalation_after_s=3600), at)
    at.now += timedelta(seconds=1)
    restarted.step()
    assert restarted.replayed is not None and restarted.replayed.mismatched == 0
    assert restarted.replayed.steps >= 1


def test_a_fault_no_single_row_sets_off_fails_the_step_and_quarantines_nothing(
    world: Centre, at: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = pipeline_of(world, at)
    pipeline.step()
    failing_on(monkeypatch, None)
    for device in ("B1", "SPARE7"):
        fix = obs(device, iso(at.now), "position", lat=48.85, lon=2.35, accuracy_m=10)
        store_raw(world.db, fix, at.now, at.now)
    at.now += timedelta(seconds=1)
    with pytest.raises(RuntimeError, match="a fault of ours on anything"):
        pipeline.step()
    assert quarantined(world.db) == {}
    health = world.client.get("/api/health")
    assert health.json()["pipeline"]["last_error"] == "RuntimeError"


def test_the_clock_skew_and_report_rate_settings_are_bounded_to_a_day() -> None:
    """A commit meant to widen escalation's bound to 10^7 s widened these two as well: a skew of
    116 days let a device's clock, that far ahead, move detection's time."""
    for field in ("max_clock_skew_s", "report_every_s"):
        Settings(**{field: 86_400})
        with pytest.raises(ValidationError, match=field):
            Settings(**{field: 86_401})

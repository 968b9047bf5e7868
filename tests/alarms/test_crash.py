"""kill -9 of the detection process mid-stream (issue 13): after restarts from the checkpoint and
the step journal, every alarm event is stored once, none lost, none doubled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from tests.alarms.test_end_to_end import eventually
from tests.cases import factories as make
from vigie import clock
from vigie.cases import devices, placements
from vigie.cases.detection import placement_record
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.detect import Engine
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import AlarmEventRow, EngineStep, Observation, Placement

CASES = 6
DETECTOR = """
import logging
import sys
from vigie.alarms.pipeline import Pipeline, ThreadDoorbell
from vigie.settings import Settings
from vigie.store import open_database

logging.basicConfig(level=logging.INFO, force=True)
url = sys.argv[1]
config = Settings(database_url=url, checkpoint_s=0.4, tick_s=0.05, poll_s=0.01)
Pipeline(open_database(url), config).serve(ThreadDoorbell())
"""


def centre_of(n: int) -> tuple[float, float]:
    return 45.0 + n * 0.1, 4.0


def seed(db: Database) -> None:
    with db.session() as session:
        who = make.contacts(session)
        for n in range(CASES):
            lat, lon = centre_of(n)
            zone = {"id": "Z", "type": "exclusion", "geometry": make.square(lat, lon, 0.005)}
            wearer = make.person(session, f"P{n}")
            form = make.placement_form(wearer, who, case_ref=f"K{n}", zones=[zone])
            placement = placements.create(session, form, "t")
            for device, kind, role in (
                (f"B{n}", "bracelet", "wearer"),
                (f"H{n}", "home_unit", "home_unit"),
            ):
                devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
                devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "t")


def post_fixes(db: Database, seq: list[int], seconds: float) -> None:
    """Fixes in and out of each case's exclusion zone (a zone event every fifth), for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = clock.now()
        rows = []
        for n in range(CASES):
            seq[n] += 1
            lat, lon = centre_of(n)
            inside = seq[n] // 5 % 2 == 1
            record = {
                "kind": "obs",
                "device": f"B{n}",
                "seq": seq[n],
                "t": now.isoformat().replace("+00:00", "Z"),
                "type": "position",
                "lat": lat if inside else lat + 0.05,
                "lon": lon,
                "accuracy_m": 5.0,
            }
            rows.append(log.row_for(record, now, now, source="test"))
        with db.session() as session:
            log.append(session, rows)
        time.sleep(0.05)


def expected_zone_events(db: Database) -> Counter[tuple[Any, ...]]:
    """What one engine that never stopped makes of every stored fix."""
    engine = Engine()
    with db.session() as session:
        query = select(Placement).options(
            selectinload(Placement.zones), selectinload(Placement.assignments)
        )
        for placement in session.scalars(query):
            record = placement_record(placement)
            assert record is not None
            engine.add_placement(record)
        rows = session.scalars(select(Observation).order_by(Observation.id)).all()
        records = [
            {
                "kind": "obs",
                "device": r.device,
                "t": r.t.isoformat().replace("+00:00", "Z"),
                "type": "position",
                "lat": r.lat,
                "lon": r.lon,
                "accuracy_m": r.accuracy_m,
            }
            for r in rows
        ]
    return Counter(
        (e.t, e.case, e.kind, e.state, e.device)
        for e in engine.process(records)
        if e.kind == "zone_entry"
    )


def last_step(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.max(EngineStep.id))) or 0


def stored_zone_events(db: Database) -> Counter[tuple[Any, ...]]:
    with db.session() as session:
        return Counter(
            (e.t, e.case_ref, e.kind, e.state, e.device)
            for e in session.scalars(
                select(AlarmEventRow).where(AlarmEventRow.kind == "zone_entry")
            )
        )


def test_kill_9_mid_stream_loses_and_doubles_no_alarm_event(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    seed(db)
    rng = random.Random(13)
    seq = [0] * CASES
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    for _ in range(3):
        detector = subprocess.Popen(
            [sys.executable, "-c", DETECTOR, database_url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "detector.log").open("a"),
        )
        try:
            started = last_step(db)
            deadline = time.monotonic() + 60
            while last_step(db) < started + 3 and time.monotonic() < deadline:
                post_fixes(db, seq, 0.1)  # while it starts and restores
            post_fixes(db, seq, rng.uniform(0.3, 1.5))
        finally:
            os.kill(detector.pid, signal.SIGKILL)  # mid-stream, mid-step if it so happens
            detector.wait()
    detector = subprocess.Popen(
        [sys.executable, "-c", DETECTOR, database_url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "detector.log").open("a"),
    )
    try:
        with db.session() as session:
            last = log.last_id(session)

        def caught_up() -> bool:
            with db.session() as session:
                done = session.scalar(select(func.max(EngineStep.cursor_to)))
            return done is not None and done >= last

        try:
            eventually(caught_up, timeout_s=90)
        except AssertionError as exc:
            raise AssertionError((tmp_path / "detector.log").read_text()[-3000:]) from exc
    finally:
        detector.terminate()
        detector.wait(timeout=30)
    expected = expected_zone_events(db)
    stored = stored_zone_events(db)
    assert sum(expected.values()) >= CASES * 4  # a real stream of raises and clears
    assert stored - expected == Counter(), "stored twice or never made"
    assert expected - stored == Counter(), "lost"
    log_text = (tmp_path / "detector.log").read_text()
    assert "journaled steps re-run" in log_text  # a restart did re-run steps after a checkpoint
    assert "re-run with other events" not in log_text

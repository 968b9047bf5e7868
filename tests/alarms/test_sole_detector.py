"""One embedded detector at a time on a store (vigie.alarms.sole_detector): a second one stands
by, tells the holder's progress, and takes over when the holder stops; on both databases."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.alarms.test_end_to_end import eventually
from tests.alarms.test_pipeline import T0, Clock, fix, seed, store
from vigie.alarms.pipeline import Pipeline, ThreadDoorbell
from vigie.alarms.sole_detector import DetectorLock
from vigie.api import create_app
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import Alarm

CONFIG = Settings(tick_s=0.05, poll_s=0.05, escalation_after_s=3600)
NOW = T0 + timedelta(minutes=10)


@contextmanager
def serving(pipeline: Pipeline) -> Iterator[Callable[[], None]]:
    """`pipeline.serve` in a thread; yields a stop that waits for its end."""
    bell = ThreadDoorbell()
    thread = threading.Thread(target=pipeline.serve, args=(bell,), daemon=True)
    thread.start()

    def stop() -> None:
        bell.close()
        thread.join(10)
        assert not thread.is_alive(), "the detector did not stop"

    try:
        yield stop
    finally:
        if thread.is_alive():
            stop()


def zone_alarms(db: Database) -> list[Alarm]:
    with db.reading() as session:
        return list(session.scalars(select(Alarm).where(Alarm.kind == "zone_entry")))


def test_a_second_detector_stands_by_then_takes_over_when_the_first_stops(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Before the lock, two detectors on one store each found the journal ahead of its engine
    at every step and restored, step after step. Now the second steps nothing, tells the
    holder's progress, and detects from the tick after the holder's end."""
    seed(db)
    first, second = Pipeline(db, CONFIG, Clock(NOW)), Pipeline(db, CONFIG, Clock(NOW))
    caplog.set_level(logging.WARNING, logger="vigie.alarms.pipeline")
    with serving(first) as stop_first:
        # The second starts once the first holds the lock: started together, either may win.
        eventually(lambda: first.health.warm and not first.health.standby)
        with serving(second):
            eventually(lambda: second.health.standby)
            store(db, fix(1, 48.90, 2.40))  # inside zone Z1
            eventually(lambda: len(zone_alarms(db)) == 1)
            # The standby tells how far the holder went, from the store.
            eventually(lambda: second.health.cursor == first.health.cursor > 0)
            assert second.health.warm and second.health.last_step_at is not None
            assert "restoring detection from the store" not in caplog.text  # none each step
            assert "stands by" in caplog.text

            stop_first()
            eventually(lambda: not second.health.standby and second.health.warm)
            assert "taking over" in caplog.text
            store(db, fix(2, 48.91, 2.41))  # out of Z1 again: the second detector clears it
            eventually(lambda: zone_alarms(db)[0].cleared_at is not None)
    (alarm,) = zone_alarms(db)
    assert alarm.event_count == 2  # raised by the first, cleared by the second, nothing twice


def test_a_standby_whose_holder_steps_nothing_is_blind_then_takes_over(
    db: Database, database_url: str
) -> None:
    """The holder keeps the lock and steps nothing (hung): the standby's health, reading the
    holder's committed progress, goes blind once observations wait past the limit; when the
    holder's lock goes, the standby detects them."""
    seed(db)
    Pipeline(db, CONFIG, Clock(NOW)).step()  # the holder worked a while, then hung
    hung = DetectorLock(db)
    assert hung.hold()
    config = Settings(
        database_url=database_url,
        tick_s=0.05,
        poll_s=0.05,
        run_pipeline=True,
        blind_after_s=0.5,
        escalation_after_s=3600,
    )
    try:
        with TestClient(create_app(config)) as client:
            standing = eventually(lambda: client.get("/api/health").json()["pipeline"]["standby"])
            assert standing
            store(db, fix(1, 48.90, 2.40), received_at=T0 + timedelta(minutes=1))
            blind = eventually(lambda: (r := client.get("/api/health")).status_code == 503 and r)
            body = blind.json()
            assert body["status"] == "stalled" and body["pipeline"]["standby"]
            assert body["pipeline"]["backlog"] >= 1
            assert zone_alarms(db) == []
            hung.release()
            eventually(lambda: client.get("/api/health").status_code == 200)
            assert client.get("/api/health").json()["pipeline"]["standby"] is False
            eventually(lambda: len(zone_alarms(db)) == 1)
    finally:
        hung.release()


def test_the_lock_is_one_detectors_at_a_time_and_freed_by_its_release(db: Database) -> None:
    one, other = DetectorLock(db), DetectorLock(db)
    assert one.hold() and one.hold()  # held, and still held
    assert not other.hold()
    one.release()
    assert other.hold()
    assert not one.hold()
    other.release()

"""What the supervision page reads to say when devices last spoke: the devices heard in its
window, once, and the followed devices' newest readings; never a row of each device in stock,
which at France's size are tens of thousands, most silent for months (bench/supervision.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.api.world import World, build
from tests.conftest import Centre
from vigie import clock
from vigie.store import open_database, spans
from vigie.web import supervision


def post(world: World, device: str, seq: int, ago: timedelta, kind: str = "battery") -> datetime:
    """A reading of `device` timed `ago` before now; returns its time."""
    t = clock.now() - ago
    reading: dict[str, Any] = {"device": device, "seq": seq, "t": t.isoformat(), "type": kind}
    reading |= {"level": 0.8} if kind == "battery" else {"present": True}
    posted = world.centre.client.post(
        "/api/observations",
        json={"observations": [reading]},
        headers=world.centre.headers("integration"),
    )
    assert posted.status_code == 200, posted.text
    return t


def page(world: World, hours: int = 24) -> dict[str, Any]:
    answer = world.centre.client.get(
        f"/api/console/supervision?hours={hours}", headers=world.centre.headers("supervisor")
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_devices_in_stock_are_not_asked_their_newest_reading(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(centre)  # C1 follows B1 and H1
    long_ago, never = world.new_device(), world.new_device()
    post(world, long_ago, 1, timedelta(hours=30))
    asked: list[str] = []
    newest_times = supervision.log.newest_times

    def spied(session: Any, devices: Sequence[str]) -> dict[str, datetime]:
        asked.extend(devices)
        return newest_times(session, devices)

    monkeypatch.setattr(supervision.log, "newest_times", spied)
    assert page(world)["heard_unfollowed"] == []
    assert {long_ago, never}.isdisjoint(asked)


def test_last_contacts_are_the_newest_readings_compacted_or_not(centre: Centre) -> None:
    world = build(centre)
    compacted, tail = world.new_device(), world.new_device("home_unit")
    heard = {compacted: post(world, compacted, 1, timedelta(minutes=50))}
    post(world, compacted, 2, timedelta(hours=5), "presence")  # older: not its last contact
    unit_heard = post(world, "H1", 1, timedelta(hours=3), "presence")  # before a 1-hour window
    spans.compact_all(centre.db)
    heard[tail] = post(world, tail, 1, timedelta(minutes=20), "presence")
    figures = page(world, hours=1)
    assert {
        i["device"]: datetime.fromisoformat(i["last_heard"]) for i in figures["heard_unfollowed"]
    } == heard
    [kinds] = [{i["device"]: i["kind"] for i in figures["heard_unfollowed"]}]
    assert kinds == {compacted: "bracelet", tail: "home_unit"}
    # H1, followed, silent since before the window: its silence counted from its last word, and
    # B1's with it (a home-detention bracelet is heard through its home unit).
    silent = {d["id"]: d["silent_s"] for d in figures["devices"]}
    expected = (clock.now() - unit_heard).total_seconds()
    assert silent["H1"] == pytest.approx(expected, abs=60)
    assert silent["B1"] == pytest.approx(expected, abs=60)


def test_the_active_placements_are_read_from_their_index_on_postgresql(pg_url: str) -> None:
    """Most of a centre's placements have ended: the page's read of the active ones takes them
    from migration 0035's index, not from the whole table. The planner is told to avoid a
    sequential scan (the test's table is too small to need the index); without a usable index
    it scans anyway."""
    database = open_database(pg_url)
    try:
        with database.reading() as session:
            session.execute(text("SET LOCAL enable_seqscan = off"))
            compiled = supervision.open_assignments().compile(dialect=session.get_bind().dialect)
            plan = session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
            lines = [str(row[0]) for row in plan]
    finally:
        database.dispose()
    assert any("ix_placements_status_end_date on placements" in line for line in lines), lines

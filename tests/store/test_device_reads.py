"""Per-device reads: the right readings, at a cost that does not grow with a device's history.

The console's wearers and supervision pages read every active device's newest readings; on the
old `(device, id)` index each read walked the device's whole history (a month of fixes is
86,000 rows a device). The cost here is counted in SQLite's virtual-machine instructions (a
progress handler), which is exact and the same on every run, not timed.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.conftest import fresh_database
from vigie.store import Database, open_database, spans
from vigie.store import observations as log
from vigie.store.models import Device
from vigie.web import activity

T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


def reading(device: str, t: datetime, kind: str, **said: Any) -> dict[str, Any]:
    record = {"kind": "obs", "device": device, "t": t.isoformat().replace("+00:00", "Z")}
    return log.row_for(record | {"type": kind, **said}, t, t, source="test")


def fix(device: str, t: datetime, lat: float, **said: Any) -> dict[str, Any]:
    return reading(device, t, "position", lat=lat, lon=2.35, accuracy_m=10.0, **said)


def devices(session: Session, names: list[str]) -> None:
    session.add_all([Device(id=name, kind="bracelet") for name in names])


def test_newest_readings_by_their_time_not_their_arrival(db: Database) -> None:
    """A fix sent late (older, stored last) is not the newest; a conflicting resend (its
    sequence number reused with other content) is not a reading at all; a device that never
    spoke, or never sent that type, is left out."""
    with db.session() as session:
        devices(session, ["B1", "B2", "B3"])
        log.append(
            session,
            [
                fix("B1", T0 + timedelta(minutes=5), 48.5, seq=7),
                reading("B1", T0 + timedelta(minutes=6), "battery", level=0.7),
                reading("B1", T0 + timedelta(minutes=1), "battery", level=0.9),
                fix("B1", T0, 48.0),  # older, stored after the newer fix
                reading("B2", T0 + timedelta(minutes=9), "presence", present=True),
            ],
        )
    with db.session() as session:
        resent = log.append(session, [fix("B1", T0 + timedelta(minutes=5), 49.0, seq=7)])
    assert len(resent.conflicts) == 1
    with db.session() as session:
        heard = log.newest_times(session, ["B1", "B2", "B3", "unknown"])
        fixes = log.newest_of_type(session, ["B1", "B2", "B3"], "position")
        battery = activity.latest_battery(session, ["B1", "B2"])
    assert {d: t.replace(tzinfo=UTC) for d, t in heard.items()} == {
        "B1": T0 + timedelta(minutes=6),
        "B2": T0 + timedelta(minutes=9),
    }
    assert set(fixes) == {"B1"}
    assert fixes["B1"].lat == 48.5  # not the late older fix, nor the conflicting resend
    assert fixes["B1"].at.replace(tzinfo=UTC) == T0 + timedelta(minutes=5)
    assert battery == {"B1": 0.7}


def test_many_devices_are_one_parameter(db: Database) -> None:
    """Thousands of devices in one read, and none: they are one parameter (a JSON list on
    SQLite, an array on PostgreSQL), so no count of devices meets SQLite's bound on a
    statement's parameters (32,766)."""
    names = [f"D{n:04d}" for n in range(2_500)]
    with db.session() as session:
        devices(session, names)
        log.append(session, [fix(d, T0 + timedelta(seconds=n), 48.0) for n, d in enumerate(names)])
    with db.session() as session:
        heard = log.newest_times(session, names)
        fixes = log.newest_of_type(session, names, "position")
        nobody = (log.newest_times(session, []), log.newest_of_type(session, [], "position"))
    assert nobody == ({}, {})
    assert len(heard) == len(fixes) == 2_500
    assert heard["D2499"].replace(tzinfo=UTC) == T0 + timedelta(seconds=2_499)


def test_a_track_is_a_window_of_one_device_fixes(db: Database) -> None:
    """`fixes`: the window's bounds included, oldest first, the first or the newest `limit`;
    another device's fixes and the device's other readings left out. `heard`: the readings
    other than fixes since a time, newest first. Readings of a device nobody registered (the
    API takes them) are found as well."""
    with db.session() as session:
        devices(session, ["B1"])
        log.append(
            session,
            [fix("B1", T0 + timedelta(minutes=m), 48.0 + m / 100) for m in range(10)]
            + [fix("B2", T0 + timedelta(minutes=3), 47.0)]
            + [reading("B1", T0 + timedelta(minutes=4), "battery", level=0.4)]
            + [reading("B1", T0 + timedelta(minutes=8), "presence", present=False)]
            + [reading("U1", T0 + timedelta(minutes=2), "battery", level=0.2)],
        )
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=7)
    with db.session() as session:
        first = log.fixes(session, "B1", since, until, limit=3)
        last = log.fixes(session, "B1", since, until, limit=3, newest=True)
        every = log.fixes(session, "B1", since, limit=100)
        heard = log.heard(session, ["B1", "U1"], T0 + timedelta(minutes=3), limit=10)
        unregistered = log.newest_of_type(session, ["U1"], "battery")
    assert [f["lat"] for f in first] == [48.02, 48.03, 48.04]
    assert [f["lat"] for f in last] == [48.05, 48.06, 48.07]
    assert len(every) == 8 and every[0]["t"].replace(tzinfo=UTC) == since
    assert [(r.device, r.type) for r in heard] == [("B1", "presence"), ("B1", "battery")]
    assert heard[1].payload["level"] == 0.4
    assert unregistered["U1"].payload["level"] == 0.2


@contextmanager
def counted(session: Session) -> Iterator[list[int]]:
    """SQLite's virtual-machine instructions run inside the block, in tens."""
    raw = session.connection().connection.driver_connection
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    raw.set_progress_handler(tick, 10)
    try:
        yield steps
    finally:
        raw.set_progress_handler(None, 10)


READS: dict[str, Callable[[Session, list[str]], object]] = {
    "newest_times": log.newest_times,
    "newest_fix": lambda s, ds: log.newest_of_type(s, ds, "position"),
    "latest_battery": activity.latest_battery,
    "last_hour_track": lambda s, ds: [
        activity.track(s, d, T0 + timedelta(days=30) - timedelta(hours=1)) for d in ds
    ],
    "last_hour_heard": lambda s, ds: log.heard(
        s, ds, T0 + timedelta(days=30) - timedelta(hours=1), limit=200
    ),
}


@pytest.fixture
def sqlite_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """SQLite alone: its progress handler counts the instructions a read runs."""
    with fresh_database(request, "sqlite", tmp_path) as url:
        database = open_database(url)
        yield database
        database.dispose()


def test_a_read_costs_the_same_whatever_the_history(sqlite_db: Database) -> None:
    """A hundred devices, each with a fix and a battery report a minute over the last hour, and
    two silent for three days (the ones the supervision page is for); then 2.5 days of fixes
    and battery reports behind that hour (30 times the fixes). Each read of ten of them and the
    silent two costs the same within a few percent once compacted: seeks and the rows returned,
    not the history walked, theirs or the other devices'. (On the old `(device, id)` index the
    first three grew 4 to 27 times; uncompacted, a read scans the readings since.)"""
    db = sqlite_db
    names = [f"B{n:02d}" for n in range(100)]
    silent = ["S1", "S2"]
    read = names[::10] + silent
    end = T0 + timedelta(days=30)
    recent = [
        row
        for k in range(60)
        for d in names
        for row in (
            fix(d, end - timedelta(minutes=k), 48.0),
            reading(d, end - timedelta(minutes=k, seconds=1), "battery", level=0.5),
        )
    ]
    recent += [fix(d, end - timedelta(days=3), 48.0) for d in silent]
    recent += [reading(d, end - timedelta(days=3), "battery", level=0.1) for d in silent]
    older = [
        reading(d, at, "battery", level=0.5) if k % 10 == 0 else fix(d, at, 48.0)
        for k in range(1, 1_800)
        for d in names
        for at in [end - timedelta(hours=1, minutes=2 * k)]
    ]
    cost: dict[str, list[int]] = {name: [] for name in READS}
    with db.session() as session:
        devices(session, names + silent)
        log.append(session, recent)
    for history in ([], older):
        with db.session() as session:
            log.append(session, history)
        spans.compact_all(db)  # as the centre does every `span_every_s`
        for name, run in READS.items():
            with db.session() as session, counted(session) as steps:
                run(session, read)
            cost[name].append(steps[0])
    for shallow, deep in cost.values():
        assert shallow > 0
        assert deep <= shallow * 1.1 + 50, cost


def test_a_window_opened_years_back_costs_what_the_history_does(sqlite_db: Database) -> None:
    """An export of an assignment whose start was typed as 2000 reads the minutes the spans
    cover, not a query every 5,000 minutes since 2000 (SQLite's instructions, counted)."""
    with sqlite_db.session() as session:
        log.append(session, [fix("B1", T0 + timedelta(minutes=m), 48.0) for m in range(30)])
    spans.compact_all(sqlite_db)
    cost = []
    for since in (T0, datetime(2000, 1, 1, tzinfo=UTC)):
        with sqlite_db.reading() as session, counted(session) as steps:
            found = spans.located(session, ["B1"], ["position"], since, None)
        cost.append(steps[0])
        assert len(found.ids) == 30
    assert cost[1] <= cost[0] * 1.1 + 50, cost


def test_a_field_of_each_devices_newest_reading_is_read_alone(db: Database) -> None:
    """`newest_values` gives what `newest_of_type` finds, its one field: before and after a
    compaction; a newest reading without the field leaves its device out (not an older one's
    value); the battery's level, a number, whatever its JSON form; any other level left out."""
    with db.session() as session:
        devices(session, ["B1", "B2", "B3", "B4"])
        log.append(
            session,
            [
                reading("B1", T0 + timedelta(minutes=1), "battery", level=0.9),
                reading("B1", T0 + timedelta(minutes=6), "battery", level=0.7),
                reading("B2", T0 + timedelta(minutes=2), "battery", level=0.4),
                reading("B2", T0 + timedelta(minutes=3), "battery", charging=True),
                reading("B3", T0 + timedelta(minutes=4), "battery", level=1),
            ],
        )
    with db.session() as session:
        before = log.newest_values(session, ["B1", "B2", "B3", "B4"], "battery", "level")
    assert before == {"B1": 0.7, "B3": 1}
    spans.compact_all(db)
    with db.session() as session:
        log.append(session, [reading("B4", T0 + timedelta(minutes=8), "battery", level="low")])
    with db.session() as session:
        after = log.newest_values(session, ["B1", "B2", "B3", "B4"], "battery", "level")
        battery = activity.latest_battery(session, ["B1", "B2", "B3", "B4"])
    assert after == before | {"B4": "low"}
    assert battery == {"B1": 0.7, "B3": 1.0}

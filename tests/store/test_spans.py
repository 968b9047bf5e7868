"""Spans (`vigie.store.spans`): per-device reads find every reading, compacted or not.

The reference is a plain scan of the observations table by device, type and time: what the
per-device index answered before spans replaced it.
"""

from __future__ import annotations

import random
import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, select, text

import vigie
from tests.store.test_device_reads import devices, fix, reading
from vigie.store import Database, open_database, spans
from vigie.store import observations as log
from vigie.store.models import Observation, ObservationSpan

T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
KINDS = ["position", "battery", "presence", "tamper"]


def some_readings(rng: random.Random, count: int, base: datetime) -> list[dict[str, Any]]:
    """Readings of five devices over two hours, stored out of time order (late ones too), some
    in one minute, each type; sequence numbers on some, so resends can conflict."""
    out = []
    for n in range(count):
        device = f"B{rng.randrange(5)}"
        at = base + timedelta(seconds=rng.randrange(7_200), microseconds=rng.randrange(10**6))
        kind = rng.choice(KINDS)
        said: dict[str, Any] = {"seq": n} if rng.random() < 0.3 else {}
        if kind == "position":
            out.append(fix(device, at, 48.0 + rng.random(), **said))
        elif kind == "battery":
            out.append(reading(device, at, kind, level=round(rng.random(), 2), **said))
        elif kind == "presence":
            out.append(reading(device, at, kind, present=rng.random() < 0.5, **said))
        else:
            out.append(reading(device, at, kind, what="strap", **said))
    return out


def reference(db: Database, device: str, kinds: list[str], since: datetime, until: datetime) -> Any:
    """Ids of the device's readings of `kinds` in [since, until] by a scan: the truth."""
    with db.reading() as session:
        return sorted(
            session.scalars(
                select(Observation.id).where(
                    Observation.device == device,
                    Observation.type.in_(kinds),
                    Observation.t >= since,
                    Observation.t <= until,
                )
            )
        )


def reads(db: Database) -> dict[str, Any]:
    """Every per-device read, over windows that cut minutes in the middle."""
    since, until = T0 + timedelta(minutes=17, seconds=30), T0 + timedelta(minutes=95, seconds=10)
    names = [f"B{n}" for n in range(6)]
    with db.reading() as session:
        return {
            "newest_times": log.newest_times(session, names),
            "newest_fix": {
                d: (r.at, r.lat) for d, r in log.newest_of_type(session, names, "position").items()
            },
            "newest_battery": {
                d: (r.at, r.payload)
                for d, r in log.newest_of_type(session, names, "battery").items()
            },
            "first_fixes": log.fixes(session, "B1", since, until, limit=7),
            "last_fixes": log.fixes(session, "B1", since, until, limit=7, newest=True),
            "every_fix": log.fixes(session, "B2", since, limit=10_000),
            "heard": [tuple(r) for r in log.heard(session, ["B0", "B3"], since, limit=25)],
            "located": [_located_in(db, d, since, until) for d in names],
        }


def _located_in(db: Database, device: str, since: datetime, until: datetime) -> list[int]:
    """`spans.located`'s ids of the window, checked to hold the reference's and otherwise only
    readings of the window's first and last minutes (a span is a whole minute)."""
    with db.reading() as session:
        found = spans.located(session, [device], KINDS, since, until)
        times = dict(
            session.execute(
                select(Observation.id, Observation.t).where(Observation.id.in_(found.ids.tolist()))
            ).all()
        )
    truth = reference(db, device, KINDS, since, until)
    assert set(truth) <= set(found.ids.tolist())
    edges = (spans.minute_of(since), spans.minute_of(until))
    assert all(spans.minute_of(times[i]) in edges for i in set(times) - set(truth))
    assert found.minutes.tolist() == [spans.minute_of(times[i]) for i in found.ids.tolist()]
    return truth


def test_reads_are_the_same_compacted_or_not(db: Database) -> None:
    """Readings appended in four commits; the reads, run with none compacted, then after a
    compaction of part (a small batch), then of all, then with more appended past the
    watermark, agree with each other and with a scan of the table: nothing is lost or
    repeated by where a reading is (spans or tail), and the windows' bounds hold to the
    microsecond inside a minute."""
    rng = random.Random(13)
    with db.session() as session:
        devices(session, [f"B{n}" for n in range(5)])
    batches = [some_readings(rng, 150, T0) for _ in range(4)]
    for batch in batches[:3]:
        with db.session() as session:
            log.append(session, batch)
    with db.session() as session:  # resends of sequence numbers with other content: conflicts
        resent = log.append(
            session,
            [
                log.row_for(r["payload"] | {"lat": 1.0}, r["t"], r["received_at"], source="test")
                for r in batches[0]
                if r["seq"] is not None and r["type"] == "position"
            ][:5],
        )
    assert resent.conflicts
    uncompacted = reads(db)
    assert spans.compact(db, batch=100) == 100  # the first hundred ids only
    partly = reads(db)
    spans.compact_all(db)
    with db.reading() as session:
        assert spans.lag(session) == 0
    compacted = reads(db)
    assert uncompacted == partly == compacted
    with db.session() as session:
        log.append(session, batches[3])
    later = reads(db)
    spans.compact_all(db)
    assert reads(db) == later
    since, until = T0 + timedelta(minutes=17, seconds=30), T0 + timedelta(minutes=95, seconds=10)
    assert later["located"][1] == reference(db, "B1", KINDS, since, until)
    assert later["located"][5] == []  # B5 never spoke
    first = [f["t"] for f in later["first_fixes"]]
    every_b1 = reference(db, "B1", ["position"], since, until)
    with db.reading() as session:
        times = sorted(session.scalars(select(Observation.t).where(Observation.id.in_(every_b1))))
    assert first == times[:7] and [f["t"] for f in later["last_fixes"]] == times[-7:]
    assert len(later["heard"]) == 25
    assert [r[0] for r in later["heard"]] == sorted((r[0] for r in later["heard"]), reverse=True)


def test_the_newest_reading_leaves_out_conflicts_and_late_ones(db: Database) -> None:
    """A late (older) fix stored after the newest, and a resend of a sequence number with other
    content and a later time (a conflict), are not the newest reading, whether the newest is
    in `device_latest` (compacted) or in the tail."""
    with db.session() as session:
        log.append(session, [fix("B1", T0 + timedelta(minutes=5), 48.5, seq=7)])
    for late, compacted in enumerate((False, True)):
        if compacted:
            spans.compact_all(db)
        with db.session() as session:
            # Late: stored after, older (each round its own, and its own conflicting content).
            log.append(session, [fix("B1", T0 + timedelta(seconds=late), 48.0)])
            later = T0 + timedelta(minutes=9)
            resent = log.append(session, [fix("B1", later, 40.0 + late, seq=7)])
        with db.reading() as session:
            newest = log.newest_of_type(session, ["B1"], "position")["B1"]
            heard = log.newest_times(session, ["B1"])
        assert newest.lat == 48.5 and heard["B1"] == T0 + timedelta(minutes=5)
        assert len(resent.conflicts) == 1 and not resent.ids


def test_a_minute_is_floored_before_1970_too(db: Database) -> None:
    """By Python (the tail, the windows) and by each database (a compaction) alike."""
    assert spans.minute_of(datetime(1970, 1, 1, 0, 1, 59, tzinfo=UTC)) == 1
    assert spans.minute_of(datetime(1969, 12, 31, 23, 59, 30, tzinfo=UTC)) == -1
    assert spans.minute_of(T0 + timedelta(seconds=59, microseconds=999_999)) == spans.minute_of(T0)
    at = [datetime(1969, 12, 31, 23, 58, 30, tzinfo=UTC), T0 + timedelta(seconds=59)]
    with db.session() as session:
        log.append(session, [fix("B1", t, 48.0) for t in at])
    spans.compact_all(db)
    with db.reading() as session:
        minutes = session.scalars(select(ObservationSpan.minute).order_by("minute")).all()
    assert minutes == [-2, spans.minute_of(T0)]


def test_a_compaction_is_done_once(db: Database) -> None:
    """A compaction spans each reading once, by minute of its time; a second one finds
    nothing to do."""
    with db.session() as session:
        log.append(session, [fix("B1", T0 + timedelta(seconds=s), 48.0) for s in range(90)])
    assert spans.compact(db) == 90
    assert spans.compact(db) == 0
    stored = _spans(db)
    assert len(stored) == 2  # two minutes of one device's fixes
    ids = np.concatenate([spans.unpack(r.first_id, r.ids) for r in stored])  # once each
    assert sorted(ids.tolist()) == list(range(int(ids.min()), int(ids.min()) + 90))


def _spans(db: Database) -> list[Any]:
    with db.reading() as session:
        return list(session.execute(select(ObservationSpan.first_id, ObservationSpan.ids)))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_compaction_waits_for_an_ingest_that_holds_an_id_below_a_committed_one(
    db: Database,
) -> None:
    """PostgreSQL hands ids out before commit. An unordered ingest (a cluster worker's step)
    that took id n and has not committed, while another took n+1 and committed: a compaction
    that set its watermark at n+1 then would lose n from every read once it commits. It waits
    for the open transaction instead, taking no lock meanwhile (an ordered ingest goes through:
    a lock queued behind a paused worker's stopped every worker), then leaves the period's
    work to the next; once n has committed, n is found."""
    first = db.sessions()
    first.begin()
    held = log.append(first, [fix("B1", T0, 48.0)], ordered=False)
    with db.session() as session:
        later = log.append(session, [fix("B1", T0 + timedelta(seconds=1), 48.1)], ordered=False)
    assert held.ids[0] < later.ids[0]
    done: list[int] = []
    waiting = threading.Thread(target=lambda: done.append(spans.compact(db, wait_s=3)))
    waiting.start()
    with db.session() as session:  # while it waits: an ordered ingest is not held up
        session.execute(text("SET LOCAL statement_timeout = '2s'"))
        log.append(session, [fix("B2", T0, 47.0)])
    waiting.join(30)
    assert done == [0]  # the open transaction outlived its wait: nothing spanned
    with db.reading() as session:
        assert spans.watermark(session) == 0
    first.commit()
    first.close()
    assert spans.compact(db) == later.ids[0] + 1  # B2's reading came after
    with db.reading() as session:
        track = log.fixes(session, "B1", T0, limit=10)
    assert [f["lat"] for f in track] == [48.0, 48.1]


def test_every_advisory_lock_has_a_key_of_its_own() -> None:
    """PostgreSQL's advisory locks are one namespace: two purposes on one key make each wait for
    the other (a compaction on the alarm-id lock held detection's steps up to a second, in the
    pipeline benchmark, before it had its own)."""
    source = Path(vigie.__file__).parent
    keys = re.findall(r"^(\w+_LOCK) = (\d+)", _all_source(source), flags=re.MULTILINE)
    assert len(keys) >= 4
    assert len({value for _, value in keys}) == len(keys), keys


def _all_source(root: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(root.rglob("*.py")))


def test_a_compaction_in_batches_and_again_loses_and_repeats_nothing(db: Database) -> None:
    """A compaction covers `batch` ids a transaction (SQLite's writer is held for one), the
    watermark with it; the same ids spanned twice (a second process, a retry) leave each
    reading in one span and the newest readings as they were."""
    with db.session() as session:
        log.append(session, [fix(f"B{n % 4}", T0 + timedelta(seconds=n), 48.0) for n in range(30)])
    assert spans.compact(db, batch=7) == 7
    with db.reading() as session:
        assert spans.watermark(session) == 7
    with db.session() as session:  # the same ids again, as a second process would
        spans.write(session, 0, 7)
    while spans.compact(db, batch=7):
        pass
    with db.reading() as session:
        stored = session.execute(select(ObservationSpan.first_id, ObservationSpan.ids)).all()
        newest = log.newest_of_type(session, ["B0", "B1", "B2", "B3"], "position")
        assert spans.watermark(session) == 30 and spans.lag(session) == 0
    ids = sorted(int(i) for r in stored for i in spans.unpack(r.first_id, r.ids))
    assert ids == list(range(1, 31))
    assert {d: row.at for d, row in newest.items()} == {
        f"B{k}": T0 + timedelta(seconds=max(n for n in range(30) if n % 4 == k)) for k in range(4)
    }


def worked_out(statements: list[str], compacting: threading.Thread) -> bool:
    """Whether a SQLite compaction running in `compacting` began its last temporary table
    (`statements`: those its engine ran) within 10 s."""
    for _ in range(200):
        if any("INSERT INTO temp.latest_made" in s for s in statements):
            return True
        compacting.join(timeout=0.05)
    return any("INSERT INTO temp.latest_made" in s for s in statements)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_compaction_works_out_its_spans_while_others_write(db: Database) -> None:
    """SQLite: the compaction's work (its windows and groups over a minute of readings, 0.6 s
    at 144,000) runs while this process's writer and the store's write lock are both held by
    others: only the copy of what it worked out waits for them."""
    with db.session() as session:
        log.append(session, [fix(f"D{n % 5}", T0 + timedelta(seconds=n), 48.0) for n in range(40)])
    seen: list[str] = []
    listen = lambda *args: seen.append(args[2])  # noqa: E731 (before_cursor_execute's statement)
    event.listen(db.engine, "before_cursor_execute", listen)
    done: list[int] = []
    path = db.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    try:
        with db.writer():  # this process's other writers (ingest, detection) hold it
            other.execute("BEGIN IMMEDIATE")  # and another process holds the store's lock
            compacting = threading.Thread(target=lambda: done.append(spans.compact(db)))
            compacting.start()
            assert worked_out(seen, compacting)
            assert not done  # the copy waits for the writer
            other.execute("COMMIT")
        compacting.join(timeout=30)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
        other.close()
    assert done == [40]
    with db.reading() as session:
        assert spans.watermark(session) == 40
        found = spans.located(session, ["D1"], ["position"], T0, T0 + timedelta(hours=1))
    assert len(found.ids) == 8


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_compaction_skipped_for_another_process_leaves_nothing_in_its_connection(
    db: Database,
) -> None:
    """Two processes on one file: the one whose copy waits finds the other's watermark, skips,
    and still empties what it worked out (its connection stays in the pool)."""
    with db.session() as session:
        log.append(session, [fix(f"D{n % 5}", T0 + timedelta(seconds=n), 48.0) for n in range(40)])
    path = db.engine.url.database
    assert path is not None
    late = open_database(f"sqlite:///{path}")  # the other process, one connection in its pool
    seen: list[str] = []
    listen = lambda *args: seen.append(args[2])  # noqa: E731 (before_cursor_execute's statement)
    event.listen(late.engine, "before_cursor_execute", listen)
    done: list[int] = []
    try:
        with late.writer():  # its copy waits here, after it worked its spans out
            compacting = threading.Thread(target=lambda: done.append(spans.compact(late)))
            compacting.start()
            assert worked_out(seen, compacting) and not done
            assert spans.compact(db) == 40  # the first process compacts the same readings
        compacting.join(timeout=30)
        assert done == [0]
        with late.engine.connect() as connection:
            left = [
                connection.scalar(text(f"SELECT count(*) FROM temp.{table}"))
                for table in ("spans_made", "latest_made")
            ]
    finally:
        event.remove(late.engine, "before_cursor_execute", listen)
        late.dispose()
    assert left == [0, 0]


def test_located_reads_in_chunks_what_it_reads_whole(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tail turned into arrays a few rows at a time, and the spans a few minutes a query
    (memory bounded over a history compaction has not reached), find what one read finds."""
    rng = random.Random(29)
    with db.session() as session:
        devices(session, [f"B{n}" for n in range(5)])
        log.append(session, some_readings(rng, 300, T0))
    since, until = T0 + timedelta(minutes=3, seconds=20), T0 + timedelta(hours=3)

    def found() -> list[tuple[list[int], list[int]]]:
        with db.reading() as session:
            return [
                (f.ids.tolist(), f.minutes.tolist())
                for d in ("B1", "B2")
                for f in [spans.located(session, [d], KINDS, since, until)]
            ]

    def in_chunks() -> list[tuple[list[int], list[int]]]:
        with monkeypatch.context() as small:
            small.setattr(spans, "TAIL_CHUNK", 7)
            small.setattr(spans, "MINUTES_A_READ", 3)
            return found()

    uncompacted = found()
    assert all(ids for ids, _ in uncompacted)
    assert in_chunks() == uncompacted  # all in the tail, 7 rows a chunk
    assert spans.compact(db, batch=150) == 150
    half = found()  # a span is a whole minute: the window's edge minutes may now add readings
    assert all(ids for ids, _ in half)
    assert in_chunks() == half  # half in spans, 3 minutes a query, half in the tail

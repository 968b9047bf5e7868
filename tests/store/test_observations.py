"""The observation log: idempotent by (device, sequence or time), kept whole, purged by age."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from vigie.store import Database, open_database, spans
from vigie.store import observations as log
from vigie.store.models import DeviceLatest, Observation, ObservationSpan

T0 = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


def position(device: str, t: datetime, seq: int | None = None) -> dict[str, object]:
    record: dict[str, object] = {
        "kind": "obs",
        "device": device,
        "t": t.isoformat().replace("+00:00", "Z"),
        "type": "position",
        "lat": 48.85,
        "lon": 2.35,
        "accuracy_m": 12.0,
    }
    if seq is not None:
        record["seq"] = seq
    return record


def rows(records: list[dict[str, object]]) -> list[dict[str, object]]:
    return [
        log.row_for(
            r, datetime.fromisoformat(str(r["t"]).replace("Z", "+00:00")), T0, source="test"
        )
        for r in records
    ]


def test_append_is_idempotent_by_sequence_or_time(db: Database) -> None:
    batch = [position("B1", T0, seq=1), position("B1", T0, seq=2), position("B2", T0)]
    with db.session() as session:
        first = log.append(session, rows(batch))
    with db.session() as session:
        again = log.append(session, rows([*batch, position("B2", T0 + timedelta(seconds=1))]))
    assert len(first.ids) == 3 and first.duplicates == 0
    assert len(again.ids) == 1 and again.duplicates == 3
    with db.session() as session:
        assert log.count(session) == 4


def test_readings_of_one_instant_without_sequence_are_all_kept(db: Database) -> None:
    """A fix, a battery report and two tamper events at the same second, with no sequence
    number: each is something the device said; only an identical resend is a duplicate."""
    at = "2026-11-23T20:00:00Z"
    said = [
        position("B1", T0),
        {"kind": "obs", "device": "B1", "t": at, "type": "battery", "level": 0.4},
        {"kind": "obs", "device": "B1", "t": at, "type": "tamper", "what": "strap_open"},
        {"kind": "obs", "device": "B1", "t": at, "type": "tamper", "what": "case_open"},
    ]
    assert said[0]["t"] == at
    with db.session() as session:
        first = log.append(session, rows(said))
    with db.session() as session:
        again = log.append(session, rows(said))
    assert len(first.ids) == 4 and first.duplicates == 0
    assert again.ids == [] and again.duplicates == 4
    with db.session() as session:
        assert log.count(session) == 4


def test_payload_kept_whole_and_time_is_utc(db: Database) -> None:
    record = position("B1", T0, seq=7) | {"extra": {"hdop": 0.9}}
    with db.session() as session:
        log.append(session, rows([record]))
    with db.session() as session:
        (stored,) = log.after(session, 0, 10)
    assert stored.record == record
    assert stored.t == T0 and stored.t.tzinfo is not None
    assert (stored.lat, stored.lon, stored.accuracy_m) == (48.85, 2.35, 12.0)


def test_after_returns_in_id_order_from_cursor(db: Database) -> None:
    with db.session() as session:
        accepted = log.append(session, rows([position("B1", T0, seq=i) for i in range(5)]))
    with db.session() as session:
        tail = log.after(session, accepted.ids[1], 10)
    assert [o.id for o in tail] == accepted.ids[2:]


def test_purge_locations_removes_only_old_fixes(db: Database) -> None:
    tamper = {"kind": "obs", "device": "B1", "t": "2026-01-01T00:00:00Z", "type": "tamper"}
    tamper["what"] = "strap_open"
    old, recent = position("B1", T0 - timedelta(days=400)), position("B1", T0)
    gone = position("B2", T0 - timedelta(days=400))  # B2's only fix
    with db.session() as session:
        log.append(session, rows([old, recent, gone, tamper]))
    spans.compact_all(db)
    purged = log.purge_locations(db, T0 - timedelta(days=365))
    with db.session() as session:
        left = {o.type: o.t for o in log.after(session, 0, 10)}
        kept = session.execute(select(ObservationSpan.device, ObservationSpan.type)).all()
        newest = log.newest_of_type(session, ["B1", "B2"], "position")
        heard = log.newest_times(session, ["B2"])
    assert purged == 2
    assert left == {"position": T0, "tamper": datetime(2026, 1, 1, tzinfo=UTC)}
    # The old fixes' spans and B2's newest fix went with them; the rest is found as before.
    assert sorted(kept) == [("B1", "position"), ("B1", "tamper")]
    assert set(newest) == {"B1"} and heard == {}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_purge_of_old_newest_readings_waits_for_a_compaction(db: Database) -> None:
    """PostgreSQL's compaction updates `device_latest` then inserts the rows it lacks, as one
    statement (`spans.inserts`): a row the purge deleted under that update would be neither
    updated nor inserted, and the device's newest reading lost from supervision. So the purge's
    delete waits for the compaction's lock, and deletes after it."""
    old = position("B2", T0 - timedelta(days=400))  # B2's only fix, older than the cutoff
    with db.session() as session:
        log.append(session, rows([old, position("B1", T0)]))
    spans.compact_all(db)
    done = threading.Event()
    with db.session() as compacting:  # as a compaction holds its lock to its commit
        compacting.execute(select(func.pg_advisory_xact_lock(spans.SPAN_LOCK)))
        purging = threading.Thread(
            target=lambda: (log.purge_locations(db, T0 - timedelta(days=365)), done.set())
        )
        purging.start()
        assert not done.wait(1.0)  # the old fix is deleted; the newest readings' delete waits
        with db.reading() as session:
            assert set(session.scalars(select(DeviceLatest.device))) == {"B1", "B2"}
    purging.join(timeout=30)
    assert done.is_set()
    with db.reading() as session:
        assert set(session.scalars(select(DeviceLatest.device))) == {"B1"}


def test_a_purge_commits_batch_by_batch_and_readings_are_stored_between(db: Database) -> None:
    """A purge held SQLite's writer, so ingest and detection, for its whole run (2.3 s for
    480,000 fixes, measured; minutes for a day of a large centre's). It commits batch by batch
    now: after each commit a reading is stored from another session (on SQLite it would wait
    for the writer, then fail), and the result is the one transaction's."""
    old = T0 - timedelta(days=400)
    records = [
        position(device, old + timedelta(minutes=m, seconds=s))
        for m in range(3)
        for s in (0, 20)
        for device in ("B1", "B2")  # two devices a minute: more spans a minute than a batch
    ]
    with db.session() as session:
        log.append(session, rows([*records, position("B1", T0)]))
    spans.compact_all(db)
    stored_between: list[int] = []

    def store_one(session: Session) -> None:
        if session.info.get("between"):
            return
        with db.session() as other:
            other.info["between"] = True
            recent = position("B3", T0 + timedelta(seconds=len(stored_between)))
            stored_between.extend(log.append(other, rows([recent])).ids)

    event.listen(Session, "after_commit", store_one)
    try:
        purged = log.purge_locations(db, T0 - timedelta(days=365), batch=1)
    finally:
        event.remove(Session, "after_commit", store_one)
    assert purged == len(records)
    assert len(stored_between) >= len(records) + 3  # a commit a fix, a minute's spans, the rest
    with db.session() as session:
        left = session.execute(select(Observation.device)).scalars().all()
        spanned = session.execute(select(ObservationSpan.device)).scalars().all()
    assert sorted(left) == ["B1", *["B3"] * len(stored_between)]
    assert spanned == ["B1"]  # the old minutes' spans gone, B1's recent one kept


def test_purging_never_gives_a_stored_id_out_again(db: Database) -> None:
    """A late fix, old when it came, stored last and then purged: SQLite would hand its id to
    the next reading, one the detector's cursor and the spans have passed. The newest row is
    kept, so the next id is a new one."""
    with db.session() as session:
        log.append(session, rows([position("B1", T0)]))
        late = log.append(session, rows([position("B1", T0 - timedelta(days=400))])).ids[0]
    spans.compact_all(db)
    assert log.purge_locations(db, T0 - timedelta(days=365)) == 0
    with db.session() as session:
        after = log.append(session, rows([position("B1", T0 + timedelta(minutes=1))])).ids[0]
    assert after > late
    with db.reading() as session:  # the row kept is still found where it is
        found = log.fixes(session, "B1", T0 - timedelta(days=401), limit=10)
    assert len(found) == 3


def test_payload_comes_back_exactly_as_sent(db: Database) -> None:
    """Whatever a device's JSON carried is stored and read back unchanged: accents, a lone
    surrogate escape (refused by the fast encoder, kept by the fallback; PostgreSQL's JSONB has
    no such character), big and exact numbers."""
    extras = {
        "firmware": "v2.3 « bêta » 漢字",
        "odometer": 10**20,
        "hdop": 0.30000000000000004,
        "tiny": 5e-324,
        "nested": {"io": [1, 2.5, None, True]},
    }
    if db.is_sqlite:
        extras["raw_name"] = "\ud800"
    record = position("B9", T0, seq=7) | extras
    with db.session() as session:
        (row_id,) = log.append(session, rows([record])).ids
    with db.session() as session:
        (stored,) = log.after(session, row_id - 1, 1)
    assert stored.record == record


def test_sequence_reused_with_other_content_is_kept_as_a_conflict(db: Database) -> None:
    """A second reading under a stored sequence number, saying something else, is stored and
    flagged (pointing at the first), not dropped as a duplicate; detection does not read it; a
    resend of either is a duplicate."""
    genuine = position("B1", T0, seq=5)
    forged = genuine | {"lat": 48.80}
    same_batch = position("B1", T0, seq=6)
    with db.session() as session:
        first = log.append(session, rows([genuine, same_batch, same_batch | {"lon": 2.30}]))
    with db.session() as session:
        second = log.append(session, rows([forged, genuine]))
    with db.session() as session:
        again = log.append(session, rows([forged]))
    assert len(first.ids) == 2 and len(first.conflicts) == 1 and first.duplicates == 0
    assert second.ids == [] and len(second.conflicts) == 1 and second.duplicates == 1
    assert again.ids == [] and again.conflicts == [] and again.duplicates == 1
    with db.session() as session:
        stored = {o.id: o for o in session.scalars(select(Observation))}
        assert log.last_id(session) == max(first.ids)
        detected = [o.id for o in log.after(session, 0, 10)]
        fast = [r.id for r in log.rows_after(session, 0, 10)]
    (conflict,) = second.conflicts
    assert stored[conflict].record == forged and stored[conflict].source == "test"
    assert stored[conflict].conflict_of == min(first.ids) and stored[conflict].seq == 5
    assert stored[first.conflicts[0]].record["lon"] == 2.30
    assert detected == fast == first.ids


def test_engine_rows_come_back_from_the_insert_as_rows_after_reads_them(db: Database) -> None:
    """A partition's step takes the rows it archived from the insert itself: the same rows
    (fixes without payload, other readings with it) as the table gives them, whether the batch
    takes one INSERT or, past `COPY_FROM` rows, the COPY path; duplicates and conflicts left
    out."""
    stored = [position("B1", T0, seq=1)]
    small = [
        position("B1", T0, seq=1),  # a duplicate
        position("B1", T0, seq=1) | {"lat": 48.8},  # a conflict: not for detection
        position("B1", T0 + timedelta(seconds=1), seq=2),
        {"kind": "obs", "device": "H1", "t": "2026-11-23T20:00:02Z", "type": "presence"}
        | {"present": False, "seq": 3},
    ]
    big = [position(f"B{n % 7}", T0 + timedelta(seconds=n), seq=100 + n) for n in range(150)]
    assert len(big) > log.COPY_FROM
    with db.session() as session:
        log.append(session, rows(stored))
    for batch in (small, big):
        with db.session() as session:
            accepted = log.append(session, rows(batch), ordered=False, engine_rows=True)
            last = max(accepted.ids)
        if batch is small:
            assert len(accepted.ids) == 2 and accepted.duplicates == 1
            assert len(accepted.conflicts) == 1
        with db.session() as session:
            table = log.rows_after(session, min(accepted.ids) - 1, 1000, upto=last)
        assert [tuple(r) for r in accepted.rows] == [tuple(r) for r in table]
        assert [r.id for r in accepted.rows] == accepted.ids
        kinds = {r.type: r.payload for r in accepted.rows}
        assert kinds["position"] is None  # a fix: its columns say it
        if batch is small:
            assert kinds["presence"] == small[3]  # another reading: with its payload
    assert len(accepted.ids) == len(big)
    assert [r.type for r in table] == ["position"] * len(big)


def test_a_big_batch_keeps_each_key_once_and_its_other_content_as_a_conflict(db: Database) -> None:
    """Past `COPY_FROM` rows (PostgreSQL's COPY, which skips nothing by itself): a key twice in
    one batch is stored once, the first; sent again with other content it is a conflict; what
    was stored before is a duplicate."""
    before = [position("C1", T0, seq=1)]
    batch = [position(f"C{n % 9}", T0 + timedelta(seconds=n), seq=10 + n) for n in range(100)]
    batch += [position("C1", T0, seq=1), batch[5], batch[6] | {"lat": 48.9}]
    assert len(batch) > log.COPY_FROM
    with db.session() as session:
        log.append(session, rows(before))
    with db.session() as session:
        accepted = log.append(session, rows(batch))
    assert len(accepted.ids) == 100 and accepted.duplicates == 2
    assert len(accepted.conflicts) == 1
    with db.session() as session:
        stored = {o.id: o for o in session.scalars(select(Observation))}
    assert len(stored) == 102
    assert [stored[i].record for i in accepted.ids] == batch[:100]
    (conflict,) = accepted.conflicts
    assert stored[conflict].record == batch[-1] and stored[conflict].conflict_of is not None
    assert stored[stored[conflict].conflict_of].record == batch[6]


def test_a_big_batch_racing_another_ingest_of_its_keys_skips_what_it_stored(
    database_url: str,
) -> None:
    """Two unordered ingests (cluster workers take no lock) of the same keys: the second looks
    for stored keys while the first has not committed, so its COPY meets the first's keys,
    waits for its commit, fails on them, and the batch goes the way that skips what is stored
    (PostgreSQL; SQLite has one writer, so the second only waits)."""
    db = open_database(database_url)
    shared = [position(f"R{n % 5}", T0 + timedelta(seconds=n), seq=n) for n in range(80)]
    own = [position("R9", T0 + timedelta(seconds=200 + n), seq=500 + n) for n in range(3)]
    holder = db.session()
    first = holder.__enter__()
    done: list[log.Accepted] = []
    try:
        log.append(first, rows(shared), ordered=False)
        racing = threading.Thread(
            target=lambda: done.append(_append(db, rows([*shared, *own]), ordered=False))
        )
        racing.start()
        racing.join(timeout=1.0)
        assert not done  # it waits on the first's keys (or, on SQLite, its lock)
    finally:
        holder.__exit__(None, None, None)  # the first commits
    racing.join(timeout=30)
    try:
        (second,) = done
        assert len(second.ids) == 3 and second.duplicates == len(shared)
        with db.session() as session:
            stored = list(session.scalars(select(Observation).order_by(Observation.id)))
        assert [o.record for o in stored] == [*shared, *own]
        assert [o.id for o in stored][-3:] == second.ids
    finally:
        db.dispose()


def _append(db: Database, batch: list[dict[str, object]], *, ordered: bool) -> log.Accepted:
    with db.session() as session:
        return log.append(session, batch, ordered=ordered)


def test_a_conflict_in_a_batch_of_stored_keys_takes_its_id_in_order(db: Database) -> None:
    """A big batch whose keys are all stored, one with other content: the conflict is stored,
    and on PostgreSQL its id is taken as every ingest's is, under the order lock (held to the
    commit) after the transaction's own id, which the spans' watermark relies on."""
    batch = [position(f"S{n % 4}", T0 + timedelta(seconds=n), seq=n) for n in range(70)]
    assert len(batch) > log.COPY_FROM
    with db.session() as session:
        log.append(session, rows(batch))
    with db.session() as session:
        resent = log.append(session, rows([*batch[:-1], batch[-1] | {"lat": 47.0}]))
        if not db.is_sqlite:
            held = session.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND objid = :key AND pid = pg_backend_pid()"
                ),
                {"key": log.ORDER_LOCK},
            ).scalar()
            assert held == 1
    assert not resent.ids and resent.duplicates == 69 and len(resent.conflicts) == 1
    with db.reading() as session:
        (stored,) = session.scalars(select(Observation).where(Observation.id.in_(resent.conflicts)))
    assert stored.record == batch[-1] | {"lat": 47.0}

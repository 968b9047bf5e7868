"""A fix's payload is stored without what its columns say, and read back whole, exactly."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from vigie.observation import iso_ms
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.fix_payload import stored_payload as stored_payload_of
from vigie.store.models import Observation

T0 = datetime(2026, 11, 30, 8, 0, 0, 250_000, tzinfo=UTC)
_devices = itertools.count()


def exact(value: Any) -> str:
    """A value as JSON, keys sorted: tells 12 from 12.0, and a missing key from a null one."""
    return json.dumps(value, sort_keys=True)


def fix(device: str, t: datetime = T0, **fields: Any) -> dict[str, Any]:
    record = {"kind": "obs", "device": device, "t": t.isoformat().replace("+00:00", "Z")}
    return record | {"type": "position", "lat": 48.85, "lon": 2.35, "accuracy_m": 12.0} | fields


def store(db: Database, record: dict[str, Any], t: datetime = T0) -> int:
    row = log.row_for(record, t, t + timedelta(seconds=1), source="test")
    with db.session() as session:
        (row_id,) = log.append(session, [row]).ids
    return row_id


def stored_payload(db: Database, row_id: int) -> Any:
    with db.session() as session:
        return session.scalar(select(Observation.payload).where(Observation.id == row_id))


def test_a_plain_fix_is_stored_as_an_empty_payload_and_read_back_whole(db: Database) -> None:
    """The saving is real (nothing of a plain fix is stored twice) and every read gives the
    record as it came: the row's `record`, `observations.record` over a plain row, the export."""
    record = fix("F1", seq=41)
    row_id = store(db, record)
    assert stored_payload(db, row_id) == {}
    with db.session() as session:
        (row,) = session.scalars(select(Observation).where(Observation.id == row_id))
        mapping = session.execute(select(Observation.__table__)).mappings().one()
    assert exact(row.record) == exact(record)
    assert exact(log.record(mapping)) == exact(record)


def test_a_gateway_fix_keeps_only_a_mark_of_how_its_time_was_written(db: Database) -> None:
    """The gateways write a time to the millisecond ("...00.250Z", where the API's form is
    "...00.250000Z"): a null `t` says so, and the record comes back in its own form."""
    record = fix("G1", seq=8) | {"t": iso_ms(T0)}
    assert record["t"] == "2026-11-30T08:00:00.250Z"
    row_id = store(db, record)
    assert stored_payload(db, row_id) == {"t": None}
    with db.session() as session:
        assert exact(session.get_one(Observation, row_id).record) == exact(record)


def test_what_the_columns_cannot_give_back_stays_in_the_payload(db: Database) -> None:
    """Extras, a time written in another form, a whole-number accuracy, a zero coordinate (a
    store may lose the sign of -0.0), a record without `kind`: kept as they came."""
    cases = [
        (fix("F2", hdop=0.9, extra={"io": [1, 2.5]}), {"hdop": 0.9, "extra": {"io": [1, 2.5]}}),
        (fix("F3", t=T0, accuracy_m=12), {"accuracy_m": 12}),
        (
            fix("F4") | {"t": "2026-11-30T08:00:00.250+00:00"},
            {"t": "2026-11-30T08:00:00.250+00:00"},
        ),
        (fix("F5", lat=0.0, lon=3.5), {"lat": 0.0}),
    ]
    if db.is_sqlite:  # PostgreSQL's bigint refuses it; SQLite stores it and gives back 1
        cases.append((fix("F8", seq=True), {"seq": True}))
    for record, kept in cases:
        row_id = store(db, record)
        assert exact(stored_payload(db, row_id)) == exact(kept)
        with db.session() as session:
            assert exact(session.get_one(Observation, row_id).record) == exact(record)
    no_kind = {k: v for k, v in fix("F6").items() if k != "kind"}
    row_id = store(db, no_kind)
    assert stored_payload(db, row_id) == no_kind  # whole: reading it back adds nothing
    with db.session() as session:
        assert exact(session.get_one(Observation, row_id).record) == exact(no_kind)


def test_a_row_no_column_can_say_is_stored_whole_and_read_as_it_is() -> None:
    """Rows from an archive or a stream are not all an API's: a coordinate that is no number or
    a time that is no time leaves the record whole (never an error), and a payload that is not
    an object (stored by no path of the centre) is read as it is."""
    record = fix("X1")
    bad_lat = log.row_for(record, T0, T0, source="import") | {"lat": "forty-eight"}
    bad_time = log.row_for(record, T0, T0, source="import") | {"t": "yesterday"}
    assert stored_payload_of(bad_lat) == record and stored_payload_of(bad_time) == record
    listed = ["not", "an", "object"]
    assert log.record({**bad_lat, "lat": 48.85, "payload": listed}) == listed


def test_a_row_stored_whole_before_reads_as_it_was(db: Database) -> None:
    """Rows stored before this form keep their whole payload: read as they are, nothing added."""
    record = fix("F7", seq=3) | {"t": "2026-11-30T08:00:00.25Z"}
    row = log.row_for(record, T0, T0, source="test")
    with db.session() as session:  # as `append` stored it before: the record whole
        session.execute(insert(Observation.__table__).values(row))
    with db.session() as session:
        (stored,) = session.scalars(select(Observation).where(Observation.device == "F7"))
    assert stored.payload == record
    assert exact(stored.record) == exact(record)


def _signed(zero: float) -> bool:
    return zero == 0 and math.copysign(1.0, zero) < 0


# PostgreSQL's JSONB has no negative zero (a number is a numeric) nor NUL character: what it
# cannot hold it could not hold before this form either, so those are left out.
_floats = st.floats(allow_nan=False, allow_infinity=False, width=64).filter(
    lambda x: not _signed(x)
)
_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=8)
_extra = st.dictionaries(
    st.sampled_from(["hdop", "speed", "sats", "io", "note"]),
    st.one_of(st.integers(-(2**53), 2**53), _floats, _text, st.booleans()),
    max_size=3,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lat=st.one_of(st.floats(-90, 90).filter(lambda x: not _signed(x)), st.integers(-90, 90)),
    lon=st.one_of(st.floats(-180, 180).filter(lambda x: not _signed(x)), st.integers(-180, 180)),
    accuracy=st.one_of(st.none(), st.floats(0, 5000), st.integers(0, 5000)),
    seq=st.one_of(st.none(), st.integers(0, 2**62)),
    micros=st.integers(0, 999_999),
    t_form=st.sampled_from(["Z", "+00:00", "ms"]),
    kind=st.sampled_from(["obs", None]),
    extras=_extra,
)
def test_any_fix_comes_back_exactly_as_it_came(
    db: Database,
    lat: float,
    lon: float,
    accuracy: float | None,
    seq: int | None,
    micros: int,
    t_form: str,
    kind: str | None,
    extras: dict[str, Any],
) -> None:
    t = T0.replace(microsecond=micros)
    written = {
        "Z": t.isoformat().replace("+00:00", "Z"),
        "+00:00": t.isoformat(),
        "ms": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }[t_form]
    device = f"H{next(_devices)}"
    record: dict[str, Any] = {"device": device, "t": written, "type": "position"}
    record |= {"lat": lat, "lon": lon} | extras
    if kind is not None:
        record["kind"] = kind
    if accuracy is not None:
        record["accuracy_m"] = accuracy
    if seq is not None:
        record["seq"] = seq
    row_id = store(db, record, t)
    payload = stored_payload(db, row_id)
    whole = log.row_for(record | {"device": f"W{device}"}, t, t, source="test")
    with db.session() as session:  # the same record stored whole, as before this form
        session.execute(insert(Observation.__table__).values(whole))
    with db.session() as session:
        row = session.get_one(Observation, row_id)
        mapping = (
            session.execute(select(Observation.__table__).where(Observation.id == row_id))
            .mappings()
            .one()
        )
        before = session.scalars(
            select(Observation.payload).where(Observation.device == f"W{device}")
        ).one()
    # What the store gave back before (PostgreSQL's JSONB turns 1e16 into an integer, say).
    assert exact(row.record) == exact(before | {"device": device})
    assert exact(log.record(mapping)) == exact(row.record)
    if db.is_sqlite:  # a JSON text: the record to the character
        assert exact(row.record) == exact(record)
    assert ("device" in payload) == (payload == before | {"device": device})  # whole, or slim

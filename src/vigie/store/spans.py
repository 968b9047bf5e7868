"""Where a device's readings are, by time, without an index written at every reading.

An index ordered by device cost a random page write per reading: most of what a reading wrote
(13 KB on SQLite with a month of history, `bench/store_churn.py`; issue 13). Ingest now only
appends. Every `span_every_s`, `compact` groups the rows stored since its watermark into spans,
one row per minute of their time, device and type holding their ids, keyed time first so that
each compaction appends; and it keeps each device's newest reading of each type in
`device_latest`.

A per-device read takes the spans of the minutes it covers (a seek each) and the rows above the
watermark (the tail: one period of readings). What it finds never depends on compaction having
run, only what the read costs; a stalled compaction is reported by the health endpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, String, any_, bindparam, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.store.database import Database
from vigie.store.models import DeviceLatest, Observation, ObservationSpan, SpanWatermark

logger = logging.getLogger(__name__)

# Taken by each of a compaction's transactions (PostgreSQL): one process compacts at a time.
# Not another lock's key (`observations.ORDER_LOCK`, `episodes.ALARM_ID_LOCK`, ...: a test).
SPAN_LOCK = 7420004
# Span rows (and newest readings) a transaction of a compaction writes at most.
WRITE_ROWS = 2_000
# Rows spanned by one transaction at most: a compaction after a long stop catches up in steps.
BATCH = 100_000
# Minutes a span read names in one statement.
MINUTES_A_READ = 5_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)


def minute_of(t: datetime) -> int:
    """The minute a time falls in, counted from 1970 (floored, before 1970 too)."""
    return (t - _EPOCH) // _MINUTE


def pack(ids: Sequence[int]) -> bytes:
    """The ids of a span after its first (`first_id`), as offsets from it: empty for one id;
    else a byte saying the width (4, as a compaction's range always fits, or 8), then the
    offsets, little-endian."""
    offsets = np.asarray(ids[1:], dtype=np.int64) - ids[0]
    if not len(offsets):
        return b""
    if offsets.max() < 2**32:
        return b"\x04" + offsets.astype("<u4").tobytes()
    return b"\x08" + offsets.astype("<i8").tobytes()


def unpack(first_id: int, blob: bytes) -> np.ndarray:
    """The ids `pack` kept, the first included."""
    if not blob:
        return np.array([first_id], dtype=np.int64)
    offsets = np.frombuffer(blob, dtype="<u4" if blob[0] == 4 else "<i8", offset=1)
    return np.concatenate(([first_id], first_id + offsets.astype(np.int64)))


@dataclass(frozen=True)
class Grouped:
    """What a compaction writes: span rows, and the newest reading of each (device, type)."""

    spans: list[dict[str, Any]]
    latest: list[dict[str, Any]]


def group(rows: Iterable[Any]) -> Grouped:
    """Spans and newest readings of rows of (id, device, type, t, conflict_of), in id order.
    A conflict (a sequence number reused with other content) is in the spans (the track shows
    what the device said) but never a device's newest reading."""
    by: dict[tuple[int, str, str], list[int]] = defaultdict(list)
    latest: dict[tuple[str, str], tuple[datetime, int]] = {}
    for row_id, device, kind, t, conflict_of in rows:
        by[minute_of(t), device, kind].append(row_id)
        if conflict_of is None:
            known = latest.get((device, kind))
            if known is None or (t, row_id) > known:
                latest[device, kind] = (t, row_id)
    return Grouped(
        [
            {"minute": m, "device": d, "type": k, "first_id": ids[0], "ids": pack(ids)}
            for (m, d, k), ids in sorted(by.items())
        ],
        [{"device": d, "type": k, "t": t, "id": i} for (d, k), (t, i) in sorted(latest.items())],
    )


def write(session: Session, grouped: Grouped) -> None:
    """Store spans and newest readings. Again is harmless: a span already stored is left as it
    is (the same ids), a newest reading replaces only an older one."""
    insert = postgresql.insert if _pg(session) else sqlite.insert
    if grouped.spans:
        session.execute(insert(ObservationSpan).on_conflict_do_nothing(), grouped.spans)
    if grouped.latest:
        newer = insert(DeviceLatest)
        table = DeviceLatest.__table__
        newer = newer.on_conflict_do_update(
            index_elements=["device", "type"],
            set_={"t": newer.excluded.t, "id": newer.excluded.id},
            where=tuple_(newer.excluded.t, newer.excluded.id) > tuple_(table.c.t, table.c.id),
        )
        session.execute(newer, grouped.latest)


def move(session: Session, upto: int) -> None:
    """Set the watermark: every observation with an id up to `upto` is in the spans."""
    insert = postgresql.insert if _pg(session) else sqlite.insert
    mark = insert(SpanWatermark).values(id=1, upto=upto)
    session.execute(mark.on_conflict_do_update(index_elements=["id"], set_={"upto": upto}))


def pieces(grouped: Grouped, size: int) -> list[Grouped]:
    """A compaction's writes in pieces of `size` rows of each kind (at least one piece)."""
    count = max(len(grouped.spans), len(grouped.latest), 1)
    return [
        Grouped(grouped.spans[i : i + size], grouped.latest[i : i + size])
        for i in range(0, count, size)
    ]


def watermark(session: Session) -> int:
    """Every observation with an id up to this is in the spans (0: none yet)."""
    return session.scalar(select(SpanWatermark.upto).where(SpanWatermark.id == 1)) or 0


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _committed_upto(db: Database) -> int:
    """An id at or below which every observation that will ever commit has committed.

    PostgreSQL hands ids out before commit: an ingest holds the order lock (`observations.
    ORDER_LOCK`: exclusive when ordered, shared when not) from before its insert to its commit,
    so once this takes it exclusively, every id handed out has committed or never will. SQLite
    has one writer: what it sees committed is all there is below the next id."""
    from vigie.store.observations import ORDER_LOCK

    with db.session() as session:
        if _pg(session):
            session.execute(select(func.pg_advisory_xact_lock(ORDER_LOCK)))
        return session.scalar(select(func.max(Observation.id))) or 0


def compact(db: Database, *, batch: int = BATCH) -> int:
    """Span the observations stored since the watermark (up to `batch` ids at a time), and
    return how many it spanned. Any process may call it: the rows are read before the write
    transactions (they no longer change), each of which finds the watermark where it was or
    leaves the rest to whoever moved it; a piece written twice is harmless (`write`)."""
    upto = _committed_upto(db)
    with db.reading() as session:
        mark = watermark(session)
    if upto <= mark:
        return 0
    upto = min(upto, mark + batch)
    table = Observation.__table__
    with db.reading() as session:
        rows = session.execute(
            select(table.c.id, table.c.device, table.c.type, table.c.t, table.c.conflict_of)
            .where(table.c.id > mark, table.c.id <= upto)
            .order_by(table.c.id)
        ).all()
    # In pieces, each its own short transaction: SQLite's writer (and this process's ingests
    # behind it) waits for one piece, not the whole. The watermark moves with the last.
    parts = pieces(group(rows), WRITE_ROWS)
    for n, part in enumerate(parts):
        with db.session() as session:
            if _pg(session) and not session.scalar(
                select(func.pg_try_advisory_xact_lock(SPAN_LOCK))
            ):
                return 0
            if watermark(session) != mark:
                return 0  # another process compacted these
            write(session, part)
            if n == len(parts) - 1:
                move(session, upto)
    return len(rows)


def compact_all(db: Database) -> int:
    """Compact until the watermark meets the last stored id (a catch-up, the tests)."""
    total = 0
    while spanned := compact(db):
        total += spanned
    return total


async def compact_forever(db: Database, every_s: float, stopping: threading.Event) -> None:
    """Compact every `every_s` until `stopping`; a failure is logged and retried next period
    (reads stay whole meanwhile, they only read a longer tail; health counts it)."""
    while not await asyncio.to_thread(stopping.wait, every_s):
        try:
            while await asyncio.to_thread(compact, db) and not stopping.is_set():
                pass
        except Exception:  # whatever it is, the next period tries again: never a stopped task
            logger.exception("compacting observations into spans failed; will retry")


# ---------------------------------------------------------------------------------------- reads


def listed_in(
    session: Session, column: Any, values: Sequence[Any], kind: type[String] | type[BigInteger]
) -> Any:
    """`column IN values`, the values one parameter named after the column (an array on
    PostgreSQL, a JSON list on SQLite): no count meets SQLite's bound on a statement's
    parameters, and the statement is compiled once and cached, where a list of literals is
    compiled anew at every call."""
    unique = sorted(set(values))
    name = f"listed_{column.name}"
    if _pg(session):
        return column == any_(bindparam(name, unique, type_=postgresql.ARRAY(kind)))
    listed = func.json_each(bindparam(name, json.dumps(unique))).table_valued("value")
    return column.in_(select(listed.c.value))


@dataclass(frozen=True)
class Located:
    """Readings by (minute of their time, id), sorted so: their time order to the minute."""

    minutes: np.ndarray
    ids: np.ndarray


def located(
    session: Session,
    devices: Sequence[str],
    types: Sequence[str],
    since: datetime,
    until: datetime | None = None,
) -> Located:
    """Every stored reading of `devices` and `types` whose time may lie in [since, until]
    (None: up to the newest): the spans of those minutes, then the tail. Arrays, not Python
    objects: a year of a device's fixes is millions of them.

    A reading may be a minute outside the window, or a row deleted since (retention): callers
    fetch the rows with the window's condition. Conflicts are in."""
    id_parts: list[np.ndarray] = []
    minute_parts: list[np.ndarray] = []
    if devices and types:
        mark = watermark(session)  # first: a compaction meanwhile repeats readings, loses none
        first = minute_of(since)
        if until is not None:
            last = minute_of(until)
        else:
            last = session.scalar(select(func.max(ObservationSpan.minute))) or first - 1
        spans = ObservationSpan.__table__
        for start in range(first, last + 1, MINUTES_A_READ):
            minutes = list(range(start, min(last, start + MINUTES_A_READ - 1) + 1))
            query = select(spans.c.minute, spans.c.first_id, spans.c.ids).where(
                listed_in(session, spans.c.minute, minutes, BigInteger),
                listed_in(session, spans.c.device, devices, String),
                listed_in(session, spans.c.type, types, String),
            )
            for minute, first_id, blob in session.execute(query):
                id_parts.append(unpack(first_id, blob))
                minute_parts.append(np.full(len(id_parts[-1]), minute, dtype=np.int64))
        table = Observation.__table__
        tail = select(table.c.t, table.c.id).where(
            table.c.id > mark,
            listed_in(session, table.c.device, devices, String),
            listed_in(session, table.c.type, types, String),
            table.c.t >= since,
        )
        if until is not None:
            tail = tail.where(table.c.t <= until)
        rows = session.execute(tail).all()
        id_parts.append(np.array([i for _, i in rows], dtype=np.int64))
        minute_parts.append(np.array([minute_of(t) for t, _ in rows], dtype=np.int64))
    if not id_parts:
        return Located(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))
    ids, first_seen = np.unique(np.concatenate(id_parts), return_index=True)
    minutes = np.concatenate(minute_parts)[first_seen]
    order = np.lexsort((ids, minutes))
    return Located(minutes[order], ids[order])


def newest(
    session: Session, devices: Sequence[str], types: Sequence[str]
) -> dict[str, tuple[datetime, int]]:
    """Device -> (time, id) of its newest reading of `types` (by time, then stored order), conflicts
    left out, for those that sent one: `device_latest`, then the tail."""
    if not devices:
        return {}
    mark = watermark(session)
    best: dict[str, tuple[datetime, int]] = {}

    def keep(device: str, t: datetime, row_id: int) -> None:
        if device not in best or (t, row_id) > best[device]:
            best[device] = (t, row_id)

    latest = DeviceLatest.__table__
    for device, t, row_id in session.execute(
        select(latest.c.device, latest.c.t, latest.c.id).where(
            listed_in(session, latest.c.device, devices, String),
            listed_in(session, latest.c.type, types, String),
        )
    ):
        keep(device, t, row_id)
    table = Observation.__table__
    for device, t, row_id in session.execute(
        select(table.c.device, table.c.t, table.c.id).where(
            table.c.id > mark,
            table.c.conflict_of.is_(None),
            listed_in(session, table.c.device, devices, String),
            listed_in(session, table.c.type, types, String),
        )
    ):
        keep(device, t, row_id)
    return best


def lag(session: Session) -> int:
    """How many ids lie above the watermark: the tail every per-device read scans."""
    last = session.scalar(select(func.max(Observation.id))) or 0
    return max(0, last - watermark(session))

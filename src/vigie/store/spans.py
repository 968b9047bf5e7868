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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.store.database import Database
from vigie.store.listed import listed_in
from vigie.store.models import DeviceLatest, Observation, ObservationSpan, SpanWatermark

logger = logging.getLogger(__name__)

# Taken by a compaction's transaction (PostgreSQL): one process compacts at a time.
# Not another lock's key (`observations.ORDER_LOCK`, `episodes.ALARM_ID_LOCK`, ...: a test).
SPAN_LOCK = 7420004
# How long a compaction waits for the transactions in progress to end (PostgreSQL) before it
# leaves this period's work to the next.
WAIT_S = 2.0
# Ids spanned by one transaction at most: a period's readings (a minute at 2,400 a second) in
# one, since every transaction writes a span row per device it saw and rewrites the pages of
# `device_latest` (cut in 10,000s, SQLite wrote 900 bytes a reading more); a compaction after
# a long stop catches up in steps.
BATCH = 200_000
# Minutes a span read names in one statement.
MINUTES_A_READ = 5_000
TAIL_CHUNK = 50_000  # rows of the unspanned tail turned into arrays at a time (`located`)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)


def minute_of(t: datetime) -> int:
    """The minute a time falls in, counted from 1970 (floored, before 1970 too)."""
    return (t - _EPOCH) // _MINUTE


def unpack(first_id: int, ids: str) -> np.ndarray:
    """A span's ids: `first_id` plus each offset of its JSON list (the first's is 0)."""
    return first_id + np.asarray(json.loads(ids), dtype=np.int64)


# The minute of a stored time, floored, as each database computes it: SQLite keeps times as
# text (`vigie.store.types.UTCDateTime`) and has no floor(); its % keeps the dividend's sign.
_MINUTE_SQL = {
    "sqlite": "((CAST(strftime('%s', t) AS INTEGER)"
    " - ((CAST(strftime('%s', t) AS INTEGER) % 60) + 60) % 60) / 60)",
    "postgresql": "floor(extract(epoch FROM t) / 60)::bigint",
}
_OFFSETS_SQL = {
    "sqlite": "json_group_array(id - first_id)",
    "postgresql": "json_agg(id - first_id ORDER BY id)::text",
}


def selects(dialect: str) -> tuple[str, str]:
    """What a compaction works out over the observations with ids in (:mark, :upto], in the
    database (no row comes to Python: the API process that compacts keeps its interpreter for
    requests): the spans `(minute, device, type, first_id, ids)`, then each device's newest
    readings `(device, type, t, id)`."""
    spans = (
        f"SELECT minute, device, type, first_id, {_OFFSETS_SQL[dialect]} FROM ("
        f"SELECT {_MINUTE_SQL[dialect]} AS minute, device, type, id, min(id) OVER "
        f"(PARTITION BY {_MINUTE_SQL[dialect]}, device, type) AS first_id FROM observations "
        "WHERE id > :mark AND id <= :upto) AS spanned "
        "GROUP BY minute, device, type, first_id"
    )
    latest = (
        "SELECT device, type, t, id FROM ("
        "SELECT device, type, t, id, row_number() OVER "
        "(PARTITION BY device, type ORDER BY t DESC, id DESC) AS n FROM observations "
        "WHERE id > :mark AND id <= :upto AND conflict_of IS NULL) AS newest WHERE n = 1"
    )
    return spans, latest


def inserts(spans: str, latest: str, dialect: str) -> tuple[str, str]:
    """The statements that store what `selects` (or a copy of it) gives. Both may run again over
    the same ids harmlessly: a span stored already is left out by the anti-join, not by
    `ON CONFLICT DO NOTHING`, which PostgreSQL runs as a speculative insertion (a confirmation
    record in the WAL for every span). One compaction runs at a time, so none stores the same
    span meanwhile, nor the same newest reading.

    On PostgreSQL the newest readings are an UPDATE of the rows there, then an INSERT of the
    others, in one statement: an upsert's `ON CONFLICT DO UPDATE` locks each row it updates
    first, a record in the WAL for every device each minute (5.6 bytes a reading at 2,400
    readings a second, `bench/pipeline.py --steady`). The purge's delete of old rows waits for
    the compaction's lock (`purge_locations`): a row it deleted under the UPDATE would be
    neither updated nor inserted. SQLite writes no such record: its upsert stays."""
    spanned = (
        "INSERT INTO observation_spans (minute, device, type, first_id, ids) "
        f"SELECT * FROM ({spans}) AS made WHERE NOT EXISTS (SELECT 1 FROM observation_spans s "
        "WHERE s.minute = made.minute AND s.device = made.device AND s.type = made.type "
        "AND s.first_id = made.first_id)"
    )
    if dialect == "postgresql":
        return spanned, (
            f"WITH made AS MATERIALIZED ({latest}), moved AS (UPDATE device_latest AS d "
            "SET t = made.t, id = made.id FROM made WHERE d.device = made.device "
            "AND d.type = made.type AND (made.t, made.id) > (d.t, d.id)) "
            "INSERT INTO device_latest (device, type, t, id) SELECT * FROM made "
            "WHERE NOT EXISTS (SELECT 1 FROM device_latest d "
            "WHERE d.device = made.device AND d.type = made.type)"
        )
    return spanned, (
        f"INSERT INTO device_latest (device, type, t, id) {latest} "
        "ON CONFLICT (device, type) DO UPDATE SET t = excluded.t, id = excluded.id "
        "WHERE (excluded.t, excluded.id) > (device_latest.t, device_latest.id)"
    )


def statements(dialect: str) -> tuple[str, str]:
    """A compaction's two statements over the ids in (:mark, :upto], worked out and stored in
    one (PostgreSQL's way: its inserts hold no lock that an ingest waits for)."""
    return inserts(*selects(dialect), dialect)


# SQLite: what a compaction works out, in the connection's own temporary tables (no lock on
# the store), then copied under the writer (`_compact_sqlite`).
_MADE = (
    "CREATE TEMP TABLE IF NOT EXISTS spans_made "
    "(minute INTEGER, device TEXT, type TEXT, first_id INTEGER, ids TEXT)",
    "CREATE TEMP TABLE IF NOT EXISTS latest_made (device TEXT, type TEXT, t TEXT, id INTEGER)",
    "DELETE FROM temp.spans_made",
    "DELETE FROM temp.latest_made",
)
# `WHERE true`: SQLite's upsert needs a SELECT with a WHERE clause to parse.
_FROM_MADE = inserts(
    "SELECT * FROM temp.spans_made WHERE true",
    "SELECT * FROM temp.latest_made WHERE true",
    "sqlite",
)


def write(session: Session, mark: int, upto: int) -> None:
    """Span the observations with ids in (mark, upto] and note their devices' newest readings,
    then move the watermark to `upto`."""
    for statement in statements(session.get_bind().dialect.name):
        session.execute(text(statement), {"mark": mark, "upto": upto})
    move(session, upto)


def move(session: Session, upto: int) -> None:
    """Move the watermark to `upto`: every id up to it is spanned."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    moved = insert(SpanWatermark).values(id=1, upto=upto)
    session.execute(moved.on_conflict_do_update(index_elements=["id"], set_={"upto": upto}))


def watermark(session: Session) -> int:
    """Every observation with an id up to this is in the spans (0: none yet)."""
    return session.scalar(select(SpanWatermark.upto).where(SpanWatermark.id == 1)) or 0


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _committed_upto(db: Database, wait_s: float = WAIT_S) -> int | None:
    """An id at or below which every observation that will ever commit has committed, or None
    if that is not known within `wait_s` (this compaction is then skipped).

    SQLite has one writer: what it sees committed is all there is below the next id.
    PostgreSQL hands ids out before commit (a cluster worker's ingest commits whenever its step
    does). The sequence's last value is read first, then the transactions in progress: an
    ingest takes its transaction id before its ids (`observations._before_ids`), so any that
    holds an id below that value was among them, and once they have all ended, every such id
    has committed or never will. Waiting takes no lock: a stopped worker's open transaction delays
    compaction (the reads then scan a longer tail), never an ingest (a lock queued behind it
    did: every worker waited, in the chaos test of a paused worker)."""
    with db.reading() as session:
        if not _pg(session):
            return session.scalar(select(func.max(Observation.id))) or 0
        last = session.scalar(
            text("SELECT pg_sequence_last_value(pg_get_serial_sequence('observations', 'id'))")
        )
        running = session.scalars(
            text("SELECT x::text FROM pg_snapshot_xip(pg_current_snapshot()) AS x")
        ).all()
    deadline = time.monotonic() + wait_s
    while running:
        with db.reading() as session:
            running = session.scalars(
                text(
                    "SELECT x FROM unnest(CAST(:xids AS text[])) AS x "
                    "WHERE pg_xact_status(CAST(x AS xid8)) = 'in progress'"
                ),
                {"xids": running},
            ).all()
        if running and time.monotonic() > deadline:
            return None
        if running:
            time.sleep(0.02)
    return last or 0


def compact(db: Database, *, batch: int = BATCH, wait_s: float = WAIT_S) -> int:
    """Span the observations stored since the watermark, up to `batch` ids in one transaction
    (in the database: SQLite's writer is held for copying what was worked out, not for the
    work, nor for Python), and return how many ids it covered. Any process may call it: the
    transaction finds the watermark where it was read, or leaves the work to whoever moved it."""
    upto = _committed_upto(db, wait_s)
    with db.reading() as session:
        mark = watermark(session)
    if upto is None or upto <= mark:
        return 0
    upto = min(upto, mark + batch)
    if db.is_sqlite:
        return _compact_sqlite(db, mark, upto)
    with db.session() as session:
        if not session.scalar(select(func.pg_try_advisory_xact_lock(SPAN_LOCK))):
            return 0
        if watermark(session) != mark:
            return 0  # another process compacted these
        write(session, mark, upto)
    return upto - mark


def _compact_sqlite(db: Database, mark: int, upto: int) -> int:
    """SQLite: work the spans and newest readings out into the connection's temporary tables
    first, which takes no lock on the store (ingests and detection steps go on), then copy them
    in with the watermark under the writer. Worked out under the writer, a minute of readings
    at 2,400 a second (144,000) held every other write 0.6-0.7 s: the pipeline bench's markers
    of that second waited for it (p99 238 ms in one run)."""
    with db.engine.connect() as connection:
        try:
            with connection.begin():
                for statement in _MADE:
                    connection.execute(text(statement))
                made = zip(("spans_made", "latest_made"), selects("sqlite"), strict=True)
                for table, worked_out in made:
                    connection.execute(
                        text(f"INSERT INTO temp.{table} {worked_out}"),
                        {"mark": mark, "upto": upto},
                    )
            with db.writer(), Session(bind=connection) as session, session.begin():
                if watermark(session) != mark:
                    return 0  # another process compacted these
                for statement in _FROM_MADE:
                    session.execute(text(statement))
                move(session, upto)
        finally:
            # The copies go now, copied in or not: else a pooled connection holds a minute's
            # spans in memory (temp_store) until its next compaction.
            with connection.begin():
                for statement in _MADE[2:]:
                    connection.execute(text(statement))
    return upto - mark


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
        spans = ObservationSpan.__table__
        # Within the minutes any span covers (two seeks; SQLite seeks a min() or a max() alone,
        # not both in one query): a window opened years back by a typo in a date costs what
        # the history stored does, not a query every few thousand minutes of it.
        oldest = session.scalar(select(func.min(spans.c.minute)))
        newest = session.scalar(select(func.max(spans.c.minute)))
        first = max(minute_of(since), oldest if oldest is not None else 0)
        last = newest if newest is not None else first - 1
        if until is not None:
            last = min(last, minute_of(until))
        for start in range(first, last + 1, MINUTES_A_READ):
            read = list(range(start, min(last, start + MINUTES_A_READ - 1) + 1))
            query = select(spans.c.minute, spans.c.first_id, spans.c.ids).where(
                listed_in(session, spans.c.minute, read),
                listed_in(session, spans.c.device, devices),
                listed_in(session, spans.c.type, types),
            )
            # One array a query, not one a span: a year of a device's spans is 500,000 of them,
            # and an array's own overhead (about 100 bytes) outweighs its few ids.
            found: list[np.ndarray] = []
            at: list[np.ndarray] = []
            for minute, first_id, blob in session.execute(query):
                found.append(unpack(first_id, blob))
                at.append(np.full(len(found[-1]), minute, dtype=np.int64))
            if found:
                id_parts.append(np.concatenate(found))
                minute_parts.append(np.concatenate(at))
        table = Observation.__table__
        tail = select(table.c.t, table.c.id).where(
            table.c.id > mark,
            listed_in(session, table.c.device, devices),
            listed_in(session, table.c.type, types),
            table.c.t >= since,
        )
        if until is not None:
            tail = tail.where(table.c.t <= until)
        # In chunks: the tail is a minute or two of readings while compaction runs, but all of
        # a history it has not reached yet (stopped, or catching up after an upgrade), whose
        # rows held at once cost about 400 bytes each (an export of a year of fixes held 435
        # MiB, measured).
        chunks = session.execute(tail.execution_options(yield_per=TAIL_CHUNK)).partitions()
        for chunk in chunks:
            id_parts.append(np.fromiter((i for _, i in chunk), dtype=np.int64, count=len(chunk)))
            minute_parts.append(
                np.fromiter((minute_of(t) for t, _ in chunk), dtype=np.int64, count=len(chunk))
            )
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
            listed_in(session, latest.c.device, devices),
            listed_in(session, latest.c.type, types),
        )
    ):
        keep(device, t, row_id)
    # The tail's newest of each device, chosen in the database: a minute's tail is 144,000
    # rows at 2,400 a second, each a datetime parsed in Python when they all came back.
    table = Observation.__table__
    order = (table.c.t.desc(), table.c.id.desc())
    ranked = (
        select(
            table.c.device,
            table.c.t,
            table.c.id,
            func.row_number().over(partition_by=table.c.device, order_by=order).label("n"),
        )
        .where(
            table.c.id > mark,
            table.c.conflict_of.is_(None),
            listed_in(session, table.c.device, devices),
            listed_in(session, table.c.type, types),
        )
        .subquery()
    )
    query = select(ranked.c.device, ranked.c.t, ranked.c.id).where(ranked.c.n == 1)
    for device, t, row_id in session.execute(query):
        keep(device, t, row_id)
    return best


def lag(session: Session) -> int:
    """How many ids lie above the watermark: the tail every per-device read scans."""
    last = session.scalar(select(func.max(Observation.id))) or 0
    return max(0, last - watermark(session))

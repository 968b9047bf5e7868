"""The observation log: append-only, idempotent, durable before anything is acknowledged."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, cast, get_args

import psycopg
from sqlalchemy import (
    CursorResult,
    Dialect,
    RowMapping,
    Table,
    case,
    delete,
    func,
    null,
    select,
    text,
    tuple_,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.observation import ObservationIn
from vigie.store import audit, spans
from vigie.store.database import Database, json_text
from vigie.store.fix_payload import record_of, stored_payload
from vigie.store.listed import listed_in
from vigie.store.models import DeviceLatest, Observation, ObservationSpan

# What a device can say. A per-device read names the types it wants: the spans and newest
# readings are kept by type (`vigie.store.spans`).
TYPES: tuple[str, ...] = tuple(
    get_args(kind.model_fields["type"].annotation)[0]
    for kind in get_args(get_args(ObservationIn)[0])
)


@dataclass(frozen=True)
class Accepted:
    """What an ingest did: ids of the new rows, how many were already there, and the ids of the
    rows stored as conflicts (a sequence number reused with other content)."""

    ids: list[int]
    duplicates: int
    conflicts: list[int] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)  # the new rows as the engine reads them


# Fields that say who and when, already in the key or the row: not part of what a reading says.
_IDENTITY = frozenset({"kind", "device", "t", "seq"})


def dedup_key(seq: int | None, t: datetime, record: dict[str, Any]) -> str:
    """The idempotency key: the device's sequence number when it has one; else its fix time, type
    and a digest of what it says, so that only a true retransmission is taken for a duplicate.

    Time alone would drop a battery report sent in the same second as a fix, or a case opening
    reported with a strap opening: readings the device sent, lost.
    """
    if seq is not None:
        return f"seq:{seq}"
    # What the reading says, in a stable order; repr rather than JSON: this runs per observation.
    said = sorted((k, v) for k, v in record.items() if k not in _IDENTITY)
    digest = hashlib.blake2b(repr(said).encode(), digest_size=6).hexdigest()
    return f"t:{record['type']}:{t.isoformat(timespec='microseconds')}:{digest}"


def row_for(
    record: dict[str, Any], t: datetime, received_at: datetime, *, source: str
) -> dict[str, Any]:
    """The row of one validated replay-format `obs` record, the record kept whole as payload;
    `source` says who handed it in (a gateway protocol, or "api:<integration account>")."""
    seq = record.get("seq")
    # Only a fix fills the location columns: another reading may carry extras of those names.
    fix = record["type"] == "position"
    return {
        "source": source,
        "conflict_of": None,
        "imported_from": None,
        "device": record["device"],
        "seq": seq,
        "dedup_key": dedup_key(seq, t, record),
        "t": t,
        "received_at": received_at,
        "type": record["type"],
        "lat": record.get("lat") if fix else None,
        "lon": record.get("lon") if fix else None,
        "accuracy_m": record.get("accuracy_m") if fix else None,
        "payload": record,
    }


# Up to this many rows, PostgreSQL takes one multi-row INSERT (one round trip: a live
# partition's step archives a message or two); above, COPY straight into the table.
COPY_FROM = 64
ORDER_LOCK = 7420001  # taken by an ordered ingest before its insert, held to its commit
# Rows a statement on SQLite: 13 values each, far under its 32,766 parameters a statement.
SQLITE_ROWS = 1000


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch with its per-row work done before any transaction (`prepare`).

    `rows` are the caller's (records whole: a conflict is judged on them); `values` each row's
    values in `_COLUMNS` order then its payload as stored, as the insert takes them: bound by
    the columns' own types on SQLite (the same text SQLAlchemy writes), COPY's on PostgreSQL
    (none for a batch small enough for one INSERT). Measured on SQLite, 20,000 readings:
    about 300 of the 430 ms their insert took, while it held the one writer that every
    detection step, and every other ingest, waits for.
    """

    rows: list[dict[str, Any]]
    values: list[tuple[Any, ...]]
    dialect: str


def prepare(rows: list[dict[str, Any]], dialect: Dialect) -> Prepared:
    """`rows` made ready for `append` on a database of `dialect`, outside its transaction."""
    if dialect.name == "postgresql":
        values = [_copy_row(row) for row in rows] if len(rows) > COPY_FROM else []
        return Prepared(rows, values, dialect.name)
    columns = Observation.__table__.c
    processors = [
        (name, columns[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in (*_COLUMN_NAMES, "payload")
    ]
    values = []
    for row in rows:
        # A column the row leaves out is NULL, as in `_copy_row` (rows older than a column).
        stored = row | {"payload": stored_payload(row)}
        values.append(
            tuple(
                stored.get(name) if bind is None else bind(stored.get(name))
                for name, bind in processors
            )
        )
    return Prepared(rows, values, dialect.name)


def append(
    session: Session,
    rows: list[dict[str, Any]] | Prepared,
    *,
    ordered: bool = True,
    engine_rows: bool = False,
) -> Accepted:
    """Insert rows, skipping those already stored; the caller's commit makes them durable.
    Each row's record is stored as `fix_payload.stored_payload` gives it. A caller that holds
    a writer hands rows `prepare`d before it took it.

    `ordered` (PostgreSQL): ids commit in id order, for a reader following the table by id
    (embedded detection); a partition's worker, whose cursor is the stream's, needs it not.
    `engine_rows`: the new rows also come back as `rows_after` gives them (`Accepted.rows`),
    returned by the insert itself where it can (no second query).
    """
    table = cast(Table, Observation.__table__)
    dialect = session.get_bind().dialect
    batch = rows if isinstance(rows, Prepared) else prepare(rows, dialect)
    if batch.dialect != dialect.name:
        raise ValueError(f"rows prepared for {batch.dialect}, appended to {dialect.name}")
    rows = batch.rows
    statement: Any
    new: list[Any] = []
    pg = dialect.name == "postgresql"
    # A small batch on PostgreSQL, and the conflicts: one statement run over all rows
    # (SQLAlchemy's "insertmanyvalues"), compiled once and cached, where a multi-row VALUES
    # literal would be compiled anew for every batch. (SQLite's rows go as values already bound,
    # in statements of the driver's own: `_sqlite_insert`.)
    statement = (postgresql.insert(table) if pg else sqlite.insert(table)).on_conflict_do_nothing(
        index_elements=["device", "dedup_key"]
    )
    if pg and len(rows) > COPY_FROM:
        ids = _copy_insert(session, batch, ordered)
        if engine_rows:
            new = rows_by_ids(session, ids)
    elif pg and rows:
        session.execute(text(_before_ids(ordered)))
        stored = _stored(rows)
        if engine_rows:
            new = list(session.execute(statement.returning(*_engine_columns()), stored))
            ids = [row.id for row in new]
        else:
            ids = list(session.scalars(statement.returning(table.c.id), stored))
    elif rows:
        ids = _sqlite_insert(session, batch.values)
        if engine_rows:
            new = rows_by_ids(session, ids)
    else:
        ids = []
    new.sort(key=lambda row: row.id)
    if len(ids) == len(rows):
        return Accepted(sorted(ids), 0, rows=new)
    conflicts = _conflicts(session, rows)
    conflict_ids: list[int] = []
    if conflicts:
        if pg:  # again (a no-op if taken): a batch of stored keys alone took no id before
            session.execute(text(_before_ids(ordered)))
        conflict_ids = list(session.scalars(statement.returning(table.c.id), _stored(conflicts)))
    _audit_conflicts(session, conflict_ids)
    # A conflict resent as it was is a duplicate of the conflict row, not a new conflict.
    duplicates = len(rows) - len(ids) - len(conflict_ids)
    return Accepted(sorted(ids), duplicates, sorted(conflict_ids), rows=new)


def _sqlite_insert(session: Session, values: list[tuple[Any, ...]]) -> list[int]:
    """SQLite: the prepared rows in multi-row INSERTs on the session's connection, those whose
    key is stored already skipped; the ids of the new ones. The values are bound already, so
    the writer is held for SQLite's own work only (about 75 of 430 ms, 20,000 readings)."""
    driver = session.connection().connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    ids: list[int] = []
    try:
        for i in range(0, len(values), SQLITE_ROWS):
            chunk = values[i : i + SQLITE_ROWS]
            cursor.execute(
                f"{_SQLITE_INSERT} VALUES {', '.join([_SQLITE_ROW] * len(chunk))} "
                "ON CONFLICT (device, dedup_key) DO NOTHING RETURNING id",
                [value for row in chunk for value in row],
            )
            ids += [found[0] for found in cursor.fetchall()]
    finally:
        cursor.close()
    return ids


def _before_ids(ordered: bool) -> str:
    """PostgreSQL, before ids are handed out: the transaction takes its id now, so that a
    compaction that reads the id sequence, then the transactions in progress, finds every
    holder of an id below (`spans._committed_upto`; an id comes before the transaction's own
    otherwise, for a moment); and, when `ordered`, the order lock."""
    lock = f", pg_advisory_xact_lock({ORDER_LOCK})" if ordered else ""
    return f"SELECT pg_current_xact_id(){lock}"


def _stored(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as inserted: each payload as stored (the callers' rows keep their records)."""
    return [row | {"payload": stored_payload(row)} for row in rows]


_COLUMN_NAMES = (
    "source",
    "conflict_of",
    "imported_from",
    "device",
    "seq",
    "dedup_key",
    "t",
    "received_at",
    "type",
    "lat",
    "lon",
    "accuracy_m",
)
_COLUMNS = ", ".join(_COLUMN_NAMES)
_SQLITE_INSERT = f"INSERT INTO observations ({_COLUMNS}, payload)"
_SQLITE_ROW = "(" + ", ".join(["?"] * (len(_COLUMN_NAMES) + 1)) + ")"
# Which of a batch's keys are stored already: one index probe a key (`uq_observations_key`).
_STORED_KEYS = (
    "SELECT o.device, o.dedup_key FROM observations o "
    "JOIN unnest(%s::text[], %s::text[]) AS k(device, dedup_key) "
    "ON o.dedup_key = k.dedup_key AND o.device = k.device"
)
_IDS = "SELECT nextval(pg_get_serial_sequence('observations', 'id')) FROM generate_series(1, %s)"
_STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS observations_stage (ord integer, source text, "
    "conflict_of bigint, imported_from text, device text, seq bigint, dedup_key text, "
    "t timestamptz, received_at timestamptz, type text, lat float8, lon float8, "
    "accuracy_m float8, payload text) ON COMMIT DELETE ROWS"
)
_FROM_STAGE = (
    f"INSERT INTO observations ({_COLUMNS}, payload) "
    f"SELECT {_COLUMNS}, payload::jsonb FROM observations_stage ORDER BY ord "
    "ON CONFLICT (device, dedup_key) DO NOTHING RETURNING id"
)


def _copy_row(row: dict[str, Any]) -> tuple[Any, ...]:
    """A row's values in `_COLUMNS` order, then its payload as stored (JSON text)."""
    return (
        row["source"],
        row.get("conflict_of"),
        row.get("imported_from"),
        row["device"],
        row["seq"],
        row["dedup_key"],
        row["t"],
        row["received_at"],
        row["type"],
        row["lat"],
        row["lon"],
        row["accuracy_m"],
        json_text(stored_payload(row)),
    )


def _copy_insert(session: Session, batch: Prepared, ordered: bool = True) -> list[int]:
    """PostgreSQL: COPY the batch's new rows straight into the table, with ids taken first.

    COPY writes a page's rows as one WAL record, where `INSERT ... ON CONFLICT` writes a record
    and a confirmation a row (96 bytes a row less, measured on 10,000). So the keys already
    stored are looked up first, and a key twice in the batch kept once (the first, as the
    insert would); no statement to parse per batch either (a 500-row INSERT had 5,500
    placeholders). A concurrent ingest may store one of the keys meanwhile (unordered ingests
    take no lock): the COPY then fails on the key, is undone to its savepoint, and the batch
    goes the way that skips what is stored (`_staged_insert`).

    Ids are handed out before commit; when `ordered` the lock taken before them makes them
    commit in id order, so the pipeline's cursor (last id consumed) can never skip a
    late-committing row. It is taken once the stored keys are known: a key that another
    ingest stores meanwhile fails the COPY, as above. The rows' values were made before
    (`prepare`), so the lock is held for the database's work alone.
    """
    rows = batch.rows
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(_STORED_KEYS, ([r["device"] for r in rows], [r["dedup_key"] for r in rows]))
        seen: set[tuple[str, str]] = {(device, key) for device, key in cursor.fetchall()}
        new = []
        for row, values in zip(rows, batch.values, strict=True):
            key = (row["device"], row["dedup_key"])
            if key not in seen:
                seen.add(key)
                new.append(values)
        if not new:
            return []
        cursor.execute(_before_ids(ordered))  # the lock (ordered) held from here to the commit
        cursor.execute(_IDS, (len(new),))
        ids = sorted(r[0] for r in cursor.fetchall())
        cursor.execute("SAVEPOINT observations_copy")
        try:
            with cursor.copy(f"COPY observations (id, {_COLUMNS}, payload) FROM STDIN") as copy:
                for row_id, values in zip(ids, new, strict=True):
                    copy.write_row((row_id, *values))
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT observations_copy")
            return _staged_insert(cursor, batch.values)
        cursor.execute("RELEASE SAVEPOINT observations_copy")
        return ids


def _staged_insert(cursor: psycopg.Cursor[Any], values: list[tuple[Any, ...]]) -> list[int]:
    """COPY the rows into a staging table of the connection, then move them with one
    `INSERT ... ON CONFLICT DO NOTHING`: whatever another transaction stored meanwhile is
    skipped (the caller took the transaction's id, and the order lock if any)."""
    cursor.execute(_STAGE)  # the connection's own, kept across transactions (or made again)
    with cursor.copy(f"COPY observations_stage (ord, {_COLUMNS}, payload) FROM STDIN") as copy:
        for i, row in enumerate(values):
            copy.write_row((i, *row))
    cursor.execute(_FROM_STAGE)
    ids = [r[0] for r in cursor.fetchall()]
    cursor.execute("DELETE FROM observations_stage")  # another batch may follow in this one
    return ids


def _audit_conflicts(session: Session, ids: list[int]) -> None:
    """One audit entry per conflict stored, whichever path it came by: someone or something
    sent two different readings under one sequence number, and a person must look."""
    if not ids:
        return
    table = Observation.__table__
    for row in session.execute(
        select(table.c.id, table.c.device, table.c.seq, table.c.conflict_of, table.c.source).where(
            table.c.id.in_(ids)
        )
    ):
        audit.record(
            session,
            row.source or "unknown",
            "observation_conflict",
            f"device:{row.device}",
            {"id": row.id, "seq": row.seq, "conflict_of": row.conflict_of},
        )


# The columns a stored record is put together from (`fix_payload.record_of`).
_RECORD_COLUMNS = ("device", "seq", "t", "type", "lat", "lon", "accuracy_m", "payload")


def record(row: Mapping[str, Any] | RowMapping) -> dict[str, Any]:
    """The record a stored row (a mapping of at least `_RECORD_COLUMNS`) holds, whole."""
    return record_of(**{name: row[name] for name in _RECORD_COLUMNS})


def _said(record: dict[str, Any]) -> dict[str, Any]:
    """What a record says, the time included: all but who sent it and its sequence number."""
    return {k: v for k, v in record.items() if k not in ("kind", "device", "seq")}


def _conflicts(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conflict rows for those of `rows` whose key is stored with other content.

    Only sequence-numbered keys can conflict: without one the key is the content. Run only when
    an insert skipped rows, so the common path costs nothing. A conflict row's key names the
    content it says, so that resending the same conflicting reading stores it once.
    """
    keyed = [r for r in rows if r["seq"] is not None]
    if not keyed:
        return []
    table = Observation.__table__
    columns = [table.c[name] for name in _RECORD_COLUMNS]
    stored = {
        (row["device"], row["dedup_key"]): (row["id"], record(row))
        for row in session.execute(
            select(table.c.dedup_key, table.c.id, *columns).where(
                tuple_(table.c.device, table.c.dedup_key).in_(
                    {(r["device"], r["dedup_key"]) for r in keyed}
                )
            )
        ).mappings()
    }
    out: list[dict[str, Any]] = []
    for row in keyed:
        row_id, kept = stored[row["device"], row["dedup_key"]]
        if _said(kept) == _said(row["payload"]):
            continue
        said = sorted(_said(row["payload"]).items())
        digest = hashlib.blake2b(repr(said).encode(), digest_size=6).hexdigest()
        out.append(row | {"dedup_key": f"conflict:{row['seq']}:{digest}", "conflict_of": row_id})
    return out


def after(session: Session, cursor: int, limit: int) -> list[Observation]:
    """Observations stored after id `cursor`, oldest first: what the pipeline has not yet seen."""
    return list(
        session.scalars(
            select(Observation)
            .where(Observation.id > cursor, Observation.conflict_of.is_(None))
            .order_by(Observation.id)
            .limit(limit)
        )
    )


def rows_after(session: Session, cursor: int, limit: int, upto: int | None = None) -> list[Any]:
    """Like `after`, as plain rows (no ORM objects): the pipeline's hot path; `upto` bounds the
    ids read (a journaled step's range, re-run after a restart).

    A fix's row has all the engine reads in its columns, so its payload is not fetched: decoding
    it was half the cost of this read. Other observations come with theirs.
    """
    table = Observation.__table__
    query = (
        _engine_rows()
        .where(table.c.id > cursor, table.c.conflict_of.is_(None))
        .order_by(table.c.id)
        .limit(limit)
    )
    if upto is not None:
        query = query.where(table.c.id <= upto)
    return list(session.execute(query).all())


def rows_by_ids(session: Session, ids: list[int]) -> list[Any]:
    """The rows of `ids` as `rows_after` gives them, in id order (conflicts left out)."""
    if not ids:
        return []
    table = Observation.__table__
    query = _engine_rows().where(listed_in(session, table.c.id, ids), table.c.conflict_of.is_(None))
    return sorted(session.execute(query).all(), key=lambda row: row.id)


def _engine_rows() -> Any:
    return select(*_engine_columns())


def _engine_columns() -> list[Any]:
    """What detection reads of a row: a fix's payload is left out (its columns say it)."""
    table = Observation.__table__
    payload = type_coerce(
        case((table.c.type == "position", null()), else_=table.c.payload), table.c.payload.type
    ).label("payload")
    return [
        table.c.id,
        table.c.device,
        table.c.t.label("at"),  # `Row.t` is taken (the row as a tuple)
        table.c.received_at,
        table.c.type,
        table.c.lat,
        table.c.lon,
        table.c.accuracy_m,
        payload,
        table.c.imported_from,
    ]


def newest_times(session: Session, devices: Sequence[str]) -> dict[str, datetime]:
    """Device -> when it last said anything (its newest reading's time), for those heard;
    conflicting resends left out (`spans.newest`: what it costs does not grow with history)."""
    return {device: t for device, (t, _) in spans.newest(session, devices, TYPES).items()}


def newest_of_type(session: Session, devices: Sequence[str], kind: str) -> dict[str, Any]:
    """Device -> its newest reading of type `kind` (by time, then stored order), as a row of
    `at` (its time: `Row.t` is the row as a tuple), lat, lon, accuracy_m and, but for a fix (its
    columns say it), payload; conflicts left out. Found by `spans.newest`, then read by id."""
    columns = [
        Observation.device,
        Observation.t.label("at"),
        Observation.lat,
        Observation.lon,
        Observation.accuracy_m,
    ]
    if kind != "position":
        columns.append(Observation.payload)
    ids = [row_id for _, row_id in spans.newest(session, devices, [kind]).values()]
    if not ids:
        return {}
    query = select(*columns).where(listed_in(session, Observation.id, ids))
    return {row.device: row for row in session.execute(query)}


def newest_values(
    session: Session, devices: Sequence[str], kind: str, field: str
) -> dict[str, Any]:
    """Device -> the value of `field` in its newest reading of type `kind` (found as by
    `newest_of_type`), taken out of the payload by the database; a device whose newest reading
    has no such field is left out. Not for what a fix's columns hold (its payload lacks them).

    For a value of every active device (the supervision page's battery levels): decoding each
    whole payload was about two thirds of reading them (32,000 devices on SQLite, 167 ms
    against 53 for the level alone)."""
    ids = [row_id for _, row_id in spans.newest(session, devices, [kind]).values()]
    if not ids:
        return {}
    value = Observation.payload[field]
    query = select(Observation.device, value).where(listed_in(session, Observation.id, ids))
    return {device: found for device, found in session.execute(query) if found is not None}


def _window(
    session: Session,
    devices: Sequence[str],
    types: Sequence[str],
    since: datetime,
    until: datetime | None,
    *,
    limit: int,
    newest: bool,
    columns: Sequence[Any],
    where: Sequence[Any] = (),
) -> list[Any]:
    """The devices' readings of `types` with time in [since, until], by (time, id): the first
    `limit`, or with `newest` the last, newest first. Rows of `columns` (then `window_t` and
    `window_id`, the order's: `Row.t` is taken).

    Read a few whole minutes at a time from the located ids (later minutes hold later times), so
    a short page of a long window reads about the rows it returns."""
    found = spans.located(session, devices, types, since, until)
    minutes, ids = (found.minutes[::-1], found.ids[::-1]) if newest else (found.minutes, found.ids)
    table = Observation.__table__
    condition = [table.c.t >= since, *where]
    if until is not None:
        condition.append(table.c.t <= until)
    out: list[Any] = []
    start = 0
    while start < len(ids) and len(out) < limit:
        end = min(len(ids), start + max(limit - len(out), 64))
        while end < len(ids) and minutes[end] == minutes[end - 1]:
            end += 1  # whole minutes: the next batch's times all come after this one's
        chunk = ids[start:end].tolist()
        query = select(*columns, table.c.t.label("window_t"), table.c.id.label("window_id")).where(
            listed_in(session, table.c.id, chunk), *condition
        )
        out += sorted(
            session.execute(query), key=lambda r: (r.window_t, r.window_id), reverse=newest
        )
        start = end
    return out[:limit]


def fixes(
    session: Session,
    device: str,
    since: datetime,
    until: datetime | None = None,
    *,
    limit: int,
    newest: bool = False,
) -> list[dict[str, Any]]:
    """A device's fixes from `since` to `until` (both included), oldest first: the first `limit`
    of them, or with `newest` the last. Found by the spans of the window's minutes.

    Conflicting resends are in: a track shows what the device said (the flag is the row's)."""
    table = Observation.__table__
    rows = _window(
        session,
        [device],
        ["position"],
        since,
        until,
        limit=limit,
        newest=newest,
        columns=[table.c.t.label("at"), table.c.lat, table.c.lon, table.c.accuracy_m],
        where=[table.c.lat.is_not(None)],
    )
    found = [{"t": r.at, "lat": r.lat, "lon": r.lon, "accuracy_m": r.accuracy_m} for r in rows]
    return found[::-1] if newest else found


class Heard(NamedTuple):
    """A reading other than a fix, as `heard` gives it."""

    at: datetime
    device: str
    type: str
    payload: dict[str, Any]


def heard(session: Session, devices: Sequence[str], since: datetime, *, limit: int) -> list[Heard]:
    """The devices' readings other than fixes since `since`, newest first (the first `limit`),
    as rows of `at`, device, type and payload."""
    table = Observation.__table__
    rows = _window(
        session,
        devices,
        [t for t in TYPES if t != "position"],
        since,
        None,
        limit=limit,
        newest=True,
        columns=[table.c.t.label("at"), table.c.device, table.c.type, table.c.payload],
    )
    return [Heard(r.at, r.device, r.type, r.payload) for r in rows]


def last_id(session: Session) -> int:
    """The id of the last observation detection is to read (0 for none), conflicts left out.

    A walk back along the primary key that stops at the first such row (nearly always the
    last), where max() with a condition would scan the table on SQLite.
    """
    query = (
        select(Observation.id)
        .where(Observation.conflict_of.is_(None))
        .order_by(Observation.id.desc())
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none() or 0


def count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Observation)).scalar_one()


# Rows a purge deletes per transaction: on SQLite each holds the writer (ingest, detection)
# for tens of milliseconds, where one transaction held it 2.3 s for 480,000 fixes (measured),
# minutes for a day of a France-size centre's.
PURGE_BATCH = 10_000


def purge_locations(
    db: Database,
    before: datetime,
    batch: int = PURGE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete position fixes older than `before` (retention), but the newest stored row; other
    observations stay. With them go the fix spans of the minutes wholly before, and the newest
    fixes noted (`device_latest`) that are older: every fix has coordinates, so those name only
    rows deleted, the kept newest row's excepted.

    In transactions of `batch` ids or spans each, so that ingest and detection write between
    them; a purge stopped half-way leaves only old fixes deleted, and another run finishes it.
    `progress` is told the fixes deleted so far after each commit (what a failure leaves gone)."""
    # Never the newest stored row: SQLite hands out the greatest id plus one, so deleting it
    # would give its id to the next reading, one the detector's cursor and the spans have
    # already passed (a late fix, old when it came, can be the newest stored).
    with db.reading() as session:
        kept = session.execute(
            select(Observation.id, Observation.device, Observation.t.label("at"))
            .order_by(Observation.id.desc())
            .limit(1)
        ).one_or_none()
        first = session.execute(select(func.min(Observation.id))).scalar_one()
    if kept is None:
        return 0
    purged = 0
    low: int | None = first
    while low is not None and low < kept.id:
        with db.session() as session:
            result = cast(
                CursorResult[Any],
                session.execute(
                    delete(Observation).where(
                        Observation.id >= low,
                        Observation.id < min(low + batch, kept.id),
                        Observation.t < before,
                        Observation.lat.is_not(None),
                    )
                ),
            )
            purged += result.rowcount
            # The next stored id: over the gaps that purges leave (ids of fixes gone, between
            # the readings kept), not one empty batch after another.
            low = session.execute(
                select(func.min(Observation.id)).where(Observation.id >= low + batch)
            ).scalar_one()
        if progress is not None:
            progress(purged)
    _purge_spans(db, spans.minute_of(before), (spans.minute_of(kept.at), kept.device), batch)
    with db.session() as session:
        if not db.is_sqlite:  # not under a compaction's update of these rows (`spans.inserts`)
            session.execute(select(func.pg_advisory_xact_lock(spans.SPAN_LOCK)))
        session.execute(
            delete(DeviceLatest).where(
                DeviceLatest.t < before, DeviceLatest.type == "position", DeviceLatest.id != kept.id
            )
        )
    return purged


def _purge_spans(db: Database, before: int, kept: tuple[int, str], batch: int) -> None:
    """Delete the fix spans of the minutes before minute `before`, but the kept row's (its
    minute, its device), in runs of whole minutes of about `batch` spans each (a minute that
    holds more, alone)."""
    position = ObservationSpan.type == "position"
    keep = (ObservationSpan.minute == kept[0]) & (ObservationSpan.device == kept[1])
    with db.reading() as session:
        low: int | None = session.execute(
            select(func.min(ObservationSpan.minute)).where(position)
        ).scalar_one()
    while low is not None and low < before:
        with db.session() as session:
            ahead = session.execute(
                select(ObservationSpan.minute)
                .where(position, ObservationSpan.minute >= low)
                .order_by(ObservationSpan.minute)
                .offset(batch)
                .limit(1)
            ).scalar_one_or_none()
            high = before if ahead is None else min(max(ahead, low + 1), before)
            session.execute(
                delete(ObservationSpan).where(
                    position, ObservationSpan.minute >= low, ObservationSpan.minute < high, ~keep
                )
            )
        low = high if high < before else None

"""The observation log: append-only, idempotent, durable before anything is acknowledged."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, null, select, text, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.store.models import Observation


@dataclass(frozen=True)
class Accepted:
    """What an ingest did: ids of the new rows, and how many were already there."""

    ids: list[int]
    duplicates: int


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


def row_for(record: dict[str, Any], t: datetime, received_at: datetime) -> dict[str, Any]:
    """The row of one validated replay-format `obs` record, the record kept whole as payload."""
    seq = record.get("seq")
    # Only a fix fills the location columns: another reading may carry extras of those names.
    fix = record["type"] == "position"
    return {
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


def append(session: Session, rows: list[dict[str, Any]]) -> Accepted:
    """Insert rows, skipping those already stored; the caller's commit makes them durable."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Ids are handed out before commit; taking one lock per ingest makes them commit in id
        # order, so the pipeline's cursor (last id consumed) can never skip a late-committing row.
        session.execute(text("SELECT pg_advisory_xact_lock(7420001)"))
        insert = postgresql.insert
    else:
        insert = sqlite.insert
    # One statement run over all rows (SQLAlchemy's "insertmanyvalues"): compiled once and
    # cached, where a multi-row VALUES literal would be compiled anew for every batch.
    statement = (
        insert(Observation.__table__)
        .on_conflict_do_nothing(index_elements=["device", "dedup_key"])
        .returning(Observation.__table__.c.id)
    )
    ids: list[int] = list(session.scalars(statement, rows)) if rows else []
    return Accepted(sorted(ids), len(rows) - len(ids))


def after(session: Session, cursor: int, limit: int) -> list[Observation]:
    """Observations stored after id `cursor`, oldest first: what the pipeline has not yet seen."""
    return list(
        session.scalars(
            select(Observation).where(Observation.id > cursor).order_by(Observation.id).limit(limit)
        )
    )


def rows_after(session: Session, cursor: int, limit: int) -> list[Any]:
    """Like `after`, as plain rows (no ORM objects): the pipeline's hot path.

    A fix's row has all the engine reads in its columns, so its payload is not fetched: decoding
    it was half the cost of this read. Other observations come with theirs.
    """
    table = Observation.__table__
    payload = type_coerce(
        case((table.c.type == "position", null()), else_=table.c.payload), table.c.payload.type
    ).label("payload")
    query = (
        select(
            table.c.id,
            table.c.device,
            table.c.t.label("at"),  # `Row.t` is taken (the row as a tuple)
            table.c.received_at,
            table.c.type,
            table.c.lat,
            table.c.lon,
            table.c.accuracy_m,
            payload,
        )
        .where(table.c.id > cursor)
        .order_by(table.c.id)
        .limit(limit)
    )
    return list(session.execute(query).all())


def last_id(session: Session) -> int:
    """The id of the last observation stored (0 for none): a look up the primary key's index."""
    return session.execute(select(func.max(Observation.id))).scalar_one() or 0


def count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Observation)).scalar_one()


def purge_locations(session: Session, before: datetime) -> int:
    """Delete position fixes older than `before` (retention); other observations stay."""
    result = session.execute(
        delete(Observation).where(Observation.t < before, Observation.lat.is_not(None))
    )
    return int(result.rowcount or 0)

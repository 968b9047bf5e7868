"""Detection's durable state: a journal of every step, and a checkpoint every few seconds.

Saving the whole engine at every step cost three quarters of the detector's time at France's
size (16,000 cases) and wrote tens of MB a second. Instead each step commits, with its alarm
events, one small journal row: the observations it consumed (ids in (cursor_from, cursor_to]),
the clock it ran at, the placement changes it applied and a digest of the engine's events. The
engine is checkpointed every `checkpoint_s` without its placements (they are in
`engine_placements`, written only when one changed) nor its zones' derived geometry (in
`engine_shapes`, written once per new geometry) nor the BAR devices' recent fixes (in
`engine_history`: a base, then the fixes each checkpoint added; at France's size two hours of
them grew the checkpoint's JSON to 200 ms and more). A restart restores the checkpoint and re-runs
the journaled steps after it: the engine is deterministic given the same batches and clocks, so
it ends where it was, and the events it re-produces were committed with their steps already
(the digest checks they are the same). One step is one transaction: the unit a partitioned
worker will fence (design/scale-ha.md).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.detect import AlarmEvent
from vigie.detect.engine.state import Fix
from vigie.store.listed import listed_in
from vigie.store.models import EngineHistory, EnginePlacement, EngineShape, EngineState, EngineStep

Change = tuple[str, int | None, dict[str, Any] | None]  # case, revision (None: gone), record


@dataclass(frozen=True)
class Saved:
    """The last checkpoint: the engine's state and what it covers."""

    snapshot: bytes
    cursor: int
    step: int
    mark: int
    revisions: dict[str, int]
    records: dict[str, dict[str, Any]]
    legacy: bool  # a whole-engine snapshot saved before the journal: placements inside


@dataclass(frozen=True)
class HistoryPart:
    """What a checkpoint stores of the history: the whole of it (`base`) or the fixes added
    since the last checkpoint, packed (`pack_history`)."""

    base: bool
    fixes: int
    blob: bytes


def load(session: Session, partition: int = 0) -> Saved | None:
    """The last checkpoint of a detection partition (embedded: 0), None before the first."""
    state = session.scalars(select(EngineState).where(EngineState.partition == partition)).first()
    if state is None or state.snapshot is None:
        return None
    revisions: dict[str, int] = {}
    records: dict[str, dict[str, Any]] = {}
    for case_ref, revision, record in session.execute(
        select(EnginePlacement.case_ref, EnginePlacement.revision, EnginePlacement.record).where(
            EnginePlacement.partition == partition
        )
    ):
        revisions[case_ref] = revision
        if record is not None:
            records[case_ref] = record
    legacy = bool(state.placements)
    if legacy:
        revisions = {k: int(v) for k, v in state.placements.items()}
    return Saved(state.snapshot, state.cursor, state.step, state.mark, revisions, records, legacy)


def history(session: Session, partition: int = 0) -> list[tuple[str, Fix]]:
    """The partition's stored history fixes (device id, fix), base then additions, in the order
    they are to be replayed (`Engine.restore`)."""
    rows = session.scalars(
        select(EngineHistory.blob)
        .where(EngineHistory.partition == partition)
        .order_by(EngineHistory.id)
    )
    return [fix for blob in rows for fix in unpack_history(blob)]


def pack_history(fixes: list[tuple[str, Fix]]) -> bytes:
    """History fixes as columns (numpy's npz, no pickle, every value's bits kept): each
    device's id once, then an index per fix. Not compressed: deflating a base of hundreds of
    thousands of fixes would stall the step that writes it, for a row written every few
    minutes at most."""
    names = list(dict.fromkeys(d for d, _ in fixes))
    index = {name: i for i, name in enumerate(names)}
    buffer = io.BytesIO()
    np.savez(
        buffer,
        names=np.array(names, dtype=np.str_),
        device=np.array([index[d] for d, _ in fixes], dtype=np.int32),
        t=np.array([f[0] for _, f in fixes], dtype=np.int64),
        lat=np.array([f[1] for _, f in fixes], dtype=np.float64),
        lon=np.array([f[2] for _, f in fixes], dtype=np.float64),
        acc=np.array([f[3] for _, f in fixes], dtype=np.float64),
    )
    return buffer.getvalue()


def unpack_history(blob: bytes) -> list[tuple[str, Fix]]:
    """What `pack_history` packed, as it was."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as columns:
        names = columns["names"].tolist()
        return [
            (names[d], (t, la, lo, ac))
            for d, t, la, lo, ac in zip(
                columns["device"].tolist(),
                columns["t"].tolist(),
                columns["lat"].tolist(),
                columns["lon"].tolist(),
                columns["acc"].tolist(),
                strict=True,
            )
        ]


def shapes(session: Session) -> list[tuple[bytes, bytes]]:
    """Every stored zone set-up (digest, blob)."""
    return [(d, b) for d, b in session.execute(select(EngineShape.digest, EngineShape.blob))]


def steps_after(session: Session, step: int, partition: int = 0) -> list[EngineStep]:
    """The journaled steps of a partition after its checkpoint, in order."""
    return list(
        session.scalars(
            select(EngineStep)
            .where(EngineStep.partition == partition, EngineStep.id > step)
            .order_by(EngineStep.id)
        )
    )


class StoreWentBack(RuntimeError):
    """The journal no longer holds the last step this engine committed: the database lost its
    last commits (a server's crash or failover, a step committed without waiting for the disk)
    or was restored. The engine in memory is ahead of it, so it is dropped and restored from
    the store, which re-runs what was lost: an alarm the lost steps raised is raised again."""

    def __init__(self, partition: int, step: int, stored: int) -> None:
        super().__init__(
            f"partition {partition}: the journal ends at step {stored}, this engine ran {step}"
        )


def last_step(session: Session, partition: int = 0) -> int:
    """The id of a partition's last journaled step (0 before any)."""
    last = session.scalar(select(func.max(EngineStep.id)).where(EngineStep.partition == partition))
    return int(last or 0)


def progress(session: Session, partition: int = 0) -> tuple[datetime | None, int]:
    """The clock and cursor of the partition's last committed step, journaled or checkpointed
    (None, 0 before any): how far its detector went, as another process sees it."""
    step = session.execute(
        select(EngineStep.clock, EngineStep.cursor_to)
        .where(EngineStep.partition == partition)
        .order_by(EngineStep.id.desc())
        .limit(1)
    ).first()
    state = session.execute(
        select(EngineState.updated_at, EngineState.cursor).where(EngineState.partition == partition)
    ).first()
    seen = [(row[0], int(row[1])) for row in (step, state) if row is not None and row[0]]
    return max(seen) if seen else (None, 0)


def record_step(
    session: Session,
    cursor_from: int,
    cursor_to: int,
    clock: datetime,
    changes: list[Change],
    events: list[AlarmEvent],
    *,
    partition: int = 0,
    rows: list[int] | None = None,
) -> int:
    """Journal one step (in the step's transaction); returns its id. `rows`: the observation
    ids it ran, when the cursors are not observation ids (a stream's sequence numbers)."""
    row = EngineStep(
        partition=partition,
        rows=rows,
        cursor_from=cursor_from,
        cursor_to=cursor_to,
        clock=clock,
        placements=[list(c) for c in changes],
        events=len(events),
        digest=digest(events),
    )
    session.add(row)
    session.flush()
    return row.id


def checkpoint(
    session: Session,
    state: EngineState,
    *,
    snapshot: bytes,
    cursor: int,
    step: int,
    mark: int,
    now: datetime,
    placements: dict[str, tuple[int | None, dict[str, Any] | None]],
    new_shapes: Iterable[tuple[bytes, bytes]],
    history: HistoryPart | None = None,
) -> None:
    """Save the engine as of journaled step `step`, the placements that changed since the last
    checkpoint (revision None: gone), new zone set-ups (or ones stored by an older version
    without their sectors) and the history it left out (a new base replaces the rows before);
    the journal before it is dropped."""
    if history is not None:
        if history.base:
            session.execute(delete(EngineHistory).where(EngineHistory.partition == state.partition))
        if history.base or history.fixes:
            session.add(
                EngineHistory(
                    partition=state.partition,
                    base=history.base,
                    fixes=history.fixes,
                    blob=history.blob,
                )
            )
    state.snapshot = snapshot
    state.cursor = cursor
    state.step = step
    state.mark = mark
    state.placements = {}
    state.updated_at = now
    if placements:
        session.execute(
            delete(EnginePlacement).where(listed_in(session, EnginePlacement.case_ref, placements))
        )
    # Rows, not ORM objects: a cold start's checkpoint holds every placement. 70,000 objects
    # took 1.7 s to build before their flush began and 2.8 s to flush; rows 0.1 s, then 1.3 s
    # of INSERTs (SQLite): Python between two statements, which PostgreSQL ends as idle in a
    # limited step (`engine_state.limit_idle`).
    rows = [
        {"case_ref": ref, "partition": state.partition, "revision": revision, "record": record}
        for ref, (revision, record) in placements.items()
        if revision is not None
    ]
    if rows:
        session.execute(insert(EnginePlacement), rows)
    shapes = [{"digest": d, "blob": b} for d, b in new_shapes]
    if shapes:  # shared by partitions: another may have stored one meanwhile (the same blob)
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        shape = dialect.insert(EngineShape)
        # An older version's blob of the same shape is replaced by this one, with its sectors.
        upsert = shape.on_conflict_do_update(
            index_elements=[EngineShape.digest], set_={"blob": shape.excluded.blob}
        )
        session.execute(upsert, shapes)
    # The checkpoint's own step is kept: SQLite numbers new rows after the largest one left.
    session.execute(
        delete(EngineStep).where(EngineStep.partition == state.partition, EngineStep.id < step)
    )


def digest(events: list[AlarmEvent]) -> str:
    """Of the engine's events in order: a re-run step must give the same."""
    text = "\n".join(e.to_json() for e in events)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

"""A detection partition's state row, and the term that fences its steps (design/scale-ha.md §2.4).

Each partition has one `engine_state` row (embedded: partition 0, id 1). Whoever takes a
partition over claims it: its term goes up by one, in PostgreSQL, so terms never go backwards
whatever the leases did. Every step of the owner then begins by locking the row and checking the
term is still its own: a stale owner (paused past its lease, cut from NATS) finds a newer term
and its whole step rolls back, observations, events and cursor together. A claim waits on the
row lock of a step under way: either that step committed first (the new owner restores it) or it
finds the new term. Leases decide who should work; the term decides who may commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.store.models import EngineState, EngineStep


class Fenced(Exception):
    """A step of a partition whose term moved: a newer owner claimed it; nothing is committed."""

    def __init__(self, partition: int, term: int, found: int) -> None:
        super().__init__(f"partition {partition} is at term {found}, not {term}: claimed since")
        self.partition = partition
        self.term = term
        self.found = found


@dataclass(frozen=True)
class Claimed:
    """A partition just claimed: the new term, the last committed cursor (of its last journaled
    step, or of its checkpoint), the checkpoint's snapshot (None before the first) and how many
    readings its steps consumed so far."""

    partition: int
    term: int
    cursor: int
    snapshot: bytes | None
    processed: int


def row_id(partition: int) -> int:
    """The row's id: fixed by the partition, so that the embedded row (id 1) is partition 0 and
    two processes creating one partition's row meet on its key."""
    return partition + 1


def ensure(session: Session, partition: int) -> None:
    """Create the partition's row if it is missing (a concurrent creator's row is kept)."""
    values = {
        "id": row_id(partition),
        "partition": partition,
        "cursor": 0,
        "placements": {},
        "step": 0,
        "mark": 0,
        "term": 0,
        "processed": 0,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(EngineState).values(values).on_conflict_do_nothing())


def claim(session: Session, partition: int) -> Claimed:
    """Take partition `partition` over: its term + 1, returned with what its last owner
    committed. Commit the session for the claim to fence the previous owner."""
    ensure(session, partition)
    term, cursor, snapshot, processed = session.execute(
        update(EngineState)
        .where(EngineState.partition == partition)
        .values(term=EngineState.term + 1)
        .returning(
            EngineState.term, EngineState.cursor, EngineState.snapshot, EngineState.processed
        )
    ).one()
    journaled = session.execute(
        select(func.max(EngineStep.cursor_to)).where(EngineStep.partition == partition)
    ).scalar_one()
    return Claimed(partition, term, max(cursor, journaled or 0), snapshot, processed)


def fence(session: Session, partition: int, term: int | None) -> EngineState:
    """The partition's row, locked for this step's transaction (made on the first step); raises
    `Fenced` if `term` is given and is no longer the row's. Call it first in the transaction.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite has no row locks: a fenced step first writes the
    row (no change) to take the database's write lock, so no claim can commit between its check
    and its commit.
    """
    if term is not None and session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(EngineState)
            .where(EngineState.partition == partition)
            .values(term=EngineState.term)
        )
    query = (
        select(EngineState)
        .where(EngineState.partition == partition)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    state = session.scalars(query).first()
    if state is None:
        ensure(session, partition)
        state = session.scalars(query).one()
    if term is not None and state.term != term:
        raise Fenced(partition, term, state.term)
    return state


def save(
    session: Session,
    partition: int,
    term: int | None,
    *,
    processed: int = 0,
    cursor: int | None = None,
    snapshot: bytes | None = None,
) -> EngineState:
    """Fence, then add `processed` readings to the partition's count and, with a checkpoint,
    set its cursor and snapshot (the journal's `checkpoint` saves the rest of it)."""
    state = fence(session, partition, term)
    state.processed += processed
    if cursor is not None:
        state.cursor = cursor
    if snapshot is not None:
        state.snapshot = snapshot
    return state


@dataclass
class StateRow:
    """The row a detection step commits to. Embedded: partition 0, unfenced (`term` None), as
    the single pipeline always was. Cluster: a partition taken with `claim`, every step then
    fenced by its term."""

    partition: int = 0
    term: int | None = None

    @property
    def fenced(self) -> bool:
        return self.term is not None

    def claim(self, session: Session) -> Claimed:
        """Take the partition over (see `claim`): later steps are fenced by the new term."""
        claimed = claim(session, self.partition)
        self.term = claimed.term
        return claimed

    def fence(self, session: Session) -> EngineState:
        """The row, locked, first in a step's transaction; raises `Fenced` if claimed since."""
        return fence(session, self.partition, self.term)

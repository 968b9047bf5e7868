"""A detection partition's state row, and the term that fences its steps (design/scale-ha.md §2.4).

Each partition has one `engine_state` row (embedded: partition 0, id 1). Whoever takes a
partition over claims it: its term goes up by one, in PostgreSQL, so terms never go backwards
whatever the leases did. Every step of the owner then begins by locking the row and checking the
term is still its own: a stale owner (paused past its lease, cut from NATS) finds a newer term
and its whole step rolls back, observations, events and cursor together. A claim waits on the
row lock of a step under way: either that step committed first (the new owner restores it) or it
finds the new term. A step's transaction that waits on nothing (its process paused or cut off,
its connection open) would hold the lock, and blind the partition, for as long as it lives: the
claim ends it (`_unblocked`), which rolls it back. Leases decide who should work; the term
decides who may commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from vigie.store import audit
from vigie.store.models import EngineState, EngineStep

logger = logging.getLogger(__name__)
# How long a claim waits on a lock before it ends the idle transactions holding it, and then
# between looks. A stale owner's costs the takeover this much: in chaos runs 2-4 of a paused
# worker's partitions waited for it, the slowest alarm among them (1 s then). Whatever step
# holds the row when a claim comes would be fenced at its commit anyway, a live owner's too
# (its lease is the claimer's now): ended, it rolls back whole and the new owner re-runs its
# batch, so nothing is lost by ending it soon.
PATIENCE_S = 0.25
# How long a claim waits for the row at most, whatever holds it (an active statement is never
# ended): past it the claim fails, its lease is given back and taken again at a later round,
# rather than holding the claiming worker's round (and its other claims) indefinitely.
CLAIM_WAIT_S = 5.0
# How long a step may sit idle in its transaction once detection is done and it comes to what
# the whole centre shares (the alarm-id lock, the audit chain's head): one paused there (SIGSTOP,
# a frozen VM) held every other partition's new alarms and every audited request, the alarm
# list's among them, until a claim ended it a lease and a patience later. PostgreSQL ends it
# instead; a live step's statements follow each other well within it.
HOLD_S = 2.0
# And this much more per item the step handles (a placement change, an event, a refusal): its
# Python between two statements grows with them. A cold start handles every placement, a
# centre-wide event raises every case: at 70,000, seconds between two statements, and a fixed
# limit ended that step every time it ran (detection never started, or never got past the
# event). About ten times what an item costs here.
HOLD_PER_ITEM_S = 0.0005
_LIMIT_IDLE = text("SELECT set_config('idle_in_transaction_session_timeout', :ms, true)")
# The transactions a claim ends: those holding what it waits for and doing nothing (an active
# statement, such as a migration's, is left to finish).
_END_IDLE_BLOCKERS = text(
    "SELECT a.pid, pg_terminate_backend(a.pid) FROM pg_stat_activity a"
    " WHERE a.pid = ANY(pg_blocking_pids(:pid)) AND a.state LIKE 'idle in transaction%'"
)


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
    seen: int = 0  # cluster mode: how far the partition has seen the stream (`stream_seen`)


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


def claim(
    session: Session,
    partition: int,
    patience_s: float = PATIENCE_S,
    wait_s: float = CLAIM_WAIT_S,
) -> Claimed:
    """Take partition `partition` over: its term + 1, returned with what its last owner
    committed. Commit the session for the claim to fence the previous owner. A transaction
    that holds the row and does nothing for `patience_s` is ended (`_unblocked`); waiting
    longer than `wait_s` for the row (PostgreSQL) raises instead."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.set_config("lock_timeout", f"{round(wait_s * 1000)}", True)))
    with _unblocked(session, partition, patience_s):
        ensure(session, partition)  # waits on the row's lock too, as the update does
        term, cursor, snapshot, processed, seen = session.execute(
            update(EngineState)
            .where(EngineState.partition == partition)
            .values(term=EngineState.term + 1)
            .returning(
                EngineState.term,
                EngineState.cursor,
                EngineState.snapshot,
                EngineState.processed,
                EngineState.stream_seen,
            )
        ).one()
    journaled = session.execute(
        select(func.max(EngineStep.cursor_to)).where(EngineStep.partition == partition)
    ).scalar_one()
    return Claimed(partition, term, max(cursor, journaled or 0), snapshot, processed, seen)


def note_stream(
    session: Session, partition: int, seen: int, gap: tuple[int, int] | None = None
) -> None:
    """Cluster mode, in a step's transaction: the partition is known to hold nothing unconsumed
    up to stream sequence `seen`; `gap`, the sequences it never read that the stream no longer
    holds (readings maybe lost), is counted and audited with them."""
    values: dict[str, Any] = {
        "stream_seen": case((EngineState.stream_seen < seen, seen), else_=EngineState.stream_seen)
    }
    if gap is not None:
        values["stream_gaps"] = EngineState.stream_gaps + 1
        audit.record(
            session,
            "system",
            "stream_gap",
            f"engine_state:{row_id(partition)}",
            {"partition": partition, "from_seq": gap[0], "to_seq": gap[1]},
        )
    session.execute(update(EngineState).where(EngineState.partition == partition).values(values))


def stream_gaps(session: Session) -> int:
    """How many gaps the partitions met in the stream, all told (`note_stream`)."""
    return int(session.scalar(select(func.coalesce(func.sum(EngineState.stream_gaps), 0))) or 0)


@contextmanager
def _unblocked(session: Session, partition: int, patience_s: float) -> Iterator[None]:
    """While the block waits on a lock (PostgreSQL), end every idle transaction that holds it,
    every `patience_s`, from a connection of its own: a paused or cut-off owner's step
    (SIGSTOP in the chaos run kept a partition blind until the owner resumed). Its commit would
    have been fenced anyway; ended, it rolls back whole and the new owner re-runs its batch."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    waiter = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    engine = session.get_bind().engine
    done = threading.Event()

    def watch() -> None:
        if done.wait(patience_s):
            return  # not blocked: no connection taken
        try:
            with engine.connect() as other:
                while True:
                    ended = other.execute(_END_IDLE_BLOCKERS, {"pid": waiter}).all()
                    other.commit()
                    for pid, _ in ended:
                        logger.warning(
                            "partition %d: the idle transaction of backend %d held its row: ended",
                            partition,
                            pid,
                        )
                    if done.wait(patience_s):
                        return
        except Exception as exc:  # the claim waits on, up to its `wait_s`
            logger.warning("partition %d: its row's holders not looked for (%r)", partition, exc)

    watcher = threading.Thread(target=watch, name=f"unblock-{partition}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def limit_idle(session: Session, items: int = 0) -> None:
    """Have PostgreSQL end this transaction, from here to its commit, if it sits idle `HOLD_S`
    and `HOLD_PER_ITEM_S` per item it handles (the step fails and its batch is re-run; nothing
    of it commits)."""
    if session.get_bind().dialect.name == "postgresql":
        ms = round((HOLD_S + items * HOLD_PER_ITEM_S) * 1000)
        session.execute(_LIMIT_IDLE, {"ms": str(ms)})


# A step's first statement. Without the checkpoint: a step writes it (every few seconds) but
# never reads it, and reading it each step moved hundreds of KB (PostgreSQL: out of TOAST, then
# hex-encoded to this process), a tenth of the detector's time on PostgreSQL at 16,000 cases.
# Built once: a statement with a loader option costs a tenth of a millisecond to build.
_FENCE = (
    select(EngineState)
    .options(defer(EngineState.snapshot))
    .where(EngineState.partition == bindparam("partition"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


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
    state = session.scalars(_FENCE, {"partition": partition}).first()
    if state is None:
        ensure(session, partition)
        state = session.scalars(_FENCE, {"partition": partition}).one()
    if term is not None and state.term != term:
        raise Fenced(partition, term, state.term)
    return state


@dataclass
class StateRow:
    """The row a detection step commits to. Embedded: partition 0, unfenced (`term` None), as
    the single pipeline always was, watching every case. Cluster: a partition taken with
    `claim`, every step then fenced by its term and watching the partition's cases only."""

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

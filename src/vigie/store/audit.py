"""The audit log: append-only, every entry's hash covering the previous one, so edits show."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, literal_column, select, update
from sqlalchemy.orm import Session

from vigie import clock
from vigie.store import bulk
from vigie.store.models import AuditEntry, AuditHead

GENESIS = "0" * 64
# How long (PostgreSQL) a transaction holding the chain's head may sit idle before the server
# ends it. Every audited request of the centre waits on that head: a process paused inside
# such a transaction (a frozen VM, SIGSTOP) would hold every console's alarm list until it
# woke. The transactions that audit do their slow work (a report's PDF, a message's sending)
# before their entry; the slowest after it, a close whose alarm changed meanwhile, makes a PDF
# (0.35-1.3 s here).
HOLD_S = 5.0
# And this much more per entry appended at once: hashing and building each is Python between
# the statement that takes the head and the one that writes them (a step refusing 70,000
# placements audits each: seconds, past `HOLD_S`). About ten times what one costs here.
HOLD_PER_ENTRY_S = 0.0005


def _limit_idle(entries: int) -> ColumnElement[Any]:
    """`set_config` of the transaction's idle limit to `HOLD_S` (and `HOLD_PER_ENTRY_S` per
    entry, in whole seconds: the statement's text changes once per 2,000 entries), or to the
    limit it already has if shorter (a detection step's, `engine_state.limit_idle`): one column
    of the statement that takes the head, so no round trip of its own."""
    ms = round(HOLD_S * 1000) + int(entries * HOLD_PER_ENTRY_S) * 1000
    setting = "current_setting('idle_in_transaction_session_timeout')"
    return literal_column(
        f"set_config('idle_in_transaction_session_timeout', CASE WHEN {setting}::interval"
        f" BETWEEN interval '1 ms' AND interval '{ms} ms' THEN {setting} ELSE '{ms}' END, true)"
    )


def entry_hash(
    prev_hash: str, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any]
) -> str:
    """The SHA-256 of the previous hash and the entry's canonical JSON."""
    body = json.dumps(
        {
            "prev": prev_hash,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "target": target,
            "detail": detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    session: Session, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
) -> Entry:
    """Append one entry in the caller's transaction, so an act and its trace commit together."""
    return record_many(session, [(actor, action, target, detail)])[0]


Act = tuple[str, str, str, dict[str, Any] | None]  # actor, action, target, detail


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry as appended, its id the database's: a plain record, not an ORM object (a
    step refusing 70,000 placements audits each, and the ORM's unit of work was most of it)."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def record_many(session: Session, acts: list[Act]) -> list[Entry]:
    """Append one entry per act, chained in order, in the caller's transaction: three round
    trips whatever their number (a detection step that queues several commands audits each).

    The chain head is updated first: that statement takes the write lock (SQLite) or the row lock
    (PostgreSQL), so two concurrent appends cannot both chain onto the same previous hash. Being
    a statement of the session, it first flushes what the caller added, as callers expect.
    """
    if not acts:
        return []
    # On the table, not the mapped class: an ORM-enabled UPDATE costs about a millisecond more
    # (session synchronisation), and every API action and read of personal data comes here.
    head = cast(Table, AuditHead.__table__)
    taken = update(head).where(head.c.id == 1).values(last_hash=head.c.last_hash)
    if session.get_bind().dialect.name == "postgresql":
        prev_hash = session.execute(
            taken.returning(head.c.last_hash, _limit_idle(len(acts)))
        ).one()[0]
    else:
        prev_hash = session.execute(taken.returning(head.c.last_hash)).scalar_one()
    at = clock.now()
    rows: list[dict[str, Any]] = []
    for actor, action, target, detail in acts:
        # Round-trip through JSON so the hash covers exactly what the database will give back.
        said = json.loads(json.dumps(detail or {}, default=str))
        digest = entry_hash(prev_hash, at, actor, action, target, said)
        rows.append(
            {
                "at": at,
                "actor": actor,
                "action": action,
                "target": target,
                "detail": said,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    log = cast(Table, AuditEntry.__table__)
    # Each hash covers its predecessor's: unique within the append, so it names the row.
    ids = dict(bulk.insert_returning(session, log, rows, (log.c.hash, log.c.id)))
    session.execute(update(head).where(head.c.id == 1).values(last_hash=prev_hash))
    return [Entry(id=ids[row["hash"]], **row) for row in rows]


@dataclass(frozen=True)
class Breach:
    """The first entry whose hash or link does not hold, and why."""

    entry_id: int
    reason: str


def verify(session: Session, batch: int = 5000) -> tuple[int, Breach | None]:
    """Walk the whole chain; return how many entries were checked and the first breach, if any."""
    expected_prev = GENESIS
    checked = 0
    for entry in _entries(session, batch):
        if entry.prev_hash != expected_prev:
            return checked, Breach(entry.id, "its link to the previous entry does not match")
        digest = entry_hash(
            entry.prev_hash, entry.at, entry.actor, entry.action, entry.target, entry.detail
        )
        if digest != entry.hash:
            return checked, Breach(entry.id, "its content does not match its hash")
        expected_prev = entry.hash
        checked += 1
    head = session.execute(select(AuditHead.last_hash).where(AuditHead.id == 1)).scalar_one()
    if head != expected_prev:
        return checked, Breach(-1, "the chain's recorded head does not match its last entry")
    return checked, None


def _entries(session: Session, batch: int) -> Iterator[AuditEntry]:
    last_id = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id

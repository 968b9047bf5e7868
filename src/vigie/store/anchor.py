"""Checkpoints of the audit chain kept outside the database, signed with a key it never holds.

The hash chain catches an edit, but someone who can write the database can also recompute every
later hash, or cut the log short and set the head to match. So at intervals the chain's head
(last entry id and hash) is appended to a file of JSON lines, each line MACed (HMAC-SHA256) with
a key from the environment or a key file, and chained to the previous line's MAC. `vigie audit
verify` then finds every anchored entry unchanged: a rewritten chain or a truncated log does not
match the checkpoints, and the checkpoints cannot be forged without the key.

A restore from a backup (`vigie db restore`) cuts the log back to the backup's head: the entries
checkpointed after it are gone, and new entries take their ids. The restore writes a line of its
own, marked ``restored`` and signed like the others: the checkpoints before it whose entries lie
beyond its head are then *lost with the restore*, reported as such, not a log cut short; every
other line is checked as before. Without the key no such line can be written.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import hmac
import json
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vigie import clock
from vigie.settings import Settings
from vigie.store.database import Database
from vigie.store.failover import DatabaseUnavailable
from vigie.store.models import AuditEntry

logger = logging.getLogger(__name__)

_START = "0" * 64  # the "previous MAC" of the first line


def key_of(config: Settings) -> bytes | None:
    """The anchoring key: VIGIE_AUDIT_KEY, else the contents of VIGIE_AUDIT_KEY_FILE, else None."""
    if config.audit_key.get_secret_value():
        return config.audit_key.get_secret_value().encode()
    if config.audit_key_file:
        return Path(config.audit_key_file).read_bytes().strip()
    return None


def _mac(
    key: bytes, prev: str, entry_id: int, entry_hash: str, at: str, restored: bool = False
) -> str:
    message = f"{prev}|{entry_id}|{entry_hash}|{at}" + ("|restored" if restored else "")
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Anchor:
    entry_id: int
    hash: str
    at: str
    prev: str
    mac: str
    restored: bool = False  # a restore's line: the chain went back to this entry

    def line(self) -> str:
        """The JSON line (``restored`` only on a restore's, so other lines keep their form)."""
        fields = {k: v for k, v in self.__dict__.items() if k != "restored" or v}
        return json.dumps(fields, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class Restore:
    """A restore's line, and the checkpoints before it whose entries it took away."""

    line: Anchor
    lost: list[Anchor]


@dataclass(frozen=True)
class Verified:
    """What `verify` found: the checkpoints that hold (restore lines among them), and each
    restore with what it lost."""

    held: list[Anchor]
    restores: list[Restore]


def _read(path: Path) -> list[Anchor]:
    if not path.exists():
        return []
    anchors = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            anchors.append(Anchor(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise AnchorError(f"checkpoint line {number} is not a checkpoint: {exc}") from exc
    return anchors


def _last(file: IO[str]) -> Anchor | None:
    """The file's last checkpoint, read from its end (the file grows by a line a minute)."""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    file.seek(max(0, size - 4096))
    lines = [line for line in file.read().splitlines() if line.strip()]
    return Anchor(**json.loads(lines[-1])) if lines else None


class AnchorError(Exception):
    """The checkpoints and the database disagree, or the checkpoints are not the key's."""


def checkpoint(session: Session, key: bytes, path: Path, now: datetime) -> Anchor | None:
    """Append the chain's current head to `path`, unless it is already the last checkpoint.

    The file is locked while its last line is read and the new one written, so two processes
    of one centre never chain onto the same line; each line is flushed to disk before return.
    """
    head = session.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    if head is None:
        return None
    return _append(key, path, now, head.id, head.hash, restored=False)


def mark_restore(key: bytes, path: Path, now: datetime, entry_id: int, entry_hash: str) -> Anchor:
    """Write a restore's line: the chain now ends at `entry_id` (the backup's head, 0 when the
    backup held no entry), and what was checkpointed beyond it went with the restore."""
    anchor = _append(key, path, now, entry_id, entry_hash, restored=True)
    assert anchor is not None
    return anchor


def writable(path: Path) -> None:
    """AnchorError unless the checkpoint file can be appended to (made 0600 if missing): checked
    before what must be followed by a checkpoint line (a restore) is done."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600))
    except OSError as exc:
        raise AnchorError(f"{path}: cannot be written ({exc.strerror})") from None


def _append(
    key: bytes, path: Path, now: datetime, entry_id: int, entry_hash: str, restored: bool
) -> Anchor | None:
    writable(path)
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a+", encoding="utf-8") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        last = _last(file)
        if (
            not restored
            and last is not None
            and (last.entry_id, last.hash) == (entry_id, entry_hash)
        ):
            return None
        prev = last.mac if last else _START
        at = now.isoformat()
        mac = _mac(key, prev, entry_id, entry_hash, at, restored)
        anchor = Anchor(entry_id, entry_hash, at, prev, mac, restored)
        file.write(anchor.line())
        file.flush()
        os.fsync(file.fileno())
    return anchor


def check_signed(key: bytes, path: Path) -> list[Anchor]:
    """The file's checkpoints, each signed by `key` and chained to the line before it, or
    AnchorError naming the first that is not (a wrong key fails on the first line)."""
    anchors = _read(path)
    prev = _START
    for number, anchor in enumerate(anchors, start=1):
        expected = _mac(key, anchor.prev, anchor.entry_id, anchor.hash, anchor.at, anchor.restored)
        if not hmac.compare_digest(expected, anchor.mac) or anchor.prev != prev:
            raise AnchorError(
                f"checkpoint line {number} is not signed by the audit key or not chained to "
                "the line before it"
            )
        prev = anchor.mac
    return anchors


def verify(session: Session, key: bytes, path: Path) -> Verified:
    """Check every checkpoint against the key and the database, or raise AnchorError naming the
    first that does not hold. A checkpoint whose entry lies beyond a later restore's is lost
    with that restore, not checked (its id may belong to a newer entry now)."""
    anchors = check_signed(key, path)
    # Each line lost goes with the first restore after it that went back below its entry.
    lost_to: dict[int, list[Anchor]] = {i: [] for i, a in enumerate(anchors) if a.restored}
    held = []
    for i, anchor in enumerate(anchors):
        taker = next((j for j in lost_to if j > i and anchors[j].entry_id < anchor.entry_id), None)
        if taker is not None:
            lost_to[taker].append(anchor)
            continue
        held.append(anchor)
        if anchor.restored and anchor.entry_id == 0:
            continue  # a backup with no entry: nothing to find
        stored = session.scalar(select(AuditEntry.hash).where(AuditEntry.id == anchor.entry_id))
        if stored is None:
            raise AnchorError(
                f"entry {anchor.entry_id}, checkpointed at {anchor.at}, is missing: "
                "the log was cut short"
            )
        if stored != anchor.hash:
            raise AnchorError(
                f"entry {anchor.entry_id} no longer has the hash checkpointed at {anchor.at}: "
                "the chain was rewritten"
            )
    return Verified(held, [Restore(anchors[j], lost) for j, lost in lost_to.items()])


async def checkpoint_forever(
    database: Database, key: bytes, config: Settings, stopping: threading.Event
) -> None:
    """Checkpoint every `audit_anchor_interval_s` until `stopping`, and once more on the way out,
    so a stop leaves no entry unanchored."""
    path = Path(config.audit_anchor_file)
    while True:
        stopped = await asyncio.to_thread(stopping.wait, config.audit_anchor_interval_s)
        try:
            with database.reading() as session:
                await asyncio.to_thread(checkpoint, session, key, path, clock.now())
        except (OSError, AnchorError, SQLAlchemyError, DatabaseUnavailable):
            logger.exception("audit checkpoint failed; will retry")
        if stopped:
            return

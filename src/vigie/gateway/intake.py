"""Store, then acknowledge: the one path by which every protocol's readings reach the log.

Servers hand a device's readings to `Intake.store` and acknowledge only when it returns: by
then they are committed (SQLite synchronous=FULL, PostgreSQL commit), so a device never
deletes a fix that Vigie has not kept. Readings waiting at the same moment are written in one
transaction (group commit): a thousand trackers cost one disk flush, not a thousand.

Where they are kept is the intake's sink: the database (`DatabaseSink`, the embedded centre) or,
in cluster mode, the NATS stream (`vigie.cluster.publisher.StreamSink`: acknowledged once a
majority of the stream's replicas hold the message).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from vigie import clock
from vigie.gateway.readings import Rejected, check, parse_time
from vigie.observation import TimeBounds
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.group_commit import GroupCommit

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    """What one `store` did: readings newly stored (those kept for quarantine included),
    already stored, refused as implausible (not stored)."""

    new: int
    duplicates: int
    rejected: int


class Sink(Protocol):
    """Where checked readings are kept; `put` returns once they are durable, or raises."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def put(self, rows: list[dict[str, Any]], rejected: int) -> Stored: ...


class Intake:
    """Checks readings and hands them to its sink; answers when they are durable."""

    def __init__(
        self,
        database: Database | None,
        bounds: TimeBounds | None = None,
        max_batch: int = 20_000,
        on_stored: Callable[[], None] | None = None,
        sink: Sink | None = None,
        retry_s: float = 30.0,
    ) -> None:
        """Without `sink`, the readings go to `database` in group commits, retried through a
        database failover for `retry_s`."""
        self._bounds = bounds or TimeBounds()
        if sink is None:
            if database is None:
                raise ValueError("an intake needs a database or a sink")
            sink = DatabaseSink(database, max_batch, on_stored, retry_s)
        self._sink = sink

    async def start(self) -> None:
        await self._sink.start()

    async def stop(self) -> None:
        await self._sink.stop()

    async def store(self, readings: list[dict[str, Any]], source: str) -> Stored:
        """Store `readings` durably; implausible ones are logged with their reason and left out,
        but for those whose only fault is the device's clock: they are kept as the device sent
        them (nothing it said is lost), for detection to quarantine and raise `clock_fault`.

        `source` names the channel they came by (the protocol of an authenticated device); it
        is recorded on every row.

        Raises what the sink raised when the write failed: the caller must not acknowledge.
        """
        now = clock.now()
        rows: list[tuple[datetime, dict[str, Any]]] = []
        rejected = 0
        for record in readings:
            try:
                t = check(record, now, self._bounds)
            except Rejected as exc:
                if not exc.clock:
                    rejected += 1
                    logger.warning(
                        "%s: reading of %s refused: %s", source, record.get("device"), exc
                    )
                    continue
                logger.warning(
                    "%s: reading of %s kept for quarantine: %s", source, record.get("device"), exc
                )
                t = parse_time(record["t"])
            rows.append((t, record))
        # Buffered records reach the store (and so the engine) in the order they happened.
        rows.sort(key=lambda pair: pair[0])
        if not rows:
            return Stored(0, 0, rejected)
        return await self._sink.put(
            [log.row_for(record, t, now, source=source) for t, record in rows], rejected
        )


class DatabaseSink:
    """Group commits (`vigie.store.group_commit`): what waits at the same moment, in one
    transaction, retried whole through a database failover for `retry_s`."""

    def __init__(
        self,
        database: Database,
        max_batch: int = 20_000,
        on_stored: Callable[[], None] | None = None,
        retry_s: float = 30.0,
    ) -> None:
        self._db = database
        self._retry_s = retry_s
        self._max_batch = max_batch
        self._on_stored = on_stored
        self._group: GroupCommit | None = None

    async def start(self) -> None:
        self._group = GroupCommit(
            self._db,
            max_size=self._max_batch,
            retry_s=self._retry_s,
            name="intake",
            after=self._on_stored,
        )

    async def stop(self) -> None:
        if self._group is not None:
            await asyncio.to_thread(self._group.close)

    async def put(self, rows: list[dict[str, Any]], rejected: int) -> Stored:
        if self._group is None:
            raise RuntimeError("the intake's sink is not started")

        # Made ready here, not in the transaction: the writer is held for the insert alone.
        prepared = await asyncio.to_thread(log.prepare, rows, self._db.engine.dialect)

        def write(session: Session) -> Stored:
            accepted = log.append(session, prepared)
            return Stored(len(accepted.ids), accepted.duplicates, rejected)

        return await asyncio.wrap_future(self._group.submit(write, len(rows)))

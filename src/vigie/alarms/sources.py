"""Where a detection step's observations come from (design/scale-ha.md §2.4, §3).

Embedded, the gateway has stored them already: a step reads the table after its cursor (an
observation id), before its transaction, so ingest never waits for detection. In cluster mode a
partition's worker hands the step a batch fetched from the stream: the step archives it inside
its own fenced transaction (`INSERT ... ON CONFLICT DO NOTHING RETURNING`), and the engine runs
only the rows that are new, so a batch delivered twice (a redelivery, a resend after the
stream's dedupe window) is archived once and detected once. The cursor is then the stream
sequence of the batch's last message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from vigie.store import audit, engine_state
from vigie.store import observations as log
from vigie.store.listed import listed_in
from vigie.store.models import DeviceAssignment, Placement


@dataclass(frozen=True)
class Taken:
    """What one step consumes: the rows the engine runs (plain rows, as `rows_after` gives),
    the cursor once they are consumed, how many readings (or stream messages) they count for
    in the partition's `processed`, and their ids when the cursor does not say them."""

    rows: list[Any]
    cursor: int
    consumed: int
    ids: list[int] | None = None


class ObservationSource(Protocol):
    """Observations for one step of a `PartitionStep`."""

    # True: `read` gives None and the rows come inside the transaction (`write`), so a warm
    # step needs no reading session before it (a round trip each way saved per step).
    archives: bool

    def read(self, session: Session, cursor: int, limit: int) -> Taken | None:
        """Before the step's transaction, with a reading session: what to consume after
        `cursor`, or None if this source gives its rows inside the transaction (`write`)."""

    def write(self, session: Session, cursor: int) -> Taken:
        """Inside the step's transaction, once the partition's row is fenced (only called when
        `read` gave None)."""


class TableSource:
    """Embedded: the observations stored after the cursor (an observation id)."""

    archives = False

    def read(self, session: Session, cursor: int, limit: int) -> Taken | None:
        rows = log.rows_after(session, cursor, limit)
        return Taken(rows, rows[-1].id if rows else cursor, len(rows))

    def write(self, session: Session, cursor: int) -> Taken:
        raise AssertionError("a table source is read before the step's transaction")


@dataclass(frozen=True)
class Unreadable:
    """A stream message, or one reading of it (`reading`: its index), that no archive row can
    hold: recorded in the audit log by the step that consumes it, never run nor retried."""

    sequence: int  # in the stream, for an administrator to fetch it
    subject: str
    reading: int | None
    reason: str


@dataclass(frozen=True)
class StreamMark:
    """What a step records of the stream beyond its batch (`engine_state.note_stream`): the
    partition holds nothing unconsumed up to `seen`, and `gap` it could never read."""

    partition: int
    seen: int
    gap: tuple[int, int] | None = None


class BatchSource:
    """Cluster: one batch of a partition's stream, archived within the step's transaction.

    `readings` are observation rows as `vigie.store.observations.row_for` makes them; `cursor`
    is the stream sequence of the batch's last message and `messages` how many messages it
    holds. A batch at or before the partition's cursor was consumed by a committed step
    already: it changes nothing. `stream`, if given, is recorded all the same.
    """

    archives = True

    def __init__(
        self,
        readings: list[dict[str, Any]],
        cursor: int,
        messages: int,
        unreadable: Sequence[Unreadable] = (),
        stream: StreamMark | None = None,
    ) -> None:
        self.readings = readings
        self.cursor = cursor
        self.messages = messages
        self.unreadable = unreadable
        self.stream = stream
        self.accepted: log.Accepted | None = None  # what the archive took, after the step

    def read(self, session: Session, cursor: int, limit: int) -> Taken | None:
        return None

    def write(self, session: Session, cursor: int) -> Taken:
        if self.stream is not None:  # a quiet step's too
            mark = self.stream
            engine_state.note_stream(session, mark.partition, mark.seen, mark.gap)
        if self.cursor <= cursor:
            return Taken([], cursor, 0, [])
        for bad in self.unreadable:  # once: in the transaction that moves the cursor past it
            audit.record(
                session,
                "system",
                "stream_reading_quarantined",
                f"stream_message:{bad.sequence}",
                {"subject": bad.subject, "reading": bad.reading, "reason": bad.reason},
            )
        self.accepted = log.append(session, self.readings, ordered=False, engine_rows=True)
        return Taken(self.accepted.rows, self.cursor, self.messages, self.accepted.ids)


def partitions_of(session: Session | Connection, devices: set[str]) -> dict[str, int]:
    """The detection partition of each device's active case, as the database has it now; a
    device with no active assignment is left out. A worker forwards a reading of a device that
    belongs to another partition instead of archiving it (design/scale-ha.md §2.6)."""
    if not devices:
        return {}
    query = (
        select(DeviceAssignment.device_id, Placement.partition)
        .join(Placement, Placement.id == DeviceAssignment.placement_id)
        .where(
            listed_in(session, DeviceAssignment.device_id, devices),
            DeviceAssignment.until.is_(None),
        )
    )
    return {device: partition for device, partition in session.execute(query)}

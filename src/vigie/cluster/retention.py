"""Readings the stream no longer holds: a partition's gap told from a quiet partition.

A worker resumes a partition at its committed cursor + 1. The stream keeps messages for
`VIGIE_STREAM_MAX_AGE_H`; when it no longer holds that far back (a backup restored older than
that, a partition no worker held that long), JetStream starts at its first message and the
readings between are lost, silently. The cursor alone cannot tell: it only moves with the
partition's own messages, so a quiet partition's lags far behind the stream's first sequence
with nothing lost.

So each partition also keeps `stream_seen`: how far it is known to hold nothing unconsumed.
While it is quiet, its worker now and then reads the stream's last sequence, then fetches: a
fetch that brings nothing means every message of the partition up to that sequence was
consumed, and the next step records it. On taking a partition (or consuming again), a stream
whose first sequence lies past both the cursor and `stream_seen` + 1 has dropped messages that
no worker of this partition read: the gap is logged as an error, audited with its sequences and
counted (`/api/health`'s `cluster.stream_gaps`, `/metrics`). Whether any of them was this
partition's is unknown (the stream kept no trace): every partition unwatched then reports it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from vigie.alarms.sources import StreamMark

logger = logging.getLogger(__name__)


@dataclass
class StreamView:
    """What a partition's worker knows of the stream beyond its cursor."""

    partition: int
    seen: int  # committed: `engine_state.stream_seen`
    quiet_through: int = 0  # found quiet up to here, not yet committed
    gap: tuple[int, int] | None = None  # met when consuming began, not yet committed

    def begin(self, cursor: int, first_seq: int) -> None:
        """Consuming from `cursor` + 1 on a stream whose first message is `first_seq`."""
        known = max(cursor, self.seen, self.quiet_through)
        if first_seq > known + 1:
            self.gap = (known + 1, first_seq - 1)
            logger.error(
                "partition %d: the stream no longer holds sequences %d to %d, which no worker "
                "of this partition read (the stream keeps VIGIE_STREAM_MAX_AGE_H): any reading "
                "of its cases among them is lost",
                self.partition,
                *self.gap,
            )
        else:
            self.gap = None

    def quiet(self, last_seq: int) -> None:
        """A fetch after the stream's last sequence was `last_seq` brought nothing."""
        self.quiet_through = max(self.quiet_through, last_seq)

    def mark(self) -> StreamMark | None:
        """What the next step records, if anything new."""
        seen = max(self.quiet_through, self.gap[1] if self.gap else 0)
        if self.gap is None and seen <= self.seen:
            return None
        return StreamMark(self.partition, seen, self.gap)

    def committed(self, mark: StreamMark) -> None:
        self.seen = max(self.seen, mark.seen)
        self.gap = None

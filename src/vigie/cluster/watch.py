"""What an API process of a cluster watches: the alarm bell over NATS, and who owns what.

No API process detects in cluster mode. The workers publish `vigie.bell.alarms` after a commit
that changed alarms; every API process rings its own `AlarmBell`, so each console's live stream
answers at once (its 1 s poll covers a lost bell message). Every `renew_s` the process reads the
leases: a partition without an owner for longer than `lease_s` + 2 s is unwatched, and the
centre is blind for its cases: `/api/health` answers 503 and names it (design scale-ha.md §2.8).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nats.aio.client import Client
from nats.aio.msg import Msg

from vigie import clock
from vigie.alarms.bell import AlarmBell
from vigie.cluster.connection import connect
from vigie.cluster.leases import PartitionLeases
from vigie.settings import Settings

logger = logging.getLogger(__name__)
BELL_SUBJECTS = "vigie.bell.>"
TAKEOVER_SLACK_S = 2.0  # a lease's expiry, then the claim and the first step (measured ~1.5 s)


@dataclass
class Ownership:
    """The cluster as this process last saw it (no personal data: numbers and names)."""

    partitions: int
    owned: set[int] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)
    unowned_since: dict[int, float] = field(default_factory=dict)  # monotonic
    read_at: float | None = None  # monotonic time of the last successful read

    def unwatched(self, now: float, limit_s: float) -> list[int]:
        """Partitions without an owner for longer than `limit_s` (all of them, when the
        leases could not be read for that long)."""
        if self.read_at is None or now - self.read_at > limit_s:
            return list(range(self.partitions))
        return sorted(p for p, since in self.unowned_since.items() if now - since > limit_s)


class ClusterWatch:
    """Runs in an API process of the cluster until `stop()`."""

    def __init__(self, settings: Settings, bell: AlarmBell) -> None:
        self.settings = settings
        self.bell = bell
        self.ownership = Ownership(settings.partitions)
        self.started = time.monotonic()
        self._stopping = asyncio.Event()
        self._connection: Client | None = None
        self._reported: set[int] = set()  # unwatched partitions already logged

    @property
    def limit_s(self) -> float:
        return self.settings.lease_s + TAKEOVER_SLACK_S

    def unwatched(self) -> list[int]:
        """The unwatched partitions; none while the process is younger than the limit (the
        cluster is being read for the first time)."""
        now = time.monotonic()
        if now - self.started <= self.limit_s:
            return []
        return self.ownership.unwatched(now, self.limit_s)

    def blind_since(self) -> datetime | None:
        """Since when some partition has been unwatched (wall clock, for the console)."""
        lost = self.unwatched()
        if not lost:
            return None
        now = time.monotonic()
        since = [self.ownership.unowned_since.get(p, self.ownership.read_at or now) for p in lost]
        return clock.now() - timedelta(seconds=now - min(since))

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        connection = await connect(self.settings, "api-watch")
        self._connection = connection
        try:
            await connection.subscribe(BELL_SUBJECTS, cb=self._ring)
            leases = await PartitionLeases.open(connection.jetstream(), "api-watch")
            while not self._stopping.is_set():
                await self._read(leases)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.renew_s)
        finally:
            await connection.close()

    async def _ring(self, _message: Msg) -> None:
        self.bell.ring()

    async def _read(self, leases: PartitionLeases) -> None:
        try:
            held = await leases.held()
            workers = await leases.live_workers()
        except Exception as exc:  # the KV unavailable: the last view ages towards "blind"
            logger.warning("cluster leases not read (%r)", exc)
            return
        now = time.monotonic()
        view = self.ownership
        view.owned, view.workers, view.read_at = held, workers, now
        for partition in range(view.partitions):
            if partition in held:
                view.unowned_since.pop(partition, None)
            else:
                view.unowned_since.setdefault(partition, now)
        lost = set(self.unwatched())
        for partition in sorted(lost - self._reported):
            logger.error(
                "partition %d has no detection worker: its cases are not watched", partition
            )
        for partition in sorted(self._reported - lost):
            logger.warning("partition %d watched again", partition)
        self._reported = lost

"""What an API process of a cluster watches: the alarm bell over NATS, and who owns what.

No API process detects in cluster mode. The workers publish `vigie.bell.alarms` after a commit
that changed alarms; every API process rings its own `AlarmBell`, so each console's live stream
answers at once (its 1 s poll covers a lost bell message).

Who owns each partition is followed by a KV watch on the lease bucket: a lease taken, renewed,
given back or expired (the server's marker) is seen as it happens, not at the next poll. The
leases are still read every `renew_s`, which keeps the view alive when the watch breaks (it is
started again) and says whether the KV answers at all. A partition without an owner for longer
than `lease_s` + 2 s is unwatched, and the centre is blind for its cases: `/api/health` answers
503 and names it (design scale-ha.md §2.8), and the operators get the centre's own alarm
(`vigie.alarms.blindness`), cleared when an owner returns. Only a partition seen unowned raises
it: leases this process cannot read at all are a 503 (every console's blind banner), not an
alarm per partition from one process's lost link.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from vigie import clock
from vigie.alarms import blindness
from vigie.alarms.bell import AlarmBell
from vigie.cluster.connection import connect
from vigie.cluster.leases import PartitionLeases, partition_of_key
from vigie.cluster.topology import BELL_ALARMS, BELL_SUBJECTS
from vigie.settings import Settings
from vigie.store import Database

logger = logging.getLogger(__name__)
TAKEOVER_SLACK_S = 2.0  # a lease's expiry, then the claim and the first step (measured ~1.5 s)
RESYNC_S = 5.0  # the alarms are brought in line at least this often (escalation, other writers)


@dataclass
class Ownership:
    """The cluster as this process last saw it (no personal data: numbers and names)."""

    partitions: int
    owned: set[int] = field(default_factory=set)
    owners: dict[int, str] = field(default_factory=dict)  # partition -> worker, per the watch
    workers: set[str] = field(default_factory=set)
    unowned_since: dict[int, float] = field(default_factory=dict)  # monotonic
    read_at: float | None = None  # monotonic time of the last successful read
    changed_at: dict[int, float] = field(default_factory=dict)  # last change seen by the watch

    def unwatched(self, now: float, limit_s: float) -> list[int]:
        """Partitions without an owner for longer than `limit_s` (all of them, when the
        leases could not be read for that long)."""
        if self.read_at is None or now - self.read_at > limit_s:
            return list(range(self.partitions))
        return self.seen_unowned(now, limit_s)

    def seen_unowned(self, now: float, limit_s: float) -> list[int]:
        """Partitions seen without an owner for longer than `limit_s`."""
        return sorted(p for p, since in self.unowned_since.items() if now - since > limit_s)

    def fresh(self, now: float, limit_s: float) -> bool:
        return self.read_at is not None and now - self.read_at <= limit_s

    def set_owner(self, partition: int, worker: str | None, now: float) -> bool:
        """Record a partition's owner (None: none); True if that changed who owns it."""
        if worker is None:
            self.unowned_since.setdefault(partition, now)
            self.owners.pop(partition, None)
            held = partition in self.owned
            self.owned.discard(partition)
            return held
        changed = partition not in self.owned or self.owners.get(partition) != worker
        self.unowned_since.pop(partition, None)
        self.owners[partition] = worker
        self.owned.add(partition)
        return changed


class ClusterWatch:
    """Runs in an API process of the cluster until `stop()`. With a `database`, it also keeps
    the centre's alarms for unwatched partitions (`vigie.alarms.blindness`)."""

    def __init__(
        self, settings: Settings, bell: AlarmBell, database: Database | None = None
    ) -> None:
        self.settings = settings
        self.bell = bell
        self.database = database
        self.ownership = Ownership(settings.partitions)
        self.started = time.monotonic()
        self.watching = False  # the KV watch is delivering (else only the poll follows)
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._connection: Client | None = None
        self._reported: set[int] = set()  # unwatched partitions already logged
        self._synced: tuple[frozenset[int], frozenset[int]] | None = None
        self._synced_at = float("-inf")
        self.listeners: list[Callable[[int, str | None], None]] = []  # told of owner changes

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
        self._changed.set()

    async def run(self) -> None:
        connection = await connect(self.settings, "api-watch")
        self._connection = connection
        tasks: list[asyncio.Task[None]] = []
        try:
            await connection.subscribe(BELL_SUBJECTS, cb=self._ring)
            js = connection.jetstream()
            leases = await PartitionLeases.open(js, "api-watch")
            tasks.append(
                asyncio.create_task(
                    leases.follow(
                        self._seen,
                        self._stopping,
                        self.settings.lease_s,
                        self.settings.renew_s,
                        self._watching,
                    )
                )
            )
            if self.database is not None:
                tasks.append(asyncio.create_task(self._sync_forever(self.database)))
            while not self._stopping.is_set():
                await self._read(leases)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.renew_s)
        finally:
            self._stopping.set()
            self._changed.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await connection.close()

    async def _ring(self, _message: Msg) -> None:
        self.bell.ring()

    # ------------------------------------------------------------------ who owns what

    def _watching(self, delivering: bool) -> None:
        self.watching = delivering

    def _seen(self, entry: KeyValue.Entry) -> None:
        partition = partition_of_key(entry.key)
        if partition is None or partition >= self.ownership.partitions:
            return
        worker: str | None = None
        if entry.operation not in (KV_DEL, KV_PURGE):
            try:
                worker = str(json.loads(entry.value or b"{}").get("worker") or "?")
            except (ValueError, AttributeError):
                worker = "?"
        now = time.monotonic()
        self.ownership.changed_at[partition] = now
        self._owner(partition, worker, now)

    def _owner(self, partition: int, worker: str | None, now: float) -> None:
        if self.ownership.set_owner(partition, worker, now):
            for listener in self.listeners:
                listener(partition, worker)
            self._changed.set()

    async def _read(self, leases: PartitionLeases) -> None:
        began = time.monotonic()
        try:
            held = await leases.held()
            workers = await leases.live_workers()
        except Exception as exc:  # the KV unavailable: the last view ages towards "blind"
            logger.warning("cluster leases not read (%r)", exc)
            return
        now = time.monotonic()
        view = self.ownership
        view.workers, view.read_at = workers, now
        for partition in range(view.partitions):
            if view.changed_at.get(partition, float("-inf")) >= began:
                continue  # the watch saw a change after this read began: it is newer
            if partition in held:
                if partition not in view.owned:
                    self._owner(partition, view.owners.get(partition, "?"), now)
            else:
                self._owner(partition, None, now)
        lost = set(self.unwatched())
        for partition in sorted(lost - self._reported):
            logger.error(
                "partition %d has no detection worker: its cases are not watched", partition
            )
        for partition in sorted(self._reported - lost):
            logger.warning("partition %d watched again", partition)
        self._reported = lost
        self._changed.set()

    # ------------------------------------------------------------------ the centre's alarm

    def alarm_view(self) -> tuple[dict[int, datetime], set[int]]:
        """What the alarms should say: the partitions seen unowned past the limit (with since
        when, wall clock), and those seen owned in a fresh read."""
        now = time.monotonic()
        view = self.ownership
        if now - self.started <= self.limit_s or not view.fresh(now, self.limit_s):
            return {}, set()
        wall = clock.now()
        blind = {
            p: wall - timedelta(seconds=now - view.unowned_since[p])
            for p in view.seen_unowned(now, self.limit_s)
        }
        return blind, set(view.owned)

    async def _sync_forever(self, database: Database) -> None:
        """Bring the centre's alarms in line at each change seen, and every `RESYNC_S`."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.settings.renew_s)
            self._changed.clear()
            if self._stopping.is_set():
                return
            blind, watched = self.alarm_view()
            state = (frozenset(blind), frozenset(watched))
            if state == self._synced and time.monotonic() - self._synced_at < RESYNC_S:
                continue
            try:
                synced = await asyncio.to_thread(self._sync, database, blind, watched)
            except Exception as exc:  # the database failing over: tried again at the next round
                logger.warning("unwatched partitions' alarms not synced (%r)", exc)
                continue
            self._synced, self._synced_at = state, time.monotonic()
            if synced.changed:
                await self._tell_changed(synced)

    def _sync(
        self, database: Database, blind: dict[int, datetime], watched: set[int]
    ) -> blindness.Synced:
        config = self.settings
        with database.session() as session:
            return blindness.sync(
                session,
                blind,
                watched,
                clock.now(),
                config.escalation_after_s,
                config.escalation_factors,
            )

    async def _tell_changed(self, synced: blindness.Synced) -> None:
        for partition in synced.raised:
            logger.error("partition %d unwatched: the centre's alarm is raised", partition)
        for partition in synced.cleared:
            logger.warning("partition %d watched again: its alarm is cleared", partition)
        self.bell.ring()
        if self._connection is not None:  # the other API processes' consoles
            bell = {"centre": True, "raised": synced.raised, "cleared": synced.cleared}
            with contextlib.suppress(Exception):
                await self._connection.publish(BELL_ALARMS, json.dumps(bell).encode())

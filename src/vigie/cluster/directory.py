"""The device directory: device -> kind, case, partition, secret hash, for the gateways.

A projection of PostgreSQL (devices and their active assignments) kept in the KV bucket
`vigie_devices`, which every gateway mirrors in memory through a watch: a gateway routes and
authenticates without PostgreSQL, so ingest goes on while the database fails over. PostgreSQL
stays the truth: the API writes a device's entry after committing its assignment, and
`reconcile` brings the whole bucket in line (a missed write, a bucket re-created). A stale entry
loses nothing: the worker that receives a misrouted reading forwards it (design §2.6).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import asdict, dataclass

from nats.js import JetStreamContext
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.cluster.partitions import device_token, partition_of, unassigned_partition
from vigie.cluster.topology import DEVICES
from vigie.store import Database
from vigie.store.models import Device, DeviceAssignment, Placement

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    device: str
    kind: str
    case: str | None  # the case it is assigned to now, if any
    partition: int
    secret_hash: str | None = None
    withdrawn: bool = False  # out of service: the gateways refuse it

    def encode(self) -> bytes:
        entry = asdict(self)
        if not self.withdrawn:  # as before the mark: a gateway not yet upgraded reads it still
            del entry["withdrawn"]
        return json.dumps(entry, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> DeviceEntry:
        return cls(**json.loads(data))


def key_of(device: str) -> str:
    return f"d.{device_token(device)}"


def entries_from_database(
    session: Session, partitions: int, only: str | None = None
) -> dict[str, DeviceEntry]:
    """Every registered device's entry (or only device `only`'s), as PostgreSQL has it now."""
    assigned = (
        select(DeviceAssignment.device_id, Placement.case_ref)
        .join(Placement, DeviceAssignment.placement_id == Placement.id)
        .where(DeviceAssignment.until.is_(None))
    )
    devices = select(Device)
    if only is not None:
        assigned = assigned.where(DeviceAssignment.device_id == only)
        devices = devices.where(Device.id == only)
    cases: dict[str, str] = {device: case for device, case in session.execute(assigned)}
    entries = {}
    for device in session.scalars(devices):
        case = cases.get(device.id)
        partition = (
            unassigned_partition(device.id, partitions)
            if case is None
            else partition_of(case, partitions)
        )
        entries[device.id] = DeviceEntry(
            device.id,
            device.kind,
            case,
            partition,
            device.secret_hash,
            device.withdrawn_at is not None,
        )
    return entries


def partition_of_device(session: Session, device: str, partitions: int) -> int:
    """A device's partition by PostgreSQL (the API routes what it is posted so): its case's,
    else its own hash (unregistered or unassigned: archived there, nothing to detect)."""
    case = session.scalar(
        select(Placement.case_ref)
        .join(DeviceAssignment, DeviceAssignment.placement_id == Placement.id)
        .where(DeviceAssignment.device_id == device, DeviceAssignment.until.is_(None))
    )
    return (
        unassigned_partition(device, partitions) if case is None else partition_of(case, partitions)
    )


class DeviceDirectory:
    """The bucket, and its in-memory mirror kept current by a watch."""

    def __init__(self, js: JetStreamContext, partitions: int, unused_s: float) -> None:
        """`unused_s`: how long the server keeps a watch's consumer once no one reads it
        (`vigie.cluster.leases.unused_s`); each start of the watch is one."""
        self._js = js
        self.partitions = partitions
        self._unused_s = unused_s
        self._entries: dict[str, DeviceEntry] = {}  # by key
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()
        self._watcher: KeyValue.KeyWatcher | None = None

    async def start(self, timeout_s: float = 10.0) -> None:
        """Open the bucket and start mirroring; returns once the mirror holds every entry."""
        self._kv = await self._js.key_value(DEVICES)
        self._task = asyncio.create_task(self._mirror(), name="vigie-directory")
        await asyncio.wait_for(self._loaded.wait(), timeout_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._watcher is not None:
            with contextlib.suppress(Exception):  # the connection may be gone already
                await self._watcher.stop()  # type: ignore[no-untyped-call]

    async def _mirror(self) -> None:
        assert self._kv is not None
        while True:
            try:
                watcher = self._watcher = await self._kv.watch(
                    "d.>", inactive_threshold=self._unused_s
                )
                fresh: dict[str, DeviceEntry] | None = {}
                async for update in watcher:
                    if update is None:  # the initial values are in: swap them in at once
                        if fresh is not None:
                            self._entries, fresh = fresh, None
                            self._loaded.set()
                        continue
                    target = self._entries if fresh is None else fresh
                    if update.operation in (KV_DEL, KV_PURGE) or not update.value:
                        target.pop(update.key, None)
                    else:
                        target[update.key] = DeviceEntry.decode(update.value)
                logger.warning("device directory watch ended; watching again")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("device directory watch failed (%r); watching again", exc)
                await asyncio.sleep(0.5)

    def get(self, device: str) -> DeviceEntry | None:
        """The mirrored entry (thread-safe to call: a dict read)."""
        return self._entries.get(key_of(device))

    def __len__(self) -> int:
        return len(self._entries)

    async def put(self, entry: DeviceEntry) -> None:
        assert self._kv is not None, "start() first"
        await self._kv.put(key_of(entry.device), entry.encode())

    async def remove(self, device: str) -> None:
        assert self._kv is not None, "start() first"
        await self._kv.delete(key_of(device))

    async def write_device(self, database: Database, device: str) -> None:
        """After an assignment (or a device's secret) committed in PostgreSQL: its entry now."""
        entry = await asyncio.to_thread(self._read, database, device)
        if entry is None:
            await self.remove(device)
        else:
            await self.put(entry)

    def _read(self, database: Database, device: str) -> DeviceEntry | None:
        with database.session() as session:
            return entries_from_database(session, self.partitions, device).get(device)

    def _read_all(self, database: Database) -> dict[str, DeviceEntry]:
        with database.session() as session:
            return entries_from_database(session, self.partitions)

    async def reconcile(self, database: Database) -> tuple[int, int]:
        """Bring the bucket in line with PostgreSQL; (entries written, entries removed)."""
        truth = await asyncio.to_thread(self._read_all, database)
        written = removed = 0
        for entry in truth.values():
            if self.get(entry.device) != entry:
                await self.put(entry)
                written += 1
        wanted = {key_of(device) for device in truth}
        for key, entry in list(self._entries.items()):
            if key not in wanted:
                await self.remove(entry.device)
                removed += 1
        if written or removed:
            logger.info("device directory reconciled: %d written, %d removed", written, removed)
        return written, removed

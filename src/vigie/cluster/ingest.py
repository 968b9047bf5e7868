"""The gateway's and the API's side of the cluster: one connection, the topology checked, the
device directory mirrored, and the publisher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

from nats.aio.client import Client

from vigie.cluster.connection import connect
from vigie.cluster.directory import DeviceDirectory
from vigie.cluster.leases import unused_s
from vigie.cluster.partitions import unassigned_partition
from vigie.cluster.publisher import ObservationPublisher, StreamSink
from vigie.cluster.topology import Topology, check
from vigie.gateway.registry import RegisteredDevice, Registry
from vigie.settings import Settings
from vigie.store import Database

logger = logging.getLogger(__name__)
# How often an API process brings the directory in line with PostgreSQL (what no hook wrote:
# a placement ended, a case imported, a write lost to a NATS blip).
RECONCILE_EVERY_S = 30.0


class DirectoryRegistry(Registry):
    """The registry read from the directory's mirror instead of PostgreSQL: a gateway
    authenticates and routes while the database fails over. Refusals are still audited in
    the database when one is given (and reachable)."""

    def __init__(self, directory: DeviceDirectory, database: Database | None) -> None:
        # The mirror is in memory and kept current by its watch: no cache in front of it.
        super().__init__(database, ttl_s=0.0)
        self._directory = directory

    def _read(self, identifier: str) -> RegisteredDevice | None:
        entry = self._directory.get(identifier)
        if entry is None:
            return None
        return RegisteredDevice(
            entry.device, entry.kind, entry.case, entry.secret_hash, entry.withdrawn
        )


@dataclass
class ClusterIngest:
    connection: Client
    directory: DeviceDirectory
    publisher: ObservationPublisher
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)

    @classmethod
    async def open(cls, settings: Settings, role: str) -> ClusterIngest:
        """Connect, check the cluster's P against the settings (refuses a mismatch), mirror the
        directory."""
        name = f"{role}-{socket.gethostname()}-{os.getpid()}"
        connection = await connect(settings, name)
        try:
            js = connection.jetstream()
            await check(js, Topology.from_settings(settings))
            directory = DeviceDirectory(js, settings.partitions, unused_s(settings.lease_s))
            await directory.start()
        except BaseException:
            await connection.close()
            raise
        publisher = ObservationPublisher(js, name, settings.publish_deadline_s)
        return cls(connection, directory, publisher)

    def route(self, device: str) -> int:
        """A device's partition by the directory (its case's; its own hash without a case or
        entry: archived there, nothing to detect)."""
        entry = self.directory.get(device)
        if entry is None:
            return unassigned_partition(device, self.directory.partitions)
        return entry.partition

    def sink(self) -> StreamSink:
        return StreamSink(self.publisher, self.route)

    def registry(self, database: Database | None) -> DirectoryRegistry:
        return DirectoryRegistry(self.directory, database)

    def write_devices_from_thread(self, database: Database, devices: Iterable[str]) -> None:
        """After a commit that changed these devices (an API route's thread): their directory
        entries now, so gateways route and authenticate by the new state at once. A failure is
        logged, not raised: the commit stands and the periodic reconcile writes it."""
        try:
            asyncio.run_coroutine_threadsafe(
                self._write_devices(database, list(devices)), self.loop
            ).result(timeout=10)
        except Exception as exc:
            logger.warning("device directory not written (%r); the reconcile will", exc)

    async def _write_devices(self, database: Database, devices: list[str]) -> None:
        for device in devices:
            await self.directory.write_device(database, device)

    async def reconcile_forever(self, database: Database, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.directory.reconcile(database)
            except Exception as exc:
                logger.warning("device directory reconcile failed (%r); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RECONCILE_EVERY_S)

    async def close(self) -> None:
        await self.directory.stop()
        await self.connection.drain()

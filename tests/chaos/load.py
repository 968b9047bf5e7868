"""The load generator: the population's devices speaking the real protocols to the gateways.

Trackers speak Teltonika (Codec 8 Extended over TCP, `vigie.sim.protocols`): one packet a second
each with the readings of that second, sent again until its acknowledgement comes (on the next
gateway when the link breaks, as a device behind a balancer reconnects). Protected persons'
phones speak OsmAnd (Traccar Client's HTTP GET, with their key), one fix a second. Markers are
wearers stepping into their exclusion zone at known times. Every reading acknowledged is logged
under the key the centre stores it by, `(device, dedup_key)`, with when it was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.chaos.population import Population
from vigie import clock
from vigie.gateway import teltonika
from vigie.gateway.readings import iso, sequence
from vigie.sim.protocols import MAX_RECORDS, osmand_params, teltonika_packets

logger = logging.getLogger(__name__)
ACK_TIMEOUT_S = 20.0  # above the gateways' publish deadline (12 s): they answer or close first


@dataclass(frozen=True)
class Gateway:
    teltonika: int
    osmand: int


@dataclass
class Marker:
    device: str
    scheduled: float  # seconds after the load's start
    acked_at: float | None = None  # monotonic
    attempts: int = 0


@dataclass
class Figures:
    sent_readings: int = 0
    resends: int = 0  # device messages sent again (no acknowledgement, a link broken)
    ack_ms: list[float] = field(default_factory=list)  # send -> acknowledged, per message


def dedup_key(t: datetime) -> str:
    """What the centre keys a position of the protocols' derived sequence by."""
    return f"seq:{sequence(t, 'position')}"


def position(device: str, t: datetime, lat: float, lon: float) -> dict[str, Any]:
    return {
        "kind": "obs",
        "device": device,
        "t": iso(t),
        "type": "position",
        "lat": lat,
        "lon": lon,
        "accuracy_m": 10.0,
    }


class Refused(ConnectionError):
    """The gateway refused the tracker (its directory not current yet) or miscounted."""


class Link:
    """A tracker's TCP link, handshake once, to one gateway at a time."""

    def __init__(self, imei: str, gateway: int) -> None:
        self.imei = imei
        self.gateway = gateway
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def exchange(self, port: int, packet: bytes) -> int:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", port)
            self._writer.write(teltonika.encode_imei(self.imei))
            await self._writer.drain()
            answer = await asyncio.wait_for(self._reader.readexactly(1), ACK_TIMEOUT_S)
            if answer != b"\x01":
                raise Refused(f"tracker {self.imei} refused")
        assert self._reader is not None
        self._writer.write(packet)
        await self._writer.drain()
        data = await asyncio.wait_for(self._reader.readexactly(4), ACK_TIMEOUT_S)
        return int(struct.unpack(">I", data)[0])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Load:
    """Runs in a thread of its own until `stop()`; `acked` and `markers` are read after."""

    def __init__(
        self,
        population: Population,
        gateways: list[Gateway],
        rate: float,
        marker_times: list[float],
    ) -> None:
        self.population = population
        self.gateways = gateways
        self.rate = rate
        self.acked: dict[tuple[str, str], float] = {}  # (device, dedup_key) -> monotonic
        self.sent: set[tuple[str, str]] = set()
        self.figures = Figures()
        devices = sorted(population.markers)
        self.markers = [Marker(devices[i], at) for i, at in enumerate(marker_times)]
        self.started: float | None = None  # monotonic
        self.errors: list[str] = []
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._ready = threading.Event()

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout_s: float = 60) -> None:
        """Stop sending new readings; what is under way is delivered (or given up) first."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise AssertionError("the load generator did not finish delivering in time")

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self.started = time.monotonic()
        self._ready.set()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self._http = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{g.osmand}", timeout=20, limits=limits)
            for g in self.gateways
        ]
        try:
            per_tracker = (self.rate - len(self.population.phones)) / len(self.population.trackers)
            tasks = [
                asyncio.create_task(self._tracker(i, device, base, per_tracker))
                for i, (device, base) in enumerate(sorted(self.population.trackers.items()))
            ]
            tasks += [
                asyncio.create_task(self._phone(i, device, base))
                for i, (device, base) in enumerate(sorted(self.population.phones.items()))
            ]
            tasks += [asyncio.create_task(self._marker(i, m)) for i, m in enumerate(self.markers)]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            self.errors += [repr(r) for r in results if isinstance(r, BaseException)]
        finally:
            for client in self._http:
                await client.aclose()

    async def _until(self, offset_s: float) -> bool:
        """Sleep until `offset_s` after the start; False when stopping first."""
        assert self.started is not None and self._stopping is not None
        delay = self.started + offset_s - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        return not self._stopping.is_set()

    # ------------------------------------------------------------------ devices

    async def _tracker(
        self, index: int, device: str, base: tuple[float, float], per_s: float
    ) -> None:
        """One packet a second (phase spread over the second) with that second's readings."""
        rng = random.Random(device)
        link = Link(device, index % len(self.gateways))
        offset = rng.random()
        last = clock.now()
        try:
            while await self._until(offset):
                now = clock.now()
                elapsed_ms = (now - last).total_seconds() * 1000
                count = max(1, min(MAX_RECORDS, round(elapsed_ms * per_s / 1000)))
                step = elapsed_ms / count
                records = []
                for k in range(count):
                    t = datetime.fromtimestamp(
                        round(last.timestamp() * 1000 + (k + 1) * step) / 1000, UTC
                    )
                    lat = base[0] + rng.uniform(-1e-5, 1e-5)
                    lon = base[1] + rng.uniform(-1e-5, 1e-5)
                    records.append(position(device, t, lat, lon))
                last = datetime.fromisoformat(records[-1]["t"].replace("Z", "+00:00"))
                await self._deliver(link, records)
                offset += 1.0
                behind = time.monotonic() - (self.started or 0) - offset
                if behind > 0:  # a long failover: the next packet now, with what is due
                    offset += int(behind)
        finally:
            link.close()

    async def _deliver(self, link: Link, records: list[dict[str, Any]]) -> float:
        """Send the records as one packet until the gateways acknowledge them all; the
        monotonic time of the acknowledgement."""
        (packet,) = teltonika_packets(records)
        keys = [(r["device"], dedup_key(_t(r))) for r in records]
        self.sent.update(keys)
        self.figures.sent_readings += len(records)
        began = time.monotonic()
        while True:
            port = self.gateways[link.gateway].teltonika
            try:
                acked = await link.exchange(port, packet)
                if acked != len(records):
                    raise Refused(f"{acked} acknowledged of {len(records)}")
                break
            except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError) as exc:
                logger.info("tracker %s via :%d: %r; again", link.imei, port, exc)
                link.close()
                link.gateway = (link.gateway + 1) % len(self.gateways)
                self.figures.resends += 1
                await asyncio.sleep(0.2)
        at = time.monotonic()
        self.figures.ack_ms.append((at - began) * 1000)
        for key in keys:
            self.acked.setdefault(key, at)
        return at

    async def _phone(self, index: int, device: str, base: tuple[float, float]) -> None:
        """Traccar Client: one fix a second by OsmAnd, its time in whole seconds."""
        rng = random.Random(device)
        gateway = index % len(self.gateways)
        offset = rng.random()
        last = 0
        while await self._until(offset):
            second = max(last + 1, int(clock.now().timestamp()))
            last = second
            t = datetime.fromtimestamp(second, UTC)
            lat = base[0] + rng.uniform(-1e-5, 1e-5)
            lon = base[1] + rng.uniform(-1e-5, 1e-5)
            params = osmand_params(position(device, t, lat, lon), self.population.keys[device])
            key = (device, dedup_key(t))
            self.sent.add(key)
            self.figures.sent_readings += 1
            began = time.monotonic()
            while True:
                try:
                    answer = await self._http[gateway].get("/", params=params)
                    if answer.status_code == 200:
                        break
                    logger.info("phone %s: %d; again", device, answer.status_code)
                except httpx.HTTPError as exc:
                    logger.info("phone %s: %r; again", device, exc)
                gateway = (gateway + 1) % len(self.gateways)
                self.figures.resends += 1
                await asyncio.sleep(0.2)
            at = time.monotonic()
            self.figures.ack_ms.append((at - began) * 1000)
            self.acked.setdefault(key, at)
            offset += 1.0
            behind = time.monotonic() - (self.started or 0) - offset
            if behind > 0:
                offset += int(behind)

    async def _marker(self, index: int, marker: Marker) -> None:
        """The wearer's first two fixes, a second apart, inside its zone: one breach."""
        if not await self._until(marker.scheduled):
            return
        lat, lon = self.population.markers[marker.device]
        now = clock.now()
        before = datetime.fromtimestamp(now.timestamp() - 1, UTC)
        records = [position(marker.device, t, lat, lon) for t in (before, now)]
        link = Link(marker.device, index % len(self.gateways))
        try:
            marker.acked_at = await self._deliver(link, records)
        finally:
            link.close()


def _t(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["t"].replace("Z", "+00:00"))

"""The Teltonika TCP server: handshake, AVL packets, acknowledgement after durable storage.

Each connection is one asyncio task. Whatever a connection does wrong (bad CRC, truncated or
oversized frame, unknown IMEI, silence, a flood) ends that connection, logged with its reason,
and touches no other. A packet is acknowledged with its record count only once `Intake` has
stored it; a device that gets no acknowledgement resends, and the store keeps it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct

from vigie.gateway import teltonika
from vigie.gateway.intake import Intake
from vigie.gateway.limits import ConnectionSlots, Limits, RateExceeded, RateLimiter
from vigie.gateway.readings import Rejected
from vigie.gateway.registry import Registry, UnknownDevice

logger = logging.getLogger(__name__)


class TeltonikaServer:
    """Serves Teltonika Codec 8/8E trackers on one TCP port."""

    def __init__(
        self, intake: Intake, registry: Registry, limits: Limits, rates: RateLimiter
    ) -> None:
        self._intake = intake
        self._registry = registry
        self._limits = limits
        self._rates = rates
        self._slots = ConnectionSlots(limits.max_connections)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 for any free port); returns the port."""
        self._server = await asyncio.start_server(
            self._accept, host, port, backlog=self._limits.max_connections
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not self._slots.acquire():
            logger.warning("teltonika %s refused: %d connections open", peer, self._slots.limit)
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer, peer)
        except asyncio.CancelledError:
            # The gateway is stopping. Not re-raised: asyncio's stream callback would report a
            # cancelled connection handler as an error, and this task ends here anyway.
            logger.info("teltonika %s closed: the gateway is stopping", peer)
        except (teltonika.FrameError, UnknownDevice, RateExceeded) as exc:
            logger.warning("teltonika %s closed: %s", peer, exc)
        except TimeoutError:
            logger.warning("teltonika %s closed: nothing whole within the time allowed", peer)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            logger.info("teltonika %s disconnected: %s", peer, exc or type(exc).__name__)
        except Exception:
            # Storage failed: no acknowledgement went out, so the device will resend.
            logger.exception("teltonika %s closed: its packet could not be stored", peer)
        finally:
            self._connections.discard(task)
            self._slots.release()
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _read(self, reader: asyncio.StreamReader, size: int, timeout: float) -> bytes:
        # asyncio.timeout, not wait_for: on 3.11 wait_for makes a task per read.
        async with asyncio.timeout(timeout):
            return await reader.readexactly(size)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        limits = self._limits
        # The handshake must come whole and quickly: a slow-loris holds no slot for long.
        head = await self._read(reader, 2, limits.frame_timeout_s)
        (length,) = struct.unpack(">H", head)
        if not 1 <= length <= 64:
            raise teltonika.FrameError(f"handshake announces {length} bytes of IMEI")
        imei = teltonika.decode_imei(
            head + await self._read(reader, length, limits.frame_timeout_s)
        )
        try:
            device = await asyncio.to_thread(self._registry.lookup, imei)
        except UnknownDevice:
            writer.write(b"\x00")
            await writer.drain()
            raise
        writer.write(b"\x01")
        await writer.drain()
        logger.info("teltonika %s is device %s (case %s)", peer, device.id, device.case_ref)
        while True:
            # Idle between packets is normal (trackers report every few minutes); within a
            # packet it is not.
            header = await self._read(reader, teltonika.HEADER_BYTES, limits.idle_timeout_s)
            length = teltonika.data_length(header)
            rest = await self._read(reader, length + teltonika.CRC_BYTES, limits.frame_timeout_s)
            packet = teltonika.decode_packet(header + rest)
            readings = []
            for record in packet.records:
                try:
                    readings += teltonika.readings_of(device.id, record)
                except Rejected as exc:
                    # Acknowledged all the same: resending the record would not mend it.
                    logger.warning("teltonika %s: record refused: %s", device.id, exc)
            self._rates.take(device.id, len(readings))
            stored = await self._intake.store(readings, f"teltonika {device.id}")
            writer.write(teltonika.encode_ack(len(packet.records)))
            await writer.drain()
            logger.debug(
                "teltonika %s: %d records, %d readings new, %d duplicate, %d refused",
                device.id,
                len(packet.records),
                stored.new,
                stored.duplicates,
                stored.rejected,
            )

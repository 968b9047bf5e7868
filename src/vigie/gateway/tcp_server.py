"""The Teltonika TCP server: handshake, AVL packets, acknowledgement after durable storage.

Each connection is one asyncio task. Whatever a connection does wrong (bad CRC, truncated or
oversized frame, unknown IMEI, silence, a flood) ends that connection, logged with its reason,
and touches no other. A packet is acknowledged with its record count only once `Intake` has
stored it; a device that gets no acknowledgement resends, and the store keeps it once.
"""

from __future__ import annotations

import asyncio
import logging
import struct

from vigie.gateway import teltonika
from vigie.gateway.connections import TrackerServer
from vigie.gateway.readings import Rejected
from vigie.gateway.registry import UnknownDevice

logger = logging.getLogger(__name__)


class TeltonikaServer(TrackerServer):
    """Serves Teltonika Codec 8/8E/16 trackers on one TCP port."""

    protocol = "teltonika"
    frame_errors = (teltonika.FrameError,)

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
            device = await asyncio.to_thread(self._registry.lookup, imei, self.protocol, peer)
        except UnknownDevice:
            writer.write(b"\x00")
            await writer.drain()
            raise
        writer.write(b"\x01")
        await writer.drain()
        logger.info("teltonika %s is device %s (case %s)", peer, device.id, device.case_ref)

        def send(_command_id: int, text: str) -> None:
            writer.write(teltonika.encode_message(text))

        if self._commands is not None:
            self._commands.attach(device.id, self.protocol, send)
        try:
            await self._packets(reader, writer, device.id)
        finally:
            if self._commands is not None:
                self._commands.detach(device.id, send)

    async def _packets(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        device_id: str,
    ) -> None:
        limits = self._limits
        while True:
            # Idle between packets is normal (trackers report every few minutes); within a
            # packet it is not.
            first = await self._read(reader, 1, limits.idle_timeout_s)
            # A lone 0xFF is the device's keep-alive: skipped, the link stays open.
            while first[0] == teltonika.KEEP_ALIVE:
                first = await self._read(reader, 1, limits.idle_timeout_s)
            header = first + await self._read(
                reader, teltonika.HEADER_BYTES - 1, limits.frame_timeout_s
            )
            length = teltonika.data_length(header)
            rest = await self._read(reader, length + teltonika.CRC_BYTES, limits.frame_timeout_s)
            if rest[0] == teltonika.CODEC_12:
                # The device's reply to a command (not acknowledged, by the protocol).
                kind, text = teltonika.decode_message(teltonika.checked_data(header + rest))
                if kind == teltonika.REPLY and self._commands is not None:
                    await self._commands.answered(device_id, text)
                continue
            packet = teltonika.decode_packet(header + rest)
            readings = []
            for record in packet.records:
                try:
                    readings += teltonika.readings_of(device_id, record)
                except Rejected as exc:
                    # Acknowledged all the same: resending the record would not mend it.
                    logger.warning("teltonika %s: record refused: %s", device_id, exc)
            self._rates.take(device_id, len(readings))
            stored = await self._intake.store(readings, self.protocol)
            writer.write(teltonika.encode_ack(len(packet.records)))
            await writer.drain()
            logger.debug(
                "teltonika %s: %d records, %d readings new, %d duplicate, %d refused",
                device_id,
                len(packet.records),
                stored.new,
                stored.duplicates,
                stored.rejected,
            )

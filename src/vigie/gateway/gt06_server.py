"""The GT06 (Concox) TCP server: login first, then location, heartbeat and alarm packets.

As for Teltonika, whatever a connection does wrong ends that connection only, with its logged
reason, and a packet is acknowledged (login, heartbeat, alarm; GT06 does not acknowledge
locations) only once its readings are stored.
"""

from __future__ import annotations

import asyncio
import logging

from vigie import clock
from vigie.gateway import gt06
from vigie.gateway.connections import TrackerServer
from vigie.gateway.readings import Rejected

logger = logging.getLogger(__name__)


class Gt06Server(TrackerServer):
    """Serves GT06 (Concox) trackers on one TCP port."""

    protocol = "gt06"
    frame_errors = (gt06.Gt06Error,)

    async def _frame(self, reader: asyncio.StreamReader, idle_s: float) -> gt06.Frame:
        async with asyncio.timeout(idle_s):
            start = await reader.readexactly(2)
        async with asyncio.timeout(self._limits.frame_timeout_s):
            length = await reader.readexactly(gt06.header_size(start))
            rest = await reader.readexactly(gt06.rest_size(length))
        return gt06.decode_frame(start + length + rest)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        limits = self._limits
        login = await self._frame(reader, limits.frame_timeout_s)
        if login.protocol != gt06.LOGIN:
            raise gt06.Gt06Error(f"first packet is {login.protocol:#04x}, expected a login")
        device = await asyncio.to_thread(
            self._registry.lookup, gt06.decode_login(login.content), self.protocol, peer
        )
        writer.write(gt06.encode_ack(login))
        await writer.drain()
        logger.info("gt06 %s is device %s (case %s)", peer, device.id, device.case_ref)
        serials = iter(range(1, 1 << 62))

        def send(command_id: int, text: str) -> None:
            # The server flag is the command's id: the device's reply names it.
            writer.write(gt06.encode_command(command_id, text, next(serials)))

        if self._commands is not None:
            self._commands.attach(device.id, self.protocol, send)
        try:
            await self._packets(reader, writer, device.id)
        finally:
            if self._commands is not None:
                self._commands.detach(device.id, send)

    async def _packets(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, device_id: str
    ) -> None:
        limits = self._limits
        while True:
            frame = await self._frame(reader, limits.idle_timeout_s)
            if frame.protocol == gt06.COMMAND_REPLY:
                flag, text = gt06.decode_command(frame.content)
                if self._commands is not None:
                    await self._commands.answered(device_id, text, command_id=flag)
                continue
            try:
                if frame.protocol == gt06.HEARTBEAT:
                    readings = gt06.status_readings(device_id, clock.now(), frame)
                else:
                    readings = gt06.readings_of(device_id, frame)
            except gt06.Gt06Error as exc:
                # A packet whose content is wrong is not resent mended: logged, acknowledged.
                logger.warning("gt06 %s: packet %#04x refused: %s", device_id, frame.protocol, exc)
                readings = []
            except Rejected as exc:
                logger.warning("gt06 %s: packet refused: %s", device_id, exc)
                readings = []
            if readings:
                self._rates.take(device_id, len(readings))
                await self._intake.store(readings, self.protocol)
            if frame.protocol in gt06.ACKED:
                writer.write(gt06.encode_ack(frame))
                await writer.drain()

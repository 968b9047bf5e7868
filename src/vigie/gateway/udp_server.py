"""The Teltonika UDP listener: each datagram stored, then acknowledged; no connection to hold.

A datagram names its device (no handshake), so each one is looked up in the registry. What is
wrong with one datagram (framing, unknown IMEI, over the device's rate) is logged and left
unanswered: the device resends, and a datagram the centre will never take costs it nothing
more. At most `max_connections` datagrams are in hand at once; more are dropped (logged), so a
flood cannot queue without bound.
"""

from __future__ import annotations

import asyncio
import logging

from vigie.gateway import teltonika, teltonika_udp
from vigie.gateway.intake import Intake
from vigie.gateway.limits import Limits, RateExceeded, RateLimiter
from vigie.gateway.readings import Rejected
from vigie.gateway.registry import Registry, UnknownDevice

logger = logging.getLogger(__name__)


class TeltonikaUdpServer(asyncio.DatagramProtocol):
    """Serves Teltonika Codec 8/8E/16 trackers on one UDP port."""

    protocol = "teltonika-udp"

    def __init__(
        self, intake: Intake, registry: Registry, limits: Limits, rates: RateLimiter
    ) -> None:
        self._intake = intake
        self._registry = registry
        self._limits = limits
        self._rates = rates
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        return int(transport.get_extra_info("sockname")[1])

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        if len(self._tasks) >= self._limits.max_connections:
            logger.warning("teltonika-udp %s dropped: %d datagrams in hand", addr, len(self._tasks))
            return
        task = asyncio.get_running_loop().create_task(self._handle(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            datagram = teltonika_udp.decode_datagram(data)
            device = await asyncio.to_thread(self._registry.lookup, datagram.imei)
            readings = []
            for record in datagram.packet.records:
                try:
                    readings += teltonika.readings_of(device.id, record)
                except Rejected as exc:
                    logger.warning("teltonika-udp %s: record refused: %s", device.id, exc)
            self._rates.take(device.id, len(readings))
            await self._intake.store(readings, self.protocol)
        except (teltonika.FrameError, UnknownDevice, RateExceeded) as exc:
            logger.warning("teltonika-udp %s refused: %s", addr, exc)
            return
        except Exception:
            # Not acknowledged: the device will resend.
            logger.exception("teltonika-udp %s: datagram could not be stored", addr)
            return
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(teltonika_udp.encode_ack(datagram), addr)

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
from vigie.gateway.command_delivery import CommandDelivery, Send
from vigie.gateway.intake import Intake
from vigie.gateway.limits import Limits, RateExceeded, RateLimiter
from vigie.gateway.readings import Rejected
from vigie.gateway.registry import Registry, UnknownDevice

logger = logging.getLogger(__name__)

REACHABLE_S = 20.0  # after a device's datagram, under the usual 30 s of a carrier's NAT binding


class TeltonikaUdpServer(asyncio.DatagramProtocol):
    """Serves Teltonika Codec 8/8E/16 trackers on one UDP port, and their Codec 12 commands."""

    protocol = "teltonika-udp"

    def __init__(
        self,
        intake: Intake,
        registry: Registry,
        limits: Limits,
        rates: RateLimiter,
        commands: CommandDelivery | None = None,
        reachable_s: float = REACHABLE_S,
    ) -> None:
        self._intake = intake
        self._registry = registry
        self._limits = limits
        self._rates = rates
        self._commands = commands
        self._reachable_s = reachable_s
        self._links: dict[str, tuple[Send, asyncio.TimerHandle]] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        self._transport = transport
        return int(transport.get_extra_info("sockname")[1])

    async def stop(self) -> None:
        for device_id, (send, timer) in list(self._links.items()):
            timer.cancel()
            self._unreachable(device_id, send)
        if self._transport is not None:
            self._transport.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(self._tasks) >= self._limits.max_connections:
            logger.warning("teltonika-udp %s dropped: %d datagrams in hand", addr, len(self._tasks))
            return
        task = asyncio.get_running_loop().create_task(self._handle(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            datagram = teltonika_udp.decode(data)
            device = await asyncio.to_thread(
                self._registry.lookup, datagram.imei, self.protocol, addr
            )
            if isinstance(datagram, teltonika_udp.Message):
                self._rates.take(device.id, 1)  # a reply costs a write too
                await self._message(device.id, datagram)
            else:
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
        if self._transport is None or self._transport.is_closing():
            return
        if isinstance(datagram, teltonika_udp.Datagram):
            self._transport.sendto(teltonika_udp.encode_ack(datagram), addr)
        self._reachable(device.id, datagram.imei, addr)

    async def _message(self, device_id: str, message: teltonika_udp.Message) -> None:
        if message.kind != teltonika.REPLY:
            logger.warning("teltonika-udp %s sent a command, not a reply: ignored", device_id)
        elif self._commands is not None:
            await self._commands.answered(device_id, message.text)

    def _reachable(self, device_id: str, imei: str, addr: tuple[str, int]) -> None:
        """Commands for the device go to `addr` (its newest) for the next `reachable_s`."""
        if self._commands is None:
            return
        old = self._links.pop(device_id, None)
        if old is not None:
            old[1].cancel()
            self._commands.detach(device_id, old[0])
        transport = self._transport

        def send(command_id: int, text: str) -> None:
            if transport is None or transport.is_closing():
                raise ConnectionError("the UDP listener is closed")
            # The packet ids carry the command's, as far as they hold it.
            frame = teltonika_udp.encode_message(
                imei, text, teltonika.COMMAND, command_id & 0xFFFF, command_id & 0xFF
            )
            transport.sendto(frame, addr)

        timer = asyncio.get_running_loop().call_later(
            self._reachable_s, self._unreachable, device_id, send
        )
        self._links[device_id] = (send, timer)
        self._commands.attach(device_id, self.protocol, send)

    def _unreachable(self, device_id: str, send: Send) -> None:
        link = self._links.get(device_id)
        if link is not None and link[0] is send:
            del self._links[device_id]
        if self._commands is not None:
            self._commands.detach(device_id, send)

"""What every stream server of the gateway does alike: one asyncio task per connection, a cap
on open connections, a stop that ends them all, and a logged reason for every connection that
ends. The protocol servers (Teltonika TCP, OsmAnd HTTP) say only how to serve a connection and
how to name what ended it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from abc import ABC, abstractmethod

from vigie.gateway.command_delivery import CommandDelivery
from vigie.gateway.intake import Intake
from vigie.gateway.limits import ConnectionSlots, Limits, RateExceeded, RateLimiter
from vigie.gateway.registry import Registry, UnknownDevice

logger = logging.getLogger(__name__)


class ConnectionServer(ABC):
    """A gateway server on one TCP port, in TLS when given a context; `protocol` names it in the
    logs and as the source of what it stores (with "-tls" for a TLS listener)."""

    protocol: str

    def __init__(
        self,
        intake: Intake,
        registry: Registry,
        limits: Limits,
        rates: RateLimiter,
        tls: ssl.SSLContext | None = None,
        commands: CommandDelivery | None = None,
    ) -> None:
        self._tls = tls
        self._commands = commands
        if tls is not None:
            self.protocol = f"{type(self).protocol}-tls"
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
            self._accept,
            host,
            port,
            backlog=self._limits.max_connections,
            ssl=self._tls,
            # A TLS handshake is a frame like any other: a slow one holds no slot for long.
            ssl_handshake_timeout=self._limits.frame_timeout_s if self._tls else None,
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
            logger.warning(
                "%s %s refused: %d connections open", self.protocol, peer, self._slots.limit
            )
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
            logger.info("%s %s closed: the gateway is stopping", self.protocol, peer)
        except Exception as exc:  # every failure ends this connection only, with its reason
            self._log_end(peer, exc)
        finally:
            self._connections.discard(task)
            self._slots.release()
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1)

    @abstractmethod
    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        """Serve one connection until it ends."""

    @abstractmethod
    def _log_end(self, peer: object, exc: Exception) -> None:
        """Log why a connection ended on `exc` (at warning for the device's fault)."""


class TrackerServer(ConnectionServer):
    """A server of trackers that speak binary frames (Teltonika, GT06), which end a connection
    alike: the device's fault (one of its protocol's `frame_errors`, an unknown device, a device
    over its rate), silence, a disconnection, or storage failing."""

    frame_errors: tuple[type[Exception], ...] = ()

    def _log_end(self, peer: object, exc: Exception) -> None:
        name = type(self).protocol
        if isinstance(exc, (*self.frame_errors, UnknownDevice, RateExceeded)):
            logger.warning("%s %s closed: %s", name, peer, exc)
        elif isinstance(exc, TimeoutError):
            logger.warning("%s %s closed: nothing whole within the time allowed", name, peer)
        elif isinstance(exc, asyncio.IncompleteReadError | ConnectionError):
            logger.info("%s %s disconnected: %s", name, peer, exc or type(exc).__name__)
        else:
            # Storage failed: no acknowledgement went out, so the device will resend.
            logger.error("%s %s closed: its packet could not be stored", name, peer, exc_info=exc)

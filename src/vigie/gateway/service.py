"""The gateway as one service: intake, registry, and the servers of each protocol on one loop."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigie.gateway.broker_logins import BrokerLogins
from vigie.gateway.command_delivery import CommandDelivery
from vigie.gateway.gt06_server import Gt06Server
from vigie.gateway.http_server import OsmAndServer
from vigie.gateway.intake import Intake, Sink
from vigie.gateway.limits import Limits, RateLimiter
from vigie.gateway.mqtt_client import MqttSubscriber
from vigie.gateway.registry import Registry
from vigie.gateway.tcp_server import TeltonikaServer
from vigie.gateway.udp_server import REACHABLE_S, TeltonikaUdpServer
from vigie.store import Database

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listen:
    """Where to serve; a port of 0 picks a free one, None leaves that protocol off.

    The Teltonika TLS listener needs `tls_cert` and `tls_key` (PEM files); the MQTT broker, the
    gateway's account on it (`mqtt_credentials`: username, password). `mqtt_failover`: the other
    nodes of the broker's cluster, tried in turn when the one in use is lost.
    """

    host: str = "127.0.0.1"
    teltonika_port: int | None = 5027
    osmand_port: int | None = 5055
    mqtt_broker: tuple[str, int] | None = None
    mqtt_credentials: tuple[str, str] | None = None
    teltonika_tls_port: int | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    teltonika_udp_port: int | None = None
    gt06_port: int | None = None
    mqtt_failover: tuple[tuple[str, int], ...] = ()

    def tls_context(self) -> ssl.SSLContext:
        if self.tls_cert is None or self.tls_key is None:
            raise ValueError("a TLS listener needs a certificate and its key (PEM files)")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


@dataclass(frozen=True)
class Bound:
    """The ports actually listened on."""

    teltonika_port: int | None
    osmand_port: int | None
    teltonika_tls_port: int | None = None
    teltonika_udp_port: int | None = None
    gt06_port: int | None = None


class Gateway:
    """Every protocol's server sharing one intake (group commits) and one device registry."""

    def __init__(
        self,
        database: Database,
        limits: Limits | None = None,
        on_stored: Callable[[], None] | None = None,
        mqtt_client_id: str = "vigie-gateway",
        command_poll_s: float = 1.0,
        udp_reachable_s: float = REACHABLE_S,
        sink: Sink | None = None,
        registry: Registry | None = None,
        broker_logins: BrokerLogins | None = None,
    ) -> None:
        """`udp_reachable_s`: how long after its datagram a UDP tracker is sent commands.
        `sink` and `registry` replace the database's (cluster mode: the stream and the device
        directory, vigie.cluster.ingest). `broker_logins`: the Mosquitto this gateway started,
        whose logins it keeps to the devices' secrets (a withdrawn device's session closed)."""
        self.limits = limits or Limits()
        self.intake = Intake(
            database,
            self.limits.bounds,
            on_stored=on_stored,
            sink=sink,
            retry_s=self.limits.db_retry_s,
        )
        self.registry = registry or Registry(database, retry_s=self.limits.db_retry_s)
        self._rates = RateLimiter(self.limits.rate_per_s, self.limits.burst)
        self._mqtt_client_id = mqtt_client_id
        self.commands = CommandDelivery(database, command_poll_s)
        self._broker_logins = broker_logins
        self._udp_reachable_s = udp_reachable_s
        self.mqtt: MqttSubscriber | None = None  # the MQTT side, once started
        self._servers: list[
            TeltonikaServer | OsmAndServer | MqttSubscriber | TeltonikaUdpServer | Gt06Server
        ] = []

    async def start(self, listen: Listen) -> Bound:
        await self.intake.start()
        await self.commands.start()
        if self._broker_logins is not None:
            await self._broker_logins.start()
        args = (self.intake, self.registry, self.limits, self._rates)
        commands = self.commands
        teltonika = osmand = teltonika_tls = None
        if listen.teltonika_port is not None:
            server = TeltonikaServer(*args, commands=commands)
            teltonika = await server.start(listen.host, listen.teltonika_port)
            self._servers.append(server)
            logger.info("Teltonika Codec 8/8E/16 on %s:%d", listen.host, teltonika)
        if listen.teltonika_tls_port is not None:
            secure = TeltonikaServer(*args, tls=listen.tls_context(), commands=commands)
            teltonika_tls = await secure.start(listen.host, listen.teltonika_tls_port)
            self._servers.append(secure)
            logger.info("Teltonika Codec 8/8E over TLS on %s:%d", listen.host, teltonika_tls)
        teltonika_udp = None
        if listen.teltonika_udp_port is not None:
            udp = TeltonikaUdpServer(*args, commands, self._udp_reachable_s)
            teltonika_udp = await udp.start(listen.host, listen.teltonika_udp_port)
            self._servers.append(udp)
            logger.info("Teltonika Codec 8/8E/16 over UDP on %s:%d", listen.host, teltonika_udp)
        gt06 = None
        if listen.gt06_port is not None:
            concox = Gt06Server(*args, commands=commands)
            gt06 = await concox.start(listen.host, listen.gt06_port)
            self._servers.append(concox)
            logger.info("GT06 (Concox) on %s:%d", listen.host, gt06)
        if listen.osmand_port is not None:
            http = OsmAndServer(*args, commands=commands)
            osmand = await http.start(listen.host, listen.osmand_port)
            self._servers.append(http)
            logger.info("OsmAnd HTTP on http://%s:%d/", listen.host, osmand)
        if listen.mqtt_broker is not None:
            if listen.mqtt_credentials is None:
                raise ValueError("the MQTT broker admits no anonymous client: give credentials")
            subscriber = MqttSubscriber(
                *args,
                client_id=self._mqtt_client_id,
                credentials=listen.mqtt_credentials,
                commands=commands,
            )
            await subscriber.start(*listen.mqtt_broker, *listen.mqtt_failover)
            self._servers.append(subscriber)
            self.mqtt = subscriber
        return Bound(teltonika, osmand, teltonika_tls, teltonika_udp, gt06)

    async def stop(self) -> None:
        for server in reversed(self._servers):
            await server.stop()
        self._servers.clear()
        self.mqtt = None
        if self._broker_logins is not None:
            await self._broker_logins.stop()
        await self.commands.stop()
        await self.intake.stop()


class GatewayThread:
    """The gateway on its own event loop in a background thread (the demo, tests, the bench)."""

    def __init__(self, gateway: Gateway, listen: Listen) -> None:
        self.gateway = gateway
        self._listen = listen
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> Bound:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self.gateway.start(self._listen), self._loop)
        return started.result(timeout=60)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.stop(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

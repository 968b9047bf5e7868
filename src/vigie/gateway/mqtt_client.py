"""The gateway's MQTT side: a QoS 1 subscription acknowledged only after storage.

paho-mqtt's manual acknowledgement holds each PUBACK until `Intake` has stored the message
(or refused it for good: malformed, unknown device, over rate; logged). A persistent session
(fixed client id, clean_session false) makes the broker keep and resend what was not
acknowledged when the gateway was down. paho runs its network loop on its own thread; messages
are handed to the gateway's asyncio loop.

Without a single broker (the MQTT listener of a NATS JetStream cluster, where the session lives
in R3 streams, docs/production-mqtt.md) the subscriber is given every node's address and, when
its connection drops or a node refuses it, connects to the next one: the session and what it
had not acknowledged follow it. Such a broker also redelivers a message left unacknowledged for
its `ack_wait`; a redelivery of a message still being stored joins it rather than storing again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from vigie.gateway import mqtt
from vigie.gateway.command_delivery import CommandDelivery
from vigie.gateway.intake import Intake
from vigie.gateway.limits import Limits, RateExceeded, RateLimiter
from vigie.gateway.readings import Rejected
from vigie.gateway.registry import Registry, UnknownDevice

logger = logging.getLogger(__name__)
RETRY_MAX_S = 30.0


class MqttSubscriber:
    """Subscribes to every device's topic on a broker and stores what arrives."""

    def __init__(
        self,
        intake: Intake,
        registry: Registry,
        limits: Limits,
        rates: RateLimiter,
        client_id: str = "vigie-gateway",
        credentials: tuple[str, str] | None = None,
        commands: CommandDelivery | None = None,
    ) -> None:
        self._commands = commands
        self._intake = intake
        self._registry = registry
        self._limits = limits
        self._rates = rates
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[concurrent.futures.Future[None]] = set()
        # A message being stored, by content: a broker's redelivery joins it (its ack too).
        self._storing: dict[tuple[str, bytes], concurrent.futures.Future[None]] = {}
        self._brokers: list[tuple[str, int]] = []
        self._next = 0
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self._refused: str | None = None
        self._stopping = False
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            manual_ack=True,
        )
        if credentials is not None:
            self._client.username_pw_set(*credentials)
        # paho's hint says int, but its reconnect wait adds the delay to a float clock: the
        # first retry after 0.1 s keeps a broker's failover short (tests/mqtt_ha).
        self._client.reconnect_delay_set(0.1, 2)  # type: ignore[arg-type]
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    async def start(self, host: str, port: int, *more: tuple[str, int]) -> None:
        """Subscribe on `host`:`port`, or on the `more` nodes of its cluster when it is down."""
        self._loop = asyncio.get_running_loop()
        self._brokers = [(host, port), *more]
        self._connect_next()
        self._client.loop_start()
        where = ", ".join(f"{h}:{p}" for h, p in self._brokers)
        if not await asyncio.to_thread(self.subscribed.wait, 30):
            raise ConnectionError(f"no MQTT subscription on {where} within 30 s")
        if self._refused is not None:
            self._client.loop_stop()
            raise ConnectionError(f"the MQTT broker on {where} refused: {self._refused}")

    @property
    def storing(self) -> int:
        """Messages received and not yet stored (nor refused)."""
        with self._lock:
            return len(self._storing)

    @property
    def broker(self) -> tuple[str, int]:
        """The broker connected to, or tried next."""
        return self._brokers[(self._next - 1) % len(self._brokers)]

    def _connect_next(self) -> None:
        """Point paho's next (re)connection at the next broker of the list."""
        host, port = self._brokers[self._next % len(self._brokers)]
        self._next += 1
        self._client.connect_async(host, port, keepalive=30)

    async def stop(self) -> None:
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()
        await asyncio.gather(*(asyncio.wrap_future(f) for f in pending), return_exceptions=True)

    # paho's thread ------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            logger.error("MQTT broker %s:%d refused the gateway: %s", *self.broker, reason)
            # Refused credentials at start: fail now, not after a 30 s wait. Otherwise (a node
            # that cannot serve now, without quorum) the disconnection moves on to the next.
            if reason.value in (134, 135) and not self.subscribed.is_set():
                self._refused = str(reason)
                client.disconnect()
                self.subscribed.set()
            return
        logger.info("MQTT: connected to %s:%d", *self.broker)
        client.subscribe([(mqtt.TOPIC_FILTER, 1), (mqtt.REPLY_FILTER, 1)])

    def _on_connect_fail(self, _client: paho.Client, _u: Any) -> None:
        logger.warning("MQTT broker %s:%d unreachable", *self.broker)
        self._connect_next()

    def _on_disconnect(self, _client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self._loop is not None and not self._stopping:
            logger.warning("MQTT broker %s:%d lost (%s)", *self.broker, reason)
            self._connect_next()

    def _on_subscribe(self, *_args: Any) -> None:
        logger.info("MQTT: subscribed to %s", mqtt.TOPIC_FILTER)
        self.subscribed.set()

    def _on_message(self, client: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        assert self._loop is not None
        topic, payload, mid, qos = message.topic, bytes(message.payload), message.mid, message.qos

        def acknowledge(done: Any) -> None:
            with self._lock:
                self._pending.discard(done)
                if self._storing.get((topic, payload)) is done:
                    del self._storing[(topic, payload)]
            if not done.cancelled() and done.exception() is None:
                client.ack(mid, qos)

        with self._lock:
            future = self._storing.get((topic, payload))
            if future is not None:
                logger.info("mqtt %s: delivered again while being stored; joined", topic[:80])
            else:
                future = asyncio.run_coroutine_threadsafe(self._handle(topic, payload), self._loop)
                self._storing[(topic, payload)] = future
                self._pending.add(future)
        future.add_done_callback(acknowledge)

    # the gateway's loop ----------------------------------------------------------------

    async def _handle(self, topic: str, payload: bytes) -> None:
        """Store a message, or refuse it for good; returns when it may be acknowledged."""
        if mqtt.is_reply(topic):
            await self._reply(topic, payload)
            return
        try:
            if len(payload) > self._limits.max_body_bytes:
                raise Rejected(f"{len(payload)} bytes; at most {self._limits.max_body_bytes}")
            device, readings = mqtt.decode_message(topic, payload)
            registered = await asyncio.to_thread(self._registry.lookup, device, "mqtt", topic[:80])
            self._rates.take(registered.id, len(readings))
        except (Rejected, RateExceeded) as exc:
            logger.warning("mqtt %s refused: %s", topic[:80], exc)
            return
        except UnknownDevice:
            return  # logged by the registry
        except Exception:
            # Not acknowledged: the broker delivers it again when the gateway reconnects.
            logger.exception("mqtt %s: the device registry could not be read", topic[:80])
            raise
        if self._commands is not None:
            self._commands.attach(registered.id, "mqtt", self._publisher(registered.id))
        delay = 0.5
        while True:
            try:
                await self._intake.store(readings, "mqtt")
                return
            except Exception:
                # Unacknowledged, the message is still the broker's: keep trying to store it.
                logger.exception("mqtt %s: storing failed; retrying in %.1f s", device, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _publisher(self, device: str) -> Callable[[int, str], None]:
        topic = mqtt.command_topic(device)

        def send(_command_id: int, text: str) -> None:
            # QoS 1: the broker keeps it for a unit with a persistent session.
            info = self._client.publish(topic, text, qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise ConnectionError(f"publish to {topic} failed: {paho.error_string(info.rc)}")

        return send

    async def _reply(self, topic: str, payload: bytes) -> None:
        try:
            device, command_id, text = mqtt.decode_reply(topic, payload)
        except Rejected as exc:
            logger.warning("mqtt %s refused: %s", topic[:80], exc)
            return
        if self._commands is not None:
            await self._commands.answered(device, text, command_id=command_id)

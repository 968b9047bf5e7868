"""Publish, then acknowledge: a device message becomes a stream message before the device hears
"stored".

One stream message per device message (a Teltonika packet, an OsmAnd request, an MQTT message),
carrying its readings in the replay format, with a `Nats-Msg-Id` made of the device and a hash of
the readings' dedup keys: a device resending what it already sent (after a lost ack) gives the
same id, which the stream recognises within its dedupe window and stores once. The PubAck of an
R3 stream comes once a majority of nodes stored the message; without it (two nodes of three down,
the stream full) the publisher retries with the same id until `publish_deadline_s`, then gives up
so the gateway closes the connection without acknowledging: the device keeps its data.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext

from vigie.cluster.partitions import device_token, subject_for
from vigie.cluster.topology import STREAM
from vigie.gateway.intake import Stored

logger = logging.getLogger(__name__)
FORMAT = 1
# Readings per stream message at most (the servers' default largest message is 1 MB): a device
# message with more (an API batch) becomes several, each with its own id, all awaited.
MAX_READINGS_PER_MESSAGE = 500
MSG_ID = "Nats-Msg-Id"


class NotAcknowledged(RuntimeError):
    """The stream did not acknowledge within the deadline: the sender must not be acknowledged."""


@dataclass(frozen=True, slots=True)
class Published:
    """What one publish did: readings in messages the stream stored now, readings in messages it
    already had (resends, flagged duplicates), and the stream messages it took."""

    new: int
    duplicates: int
    messages: int


def message_id(device: str, dedup_keys: list[str]) -> str:
    """The id of a device message: the same readings, the same id, whatever their receipt time."""
    digest = hashlib.blake2b(digest_size=16)
    for key in dedup_keys:
        digest.update(key.encode())
        digest.update(b"\0")
    return f"{device_token(device)}:{digest.hexdigest()}"


def encode(
    device: str, rows: list[dict[str, Any]], received_at: datetime, source: str, gateway: str
) -> bytes:
    """The stream message: the records as received (replay format), their source and receipt.
    A worker rebuilds the archive rows with `vigie.store.observations.row_for`."""
    message = {
        "v": FORMAT,
        "device": device,
        "source": source,
        "received_at": received_at.isoformat(),
        "gateway": gateway,
        "readings": [row["payload"] for row in rows],
    }
    return json.dumps(message, separators=(",", ":"), default=str).encode()


def decode(data: bytes) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(data)
    if message.get("v") != FORMAT:
        raise ValueError(f"stream message format {message.get('v')!r}, expected {FORMAT}")
    return message


class ObservationPublisher:
    """Publishes device messages to `VIGIE_OBS` and waits for the stream's acknowledgement."""

    def __init__(
        self,
        js: JetStreamContext,
        gateway: str,
        deadline_s: float = 12.0,
        attempt_timeout_s: float = 2.0,
        retry_pause_s: float = 0.1,
    ) -> None:
        self._js = js
        self._gateway = gateway
        self._deadline_s = deadline_s
        self._attempt_timeout_s = attempt_timeout_s
        self._retry_pause_s = retry_pause_s
        self.retries = 0  # publishes tried again (a metric: leader elections show here)

    async def publish(self, device: str, partition: int, rows: list[dict[str, Any]]) -> Published:
        """Publish the rows of one device message (rows of `vigie.store.observations.row_for`,
        one device, one source and receipt time) and return once the stream has them all.

        Raises `NotAcknowledged` after `deadline_s` without the stream's acknowledgement."""
        if not rows:
            return Published(0, 0, 0)
        deadline = time.monotonic() + self._deadline_s
        subject = subject_for(partition, device)
        new = duplicates = messages = 0
        for start in range(0, len(rows), MAX_READINGS_PER_MESSAGE):
            chunk = rows[start : start + MAX_READINGS_PER_MESSAGE]
            ident = message_id(device, [row["dedup_key"] for row in chunk])
            data = encode(device, chunk, chunk[0]["received_at"], chunk[0]["source"], self._gateway)
            if await self._publish(subject, data, ident, deadline):
                duplicates += len(chunk)
            else:
                new += len(chunk)
            messages += 1
        return Published(new, duplicates, messages)

    async def _publish(self, subject: str, data: bytes, ident: str, deadline: float) -> bool:
        """Publish until acknowledged (same id every time); whether it was a duplicate."""
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotAcknowledged(
                    f"{subject}: the stream did not acknowledge message {ident} within "
                    f"{self._deadline_s:g} s ({attempt} attempts)"
                )
            attempt += 1
            try:
                ack = await self._js.publish(
                    subject,
                    data,
                    timeout=min(self._attempt_timeout_s, remaining),
                    stream=STREAM,
                    headers={MSG_ID: ident},
                )
                return bool(ack.duplicate)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # no quorum, a leader election, the stream full, a blip
                self.retries += 1
                logger.warning("publish %s to %s failed (%r); retrying", ident, subject, exc)
                await asyncio.sleep(min(self._retry_pause_s, max(0.0, deadline - time.monotonic())))


class StreamSink:
    """The gateway's sink in cluster mode: each device message published, and the device
    acknowledged after the stream's acknowledgement (vigie.gateway.intake.Intake)."""

    def __init__(self, publisher: ObservationPublisher, route: Callable[[str], int]) -> None:
        """`route`: device -> partition (the directory's)."""
        self._publisher = publisher
        self._route = route

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def put(self, rows: list[dict[str, Any]], rejected: int) -> Stored:
        by_device: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_device.setdefault(row["device"], []).append(row)
        new = duplicates = 0
        for device, own in by_device.items():
            done = await self._publisher.publish(device, self._route(device), own)
            new += done.new
            duplicates += done.duplicates
        return Stored(new, duplicates, rejected)

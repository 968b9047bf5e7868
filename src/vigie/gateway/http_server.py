"""The OsmAnd / Traccar Client HTTP server (h11 over asyncio): 200 only once stored.

HTTP/1.1 is parsed by h11; the connection handling is ours so that the gateway's limits apply
to the byte: a request must arrive whole, head and body, within `frame_timeout_s` of its first
byte (slow-loris), a body larger than `max_body_bytes` is refused before it is read, an idle
keep-alive connection is closed.
Every request names its device and carries the device's secret as the ``key`` parameter: a
request for an unregistered device, or without the right key, is refused (403) and logged, and
a wrong key for a registered device is audited (someone is posing as it).
Answers: 200 stored (also when some of its readings were refused as implausible and logged:
the rest is kept, and a 400 would make the app resend for ever), 400 malformed or nothing
plausible, 403 unknown device or wrong key, 413 too large, 429 over
the device's rate, 503 the store failed (the app retries, as for any answer but 200).
"""

from __future__ import annotations

import asyncio
import logging
from zoneinfo import ZoneInfo

import h11

from vigie import clock
from vigie.gateway import osmand
from vigie.gateway.connections import ConnectionServer
from vigie.gateway.limits import RateExceeded
from vigie.gateway.readings import Rejected
from vigie.gateway.registry import UnknownDevice, WrongSecret
from vigie.store.failover import DatabaseUnavailable

logger = logging.getLogger(__name__)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _cannot_send(_command_id: int, _text: str) -> None:
    raise RuntimeError("an OsmAnd device takes no command")


class OsmAndServer(ConnectionServer):
    """Serves phones running Traccar Client (OsmAnd protocol) on one HTTP port."""

    protocol = "osmand"

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self._limits.local_zone)

    def _log_end(self, peer: object, exc: Exception) -> None:
        if isinstance(exc, TimeoutError):
            logger.warning("osmand %s closed: idle, or a request not whole in time", peer)
        elif isinstance(exc, ConnectionError | h11.ProtocolError):
            logger.info("osmand %s closed: %s", peer, exc)
        else:
            logger.error("osmand %s closed on an unexpected error", peer, exc_info=exc)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object
    ) -> None:
        limits = self._limits
        loop = asyncio.get_running_loop()
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=16 * 1024)
        while True:
            # Waiting for a next request is idleness; from its first byte, the whole request
            # (head and body) must arrive within the frame timeout: a head trickled a byte at a
            # time would otherwise hold its connection for as long as it likes.
            if connection.their_state is h11.IDLE and not connection.trailing_data[0]:
                async with asyncio.timeout(limits.idle_timeout_s):
                    connection.receive_data(await reader.read(16 * 1024))
            deadline = loop.time() + limits.frame_timeout_s
            async with asyncio.timeout_at(deadline):
                event = await self._next(connection, reader)
            if isinstance(event, h11.ConnectionClosed):
                return
            if not isinstance(event, h11.Request):
                raise h11.LocalProtocolError(f"expected a request, got {type(event).__name__}")
            status, reason = await self._answer(connection, reader, event, peer, deadline)
            body = reason.encode() + b"\n" if status != 200 else b""
            headers = [("content-type", "text/plain"), ("content-length", str(len(body)))]
            if status == 413:
                headers.append(("connection", "close"))
            writer.write(connection.send(h11.Response(status_code=status, headers=headers)) or b"")
            writer.write(connection.send(h11.Data(data=body)) or b"")
            writer.write(connection.send(h11.EndOfMessage()) or b"")
            await writer.drain()
            if connection.our_state is h11.MUST_CLOSE or connection.their_state is not h11.DONE:
                return
            connection.start_next_cycle()

    async def _next(self, connection: h11.Connection, reader: asyncio.StreamReader) -> object:
        """The next event, read as far as it takes: the caller bounds the time."""
        while True:
            event = connection.next_event()
            if event is not h11.NEED_DATA:
                return event
            connection.receive_data(await reader.read(16 * 1024))

    async def _answer(
        self,
        connection: h11.Connection,
        reader: asyncio.StreamReader,
        request: h11.Request,
        peer: object,
        deadline: float,
    ) -> tuple[int, str]:
        try:
            # The request whole by `deadline` (slow-loris); not what the centre does with it: a
            # slow lookup or store is answered (503 at worst), never a connection dropped
            # unanswered.
            async with asyncio.timeout_at(deadline):
                body = await self._body(connection, reader, request)
            device, readings, key = self._decode(request, body)
            registered = await asyncio.to_thread(
                self._registry.authenticate, device, key, self.protocol, peer
            )
            self._rates.take(registered.id, len(readings))
            if self._commands is not None:
                # Traccar Client reads nothing from the answer: its commands fail as unsupported.
                self._commands.attach(registered.id, self.protocol, _cannot_send)
        except _Refused as exc:
            logger.warning("osmand %s refused (%d): %s", peer, exc.status, exc)
            return exc.status, str(exc)
        except Rejected as exc:
            logger.warning("osmand %s refused (400): %s", peer, exc)
            return 400, str(exc)
        except (UnknownDevice, WrongSecret) as exc:
            return 403, str(exc)  # logged by the registry
        except DatabaseUnavailable as exc:  # the device could not be looked up: a failover
            logger.warning("osmand %s: %s", peer, exc)
            return 503, "the centre could not store this report; send it again"
        except RateExceeded as exc:
            logger.warning("osmand %s refused (429): %s", peer, exc)
            return 429, str(exc)
        try:
            stored = await self._intake.store(readings, self.protocol)
        except Exception:
            logger.exception("osmand %s: readings of %s could not be stored", peer, device)
            return 503, "the centre could not store this report; send it again"
        if stored.rejected and not stored.new + stored.duplicates:
            return 400, "implausible reading refused (see the gateway's log for the reason)"
        if stored.rejected:
            # Part kept: a 400 would make the app resend the whole report for ever.
            logger.warning(
                "osmand %s: %d reading(s) of %s refused, the rest stored; answered 200",
                peer,
                stored.rejected,
                device,
            )
        return 200, ""

    async def _body(
        self, connection: h11.Connection, reader: asyncio.StreamReader, request: h11.Request
    ) -> bytes:
        limit = self._limits.max_body_bytes
        for name, value in request.headers:
            if name == b"content-length" and int(value) > limit:
                raise _Refused(413, f"body of {int(value)} bytes; at most {limit}")
        body = bytearray()
        while True:
            event = await self._next(connection, reader)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    raise _Refused(413, f"body larger than {limit} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:
                raise _Refused(400, "request ended before its body")

    def _decode(
        self, request: h11.Request, body: bytes
    ) -> tuple[str, list[dict[str, object]], str | None]:
        """Device id, readings and the key the request carries."""
        if request.method not in (b"GET", b"POST"):
            raise _Refused(405, f"method {request.method.decode(errors='replace')} not allowed")
        _, _, query = request.target.partition(b"?")
        content_type = dict(request.headers).get(b"content-type", b"")
        text = query.decode("latin-1")
        received, zone = clock.now(), self._zone
        if body and content_type.startswith(b"application/json"):
            return (*osmand.decode_json(body), osmand.key_of(text))
        if body:
            text = f"{text}&{body.decode('latin-1')}" if text else body.decode("latin-1")
        return (*osmand.decode_form(text, received, zone), osmand.key_of(text))

"""The simulator's devices speaking real protocols to the gateway.

Replay-format `obs` records (what `vigie.sim` generates) become what a real device would send:
bracelets (``B…``) are Teltonika trackers (Codec 8 Extended over TCP by default; Codec 16 or
UDP datagrams on request, or GT06 for bracelets whose id is a numeric IMEI: `imei_of` gives
the demo's bracelets one), home units (``H…``)
publish JSON over MQTT, protected persons' phones (``P…``) run Traccar Client (OsmAnd HTTP).
Every device keeps what it sent until it is acknowledged and sends it again otherwise, as the
real ones do, and proves itself as the real ones must: the phone sends its secret as the
OsmAnd `key`, the home unit logs in to the broker under its id with its secret, the tracker is
known by its IMEI (over TLS when given a context).
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import struct
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from vigie.gateway import gt06, mqtt, osmand, teltonika, teltonika_udp
from vigie.gateway.teltonika import AvlRecord
from vigie.ports import free_port

MAX_RECORDS = 255  # per Teltonika packet
ACK_BYTES = 7  # a UDP acknowledgement (a command datagram is longer)
TRACKER_PROTOCOLS = ("teltonika", "codec16", "teltonika-udp", "gt06")
PHONE_TYPES = ("position", "battery", "sos")  # what Traccar Client sends


def _ms(record: dict[str, Any]) -> int:
    t = datetime.fromisoformat(record["t"].replace("Z", "+00:00"))
    return round(t.timestamp() * 1000)


def avl_record(record: dict[str, Any]) -> AvlRecord:
    """One replay `obs` record as the AVL record a Teltonika tracker would send."""
    kind = record["type"]
    io: dict[int, int | bytes] = {}
    lat = lon = 0.0
    satellites, event = 0, 0
    if kind == "position":
        lat, lon, satellites = record["lat"], record["lon"], 9
        io[teltonika.IO_HDOP] = max(1, round(record["accuracy_m"] / teltonika.UERE_M * 10))
    elif kind == "battery":
        io[teltonika.IO_BATTERY_PERCENT] = round(record["level"] * 100)
    elif kind == "power":
        io[teltonika.IO_EXTERNAL_MV] = 12_000 if record["mains"] else 0
        event = teltonika.IO_EXTERNAL_MV
    elif kind == "presence":
        io[teltonika.IO_PRESENCE] = int(record["present"])
        event = teltonika.IO_PRESENCE
    elif kind == "tamper":
        what = record["what"]
        strap = {"strap_open": 0, "strap_cut": 0, "strap_closed": 1, "restored": 1}
        case = {"case_open": 0, "case_closed": 1, "restored": 1}
        if what in strap:
            io[teltonika.IO_STRAP] = strap[what]
        if what in case:
            io[teltonika.IO_CASE] = case[what]
        event = teltonika.IO_STRAP if teltonika.IO_STRAP in io else teltonika.IO_CASE
    else:
        raise ValueError(f"observation type {kind!r} has no Teltonika form")
    return AvlRecord(_ms(record), 0, lon, lat, 35, 0, satellites, 0, event, io)


def teltonika_packets(
    records: list[dict[str, Any]], codec: int = teltonika.CODEC_8E
) -> list[bytes]:
    """A device's records as AVL packets of at most 255 records each."""
    avl = [avl_record(r) for r in records]
    return [
        teltonika.encode_packet(avl[i : i + MAX_RECORDS], codec)
        for i in range(0, len(avl), MAX_RECORDS)
    ]


def imei_of(device_id: str) -> str:
    """A 15-digit IMEI standing for a simulated device (its number, then a Luhn check digit, as
    real IMEIs end): a GT06 tracker logs in with nothing but its IMEI, as BCD digits."""
    digits = device_id.lstrip("BHP")
    if not digits.isdigit() or len(digits) > 12:
        raise ValueError(f"device {device_id!r} has no number of at most 12 digits")
    body = "35" + digits.rjust(12, "0")
    doubled = [int(c) * (2 if i % 2 else 1) for i, c in enumerate(body)]
    check = -sum(d // 10 + d % 10 for d in doubled) % 10
    return body + str(check)


def gt06_carries(record: dict[str, Any]) -> bool:
    """Whether a GT06 tracker can send this record: a fix, a battery level, a strap opened.

    GT06 has no report of a strap closed again: a bracelet's "restored" is not sent (its tamper
    alarm waits for the operator)."""
    kind = record["type"]
    return kind in ("position", "battery") or (
        kind == "tamper" and record["what"] in ("strap_open", "strap_cut")
    )


def gt06_frames(records: list[dict[str, Any]], first_serial: int = 1) -> list[tuple[bytes, bool]]:
    """Records as a GT06 tracker's packets, each with whether the gateway acknowledges it.

    Positions are location packets; an open strap is an alarm packet (strap removed, no fix);
    a battery level is a heartbeat (timed by its receipt: GT06 heartbeats carry no time).
    """
    out = []
    for serial, record in enumerate(records, first_serial):
        kind, t = record["type"], _t(record)
        if kind == "position":
            fix = gt06.Fix(t, record["lat"], record["lon"], 9, 0, 0, True)
            out.append((gt06.encode_location(fix, serial), False))
        elif kind == "tamper" and record["what"] in ("strap_open", "strap_cut"):
            status = gt06.Status(False, gt06.STATUS_REMOVED, 7, 4, 0)
            no_fix = gt06.Fix(t, 0.0, 0.0, 0, 0, 0, False)
            out.append((gt06.encode_alarm(no_fix, status, serial), True))
        elif kind == "battery":
            status = gt06.Status(False, 0, round(record["level"] * 6), 4, 0)
            out.append((gt06.encode_heartbeat(status, serial), True))
        else:
            raise ValueError(f"a GT06 tracker sends no {kind!r} observation of this kind")
    return out


def osmand_params(record: dict[str, Any], key: str | None = None) -> dict[str, str]:
    """One position, battery or SOS record as Traccar Client's query parameters (with the
    device's secret, `key`, when given: the app sends it as part of its server URL). Its SOS
    button sends `alarm=sos` (Traccar's ALARM_SOS)."""
    params = {"id": record["device"], "timestamp": str(_ms(record) // 1000)}
    if key is not None:
        params["key"] = key
    if record["type"] == "position":
        params |= {
            "lat": f"{record['lat']:.6f}",
            "lon": f"{record['lon']:.6f}",
            "accuracy": f"{record['accuracy_m']:.1f}",
        }
    elif record["type"] == "battery":
        params["batt"] = f"{record['level'] * 100:.1f}"
    elif record["type"] == "sos":
        params["alarm"] = osmand.SOS
    else:
        raise ValueError(f"Traccar Client sends no {record['type']!r} observation")
    return params


def mqtt_payload(records: list[dict[str, Any]]) -> bytes:
    """Records as one MQTT message (the topic names the device)."""
    return json.dumps(
        [{k: v for k, v in r.items() if k not in ("kind", "device")} for r in records]
    ).encode()


class TeltonikaTracker:
    """A tracker's TCP link: handshake once, then packets, each kept until acknowledged. Codec 12
    commands the gateway sends meanwhile are kept in `commands` (answered by `reply`)."""

    def __init__(
        self,
        host: str,
        port: int,
        imei: str,
        timeout_s: float = 30.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._address = (host, port)
        self.imei = imei
        self._timeout_s = timeout_s
        self._tls = tls
        self._sock: socket.socket | None = None
        self.commands: list[str] = []

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection(self._address, timeout=self._timeout_s)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
            sock.sendall(teltonika.encode_imei(self.imei))
            if sock.recv(1) != b"\x01":
                sock.close()
                raise ConnectionRefusedError(f"the gateway refused tracker {self.imei}")
            self._sock = sock
        return self._sock

    def send(self, packet: bytes) -> None:
        self._connect().sendall(packet)

    def ack(self) -> int:
        """The record count of the next acknowledgement. A command the gateway sent first
        begins with Codec 12's 4-byte zero preamble, which no acknowledgement is (the gateway
        acknowledges no empty packet): it is read whole and kept, and the reading goes on."""
        while True:
            head = self._exactly(4)
            (count,) = struct.unpack(">I", head)
            if count:
                return int(count)
            header = head + self._exactly(teltonika.HEADER_BYTES - 4)
            length = teltonika.data_length(header)
            frame = header + self._exactly(length + teltonika.CRC_BYTES)
            kind, text = teltonika.decode_message(teltonika.checked_data(frame))
            if kind == teltonika.COMMAND:
                self.commands.append(text)

    def _exactly(self, size: int) -> bytes:
        assert self._sock is not None
        data = _receive(self._sock, size)
        if len(data) != size:
            raise ConnectionResetError("the gateway closed the link before acknowledging")
        return data

    def reply(self, text: str) -> None:
        """Answer a command (Codec 12 type 0x06); the gateway does not acknowledge it."""
        self._connect().sendall(teltonika.encode_message(text, teltonika.REPLY))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class TeltonikaUdpTracker:
    """A tracker sending UDP datagrams: each resent until its acknowledgement comes. Codec 12
    commands the gateway sends after an acknowledgement are kept in `commands` (answered by
    `reply`)."""

    def __init__(self, host: str, port: int, imei: str, timeout_s: float = 2.0) -> None:
        self._address = (host, port)
        self.imei = imei
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.settimeout(timeout_s)
        self._packet_id = 0
        self.commands: list[str] = []

    def _next_id(self) -> int:
        self._packet_id = (self._packet_id + 1) & 0xFFFF
        return self._packet_id

    def send(self, records: list[AvlRecord], codec: int = teltonika.CODEC_8E) -> int:
        """Send one datagram; returns the record count acknowledged."""
        packet_id = self._next_id()
        datagram = teltonika_udp.encode_datagram(
            self.imei, records, codec, packet_id, packet_id & 0xFF
        )
        for _ in range(5):
            self._sock.sendto(datagram, self._address)
            try:
                return self._ack(packet_id)
            except TimeoutError:
                continue
        raise ConnectionError(f"UDP tracker {self.imei}: no acknowledgement after 5 sends")

    def _ack(self, packet_id: int) -> int:
        while True:
            data = self._sock.recv(teltonika_udp.MAX_DATAGRAM_BYTES)
            if len(data) != ACK_BYTES:
                self._keep_command(data)
                continue
            _, acked_id, _, _, count = struct.unpack(">HHBBB", data)
            if acked_id == packet_id:  # else the late ack of an earlier send
                return int(count)

    def _keep_command(self, data: bytes) -> None:
        message = teltonika_udp.decode(data)
        if not isinstance(message, teltonika_udp.Message) or message.imei != self.imei:
            raise ConnectionError(f"UDP tracker {self.imei}: unexpected datagram {data.hex()}")
        if message.kind == teltonika.COMMAND:
            self.commands.append(message.text)

    def command(self) -> str:
        """The oldest command not yet taken, waiting for it up to the timeout."""
        while not self.commands:
            self._keep_command(self._sock.recv(teltonika_udp.MAX_DATAGRAM_BYTES))
        return self.commands.pop(0)

    def reply(self, text: str) -> None:
        """Answer a command (Codec 12 type 0x06); the gateway does not acknowledge it."""
        packet_id = self._next_id()
        datagram = teltonika_udp.encode_message(
            self.imei, text, teltonika.REPLY, packet_id, packet_id & 0xFF
        )
        self._sock.sendto(datagram, self._address)

    def close(self) -> None:
        self._sock.close()


class Gt06Tracker:
    """A GT06 tracker's TCP link: login once (its IMEI), then packets. Commands (0x80) the
    gateway sends meanwhile are kept in `commands`, with their server flag (answered by
    `reply`)."""

    def __init__(self, host: str, port: int, imei: str, timeout_s: float = 30.0) -> None:
        self._address = (host, port)
        self.imei = imei
        self._timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._serial = 1
        self.commands: list[tuple[int, str]] = []

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection(self._address, timeout=self._timeout_s)
            sock.sendall(gt06.encode_login(self.imei, self._serial))
            if len(_receive(sock, 10)) != 10:
                sock.close()
                raise ConnectionRefusedError(f"the gateway refused GT06 tracker {self.imei}")
            self._sock = sock
        return self._sock

    def send(self, records: list[dict[str, Any]]) -> int:
        """Send the records' packets, waiting for each acknowledgement due; returns how many."""
        sock = self._connect()
        frames = gt06_frames(records, self._serial + 1)
        self._serial += len(frames)
        for frame, acknowledged in frames:
            sock.sendall(frame)
            if acknowledged:
                self._ack(sock)
        return len(frames)

    def _ack(self, sock: socket.socket) -> None:
        """Read up to the next acknowledgement, keeping the commands that come before it."""
        while True:
            start = _receive(sock, 2)
            size = gt06.header_size(start) if len(start) == 2 else 0
            length = _receive(sock, size)
            rest = _receive(sock, gt06.rest_size(length)) if size and len(length) == size else b""
            if not rest:
                raise ConnectionResetError(f"GT06 tracker {self.imei}: no acknowledgement")
            frame = gt06.decode_frame(start + length + rest)
            if frame.protocol != gt06.COMMAND:
                return
            self.commands.append(gt06.decode_command(frame.content))

    def reply(self, server_flag: int, text: str) -> None:
        """Answer a command (0x15), its server flag carried back."""
        self._serial += 1
        self._connect().sendall(gt06.encode_reply(server_flag, text, self._serial))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


class ProtocolFeeder:
    """Sends due records through the gateway, like the devices would (the demo's feeder);
    `keys` holds each phone's and home unit's secret."""

    def __init__(
        self,
        pending: list[dict[str, Any]],
        host: str,
        teltonika_port: int,
        osmand_port: int,
        mqtt_port: int,
        keys: Mapping[str, str],
        trackers: str = "teltonika",
    ) -> None:
        """`teltonika_port` is the trackers' port, of the protocol `trackers` names."""
        if trackers not in TRACKER_PROTOCOLS:
            raise ValueError(f"trackers {trackers!r}: one of {', '.join(TRACKER_PROTOCOLS)}")
        self._tracker_protocol = trackers
        self.not_carried = 0  # records the trackers' protocol has no form for (GT06)
        self._udp: dict[str, TeltonikaUdpTracker] = {}
        self._gt06: dict[str, Gt06Tracker] = {}
        self._pending = pending
        self._next = 0
        self._host = host
        self._teltonika_port = teltonika_port
        self._mqtt_port = mqtt_port
        self._keys = keys
        self._trackers: dict[str, TeltonikaTracker] = {}
        self._http = httpx.Client(base_url=f"http://{host}:{osmand_port}", timeout=30)
        self._publishers: dict[str, paho.Client] = {}
        # Commands the units and phones got on their MQTT topic (paho's thread appends).
        self._mqtt_commands: list[tuple[str, dict[str, Any]]] = []

    def _publisher(self, device: str) -> paho.Client:
        """The device's own MQTT session, logged in under its id with its secret."""
        client = self._publishers.get(device)
        if client is None:
            client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"vigie-sim-{device}")
            client.username_pw_set(device, self._keys[device])
            client.on_message = lambda _c, _u, message: self._mqtt_commands.append(
                (device, json.loads(message.payload))
            )
            client.connect(self._host, self._mqtt_port)
            client.subscribe(mqtt.command_topic(device), qos=1)
            client.loop_start()
            self._publishers[device] = client
        return client

    def send(self, now: datetime) -> int:
        """Send every record due by `now`; returns how many were acknowledged."""
        due: list[dict[str, Any]] = []
        while self._next < len(self._pending) and _t(self._pending[self._next]) <= now:
            due.append(self._pending[self._next])
            self._next += 1
        return self.send_records(due)

    def send_records(self, records: Iterable[dict[str, Any]]) -> int:
        by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            by_device[record["device"]].append(record)
        sent = 0
        waiting: list[tuple[TeltonikaTracker, bytes]] = []
        published = []
        for device, items in by_device.items():
            if device.startswith("P"):
                # Traccar Client reports positions, battery and SOS; anything else goes by MQTT.
                phone = [r for r in items if r["type"] in PHONE_TYPES]
                for record in phone:
                    params = osmand_params(record, self._keys[device])
                    response = self._http.get("/", params=params)
                    response.raise_for_status()
                    sent += 1
                items = [r for r in items if r["type"] not in PHONE_TYPES]
            if device.startswith(("H", "P")):
                if items:
                    info = self._publisher(device).publish(
                        mqtt.topic_for(device), mqtt_payload(items), qos=1
                    )
                    published.append((info, len(items)))
            elif self._tracker_protocol == "teltonika-udp":
                udp = self._udp.get(device)
                if udp is None:
                    udp = self._udp[device] = TeltonikaUdpTracker(
                        self._host, self._teltonika_port, device
                    )
                avl = [avl_record(r) for r in items]
                for i in range(0, len(avl), MAX_RECORDS):
                    sent += udp.send(avl[i : i + MAX_RECORDS])
            elif self._tracker_protocol == "gt06":
                concox = self._gt06.get(device)
                if concox is None:
                    concox = self._gt06[device] = Gt06Tracker(
                        self._host, self._teltonika_port, device
                    )
                carried = [r for r in items if gt06_carries(r)]
                self.not_carried += len(items) - len(carried)
                if carried:
                    sent += concox.send(carried)
            else:
                codec = teltonika.CODEC_16 if self._tracker_protocol == "codec16" else None
                tracker = self._trackers.get(device)
                if tracker is None:
                    tracker = TeltonikaTracker(self._host, self._teltonika_port, device)
                    self._trackers[device] = tracker
                for packet in teltonika_packets(items, codec or teltonika.CODEC_8E):
                    # All packets out first: the gateway stores them in one group commit.
                    tracker.send(packet)
                    waiting.append((tracker, packet))
        for tracker, packet in waiting:
            count = packet[9]  # the record count, after the 8-byte header and the codec id
            try:
                acked = tracker.ack()
            except OSError:
                # No acknowledgement: the packet may or may not be stored; send it again
                # (the gateway keeps it once either way).
                tracker.close()
                tracker.send(packet)
                acked = tracker.ack()
            if acked != count:
                raise ConnectionError(f"tracker {tracker.imei}: {acked} acknowledged of {count}")
            sent += count
        for info, count in published:
            info.wait_for_publish(timeout=30)
            sent += count
        self._answer_commands()
        return sent

    def _answer_commands(self) -> None:
        """Answer what the gateway asked the trackers, as the devices do (a rate change after
        an alarm, a fresh fix asked to confirm a breach)."""
        for tracker in self._trackers.values():
            while tracker.commands:
                tracker.reply(answer_to(tracker.commands.pop(0)))
        for udp in self._udp.values():
            while udp.commands:
                udp.reply(answer_to(udp.commands.pop(0)))
        for concox in self._gt06.values():
            while concox.commands:
                flag, text = concox.commands.pop(0)
                concox.reply(flag, answer_to(text))
        while self._mqtt_commands:
            device, command = self._mqtt_commands.pop(0)
            reply = {"id": command["id"], "reply": f"{command['kind']}: OK"}
            self._publisher(device).publish(mqtt.reply_topic(device), json.dumps(reply), qos=1)

    def close(self) -> None:
        links: list[TeltonikaTracker | TeltonikaUdpTracker | Gt06Tracker] = [
            *self._trackers.values(),
            *self._udp.values(),
            *self._gt06.values(),
        ]
        for link in links:
            link.close()
        self._http.close()
        # All told first, then joined: a client whose broker is gone sleeps up to a second
        # between its reconnections, and one joined after another made a stop take 25 s.
        for client in self._publishers.values():
            client.disconnect()
        for client in self._publishers.values():
            client.loop_stop()


def answer_to(command: str) -> str:
    """A simulated device's reply: what an FMB tracker answers to `setparam`, else a short
    acknowledgement naming the command."""
    if command.startswith("setparam "):
        return f"New value {command.removeprefix('setparam ')};"
    return f"{command.rstrip('#')}: OK"


def _t(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["t"].replace("Z", "+00:00"))


class DemoDevices:
    """The demo's devices through the real gateway: Mosquitto, the gateway's servers (on free
    ports of 127.0.0.1, storing into `database`), and a `ProtocolFeeder` driving them.

    Every registered device is issued a new secret at each run (audited), which the simulated
    devices use; the broker admits them and the gateway (its password new at each run) only.
    """

    def __init__(
        self, database: Any, pending: list[dict[str, Any]], trackers: str = "teltonika"
    ) -> None:
        from sqlalchemy import select

        from vigie.cases import device_secrets
        from vigie.gateway.broker import GATEWAY_USER, Mosquitto
        from vigie.gateway.broker_logins import BrokerLogins
        from vigie.gateway.service import Gateway, GatewayThread, Listen
        from vigie.store.models import Device

        gateway_password = secrets.token_urlsafe(24)
        with database.session() as session:
            ids = list(session.scalars(select(Device.id)))
            keys = {device: device_secrets.issue(session, device, "demo") for device in ids}
            gateway = {GATEWAY_USER: device_secrets.hash_secret(gateway_password)}
            passwords = device_secrets.password_file(session, gateway)
        self._folder = tempfile.TemporaryDirectory(prefix="vigie-demo-mosquitto-")
        self._broker = Mosquitto(Path(self._folder.name), free_port(), passwords)
        self._broker.start()
        self._gateway = GatewayThread(
            Gateway(
                database,
                mqtt_client_id="vigie-demo-gateway",
                # A unit withdrawn in the demo's console loses its session, as in service.
                broker_logins=BrokerLogins(database, self._broker, gateway),
            ),
            Listen(
                "127.0.0.1",
                0,
                0,
                ("127.0.0.1", self._broker.port),
                (GATEWAY_USER, gateway_password),
                teltonika_udp_port=0 if trackers == "teltonika-udp" else None,
                gt06_port=0 if trackers == "gt06" else None,
            ),
        )
        self._trackers = trackers
        try:
            bound = self._gateway.start()
            trackers_port = {"teltonika-udp": bound.teltonika_udp_port, "gt06": bound.gt06_port}
            port = trackers_port.get(trackers, bound.teltonika_port)
            assert port is not None and bound.osmand_port is not None
            self.ports = (port, bound.osmand_port, self._broker.port)
            self._feeder = ProtocolFeeder(pending, "127.0.0.1", *self.ports, keys, trackers)
        except BaseException:
            self._broker.stop()
            raise

    def describe(self) -> str:
        teltonika_port, osmand_port, mqtt_port = self.ports
        scheme = "udp" if self._trackers == "teltonika-udp" else "tcp"
        return (
            f"devices via the gateway: trackers ({self._trackers}) "
            f"{scheme}://127.0.0.1:{teltonika_port}, "
            f"OsmAnd http://127.0.0.1:{osmand_port}/, MQTT 127.0.0.1:{mqtt_port}"
        )

    def send(self, now: datetime) -> int:
        return self._feeder.send(now)

    def close(self) -> None:
        try:
            self._feeder.close()
            self._gateway.stop()
        finally:
            self._broker.stop()
            self._folder.cleanup()

"""Teltonika Codec 8, 8 Extended and 16: the handshake, AVL packets, and what they mean.

Pure: bytes in, values out. Layout from Teltonika's public "Codec" documentation:

    IMEI handshake   2-byte length, then the IMEI as ASCII; the server answers 0x01 or 0x00
    AVL packet       4 zero bytes, 4-byte data length, then the data field: codec id (0x08 or
                     0x8E), record count, records, record count again; then a 4-byte CRC-16/IBM
                     of the data field. The server acknowledges with the record count (4 bytes).
    AVL record       8-byte timestamp (ms since the epoch), priority, GPS element (longitude and
                     latitude as signed 1e-7 degrees, altitude, angle, satellites, speed), then
                     IO elements: 1-byte ids and counts in Codec 8, 2-byte in Codec 8E (which
                     also has variable-length values). Codec 16 (older FM trackers) has
                     1-byte counts but 2-byte event and IO ids, and a generation-type byte
                     after the event id.
    Keep-alive       a lone 0xFF between packets, which the server skips.
    Codec 12         commands and replies, framed as an AVL packet: codec 0x0C, quantity 1,
                     type (0x05 command, 0x06 reply), 4-byte text length, ASCII text,
                     quantity 1, then the CRC. Replies are not acknowledged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vigie.gateway.readings import Rejected, reading

CODEC_8 = 0x08
CODEC_8E = 0x8E
CODEC_16 = 0x10
CODEC_12 = 0x0C
COMMAND, REPLY = 0x05, 0x06
KEEP_ALIVE = 0xFF
HEADER_BYTES = 8  # preamble + data length
CRC_BYTES = 4
# FMB devices send at most 1280 bytes of AVL data; larger frames are refused unread.
MAX_DATA_BYTES = 16_384


class FrameError(ValueError):
    """Bytes that are not a valid Teltonika frame; the message says what is wrong."""


def crc16_ibm(data: bytes) -> int:
    """CRC-16/IBM (poly 0xA001 reflected, init 0), as Teltonika specifies for AVL packets.

    Written out because the standard library only has CRC-CCITT and the algorithm is 8 lines.
    """
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        table.append(crc16_ibm(bytes([byte])))
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """Table-driven CRC-16/IBM: the same values as `crc16_ibm`, eight times fewer steps."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def decode_imei(frame: bytes) -> str:
    """The device identifier of a complete handshake frame (length prefix included)."""
    if len(frame) < 2:
        raise FrameError("handshake shorter than its 2-byte length")
    (length,) = struct.unpack_from(">H", frame)
    if not 1 <= length <= 64:
        raise FrameError(f"handshake announces {length} bytes of IMEI; expected 1 to 64")
    if len(frame) != 2 + length:
        raise FrameError(f"handshake is {len(frame) - 2} bytes of IMEI, announced {length}")
    text = frame[2:]
    # IMEIs are digits; letters, '-' and '_' let test devices use readable identifiers.
    if not all(chr(b).isalnum() or b in b"-_" for b in text) or not text.isascii():
        raise FrameError("handshake IMEI has characters other than letters, digits, '-', '_'")
    return text.decode("ascii")


def encode_imei(imei: str) -> bytes:
    data = imei.encode("ascii")
    return struct.pack(">H", len(data)) + data


@dataclass(frozen=True, slots=True)
class AvlRecord:
    """One AVL record as the device sent it."""

    timestamp_ms: int
    priority: int
    lon: float
    lat: float
    altitude: int
    angle: int
    satellites: int
    speed: int
    event_id: int
    io: dict[int, int | bytes] = field(default_factory=dict)

    @property
    def t(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class AvlPacket:
    codec: int
    records: list[AvlRecord]


def data_length(header: bytes) -> int:
    """The data field's length from a packet's 8-byte header, checked before reading further."""
    if len(header) != HEADER_BYTES:
        raise FrameError(f"packet header is {len(header)} bytes, expected {HEADER_BYTES}")
    preamble, length = struct.unpack(">II", header)
    if preamble != 0:
        raise FrameError(f"packet preamble is {preamble:#010x}, expected 0")
    if not 3 <= length <= MAX_DATA_BYTES:
        raise FrameError(f"packet data length {length} is outside 3..{MAX_DATA_BYTES}")
    return int(length)


_U8, _U16 = struct.Struct(">B"), struct.Struct(">H")
_GPS = struct.Struct(">QBiihHBH")  # timestamp, priority, lon, lat, altitude, angle, sats, speed
# An IO element (id, then value) per id width (Codec 8: 1 byte, 8E: 2) and value width.
_IO = {
    (n, size): struct.Struct(f">{'B' if n == 1 else 'H'}{'BHIQ'[(1, 2, 4, 8).index(size)]}")
    for n in (1, 2)
    for size in (1, 2, 4, 8)
}
_VARIABLE = struct.Struct(">HH")  # 8E variable-length element: id, length


class _Reader:
    """Bounds-checked big-endian reads over a bytes object, a struct layout at a time."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...]:
        try:
            values = layout.unpack_from(self.data, self.at)
        except struct.error as exc:
            raise FrameError(
                f"record data ends at byte {len(self.data)}, needed {layout.size} more "
                f"at byte {self.at}"
            ) from exc
        self.at += layout.size
        return values

    def uint(self, layout: struct.Struct) -> int:
        return int(self.unpack(layout)[0])

    def take(self, size: int) -> bytes:
        end = self.at + size
        if end > len(self.data):
            raise FrameError(
                f"record data ends at byte {len(self.data)}, needed {size} more at byte {self.at}"
            )
        chunk = self.data[self.at : end]
        self.at = end
        return chunk


def decode_packet(frame: bytes) -> AvlPacket:
    """A whole AVL packet (header, data field, CRC), checked to the last byte."""
    return decode_data(checked_data(frame))


def checked_data(frame: bytes) -> bytes:
    """The data field of a whole packet once its length and CRC are checked."""
    length = data_length(frame[:HEADER_BYTES])
    if len(frame) != HEADER_BYTES + length + CRC_BYTES:
        raise FrameError(
            f"packet is {len(frame)} bytes; its header announces "
            f"{HEADER_BYTES + length + CRC_BYTES}"
        )
    data = frame[HEADER_BYTES : HEADER_BYTES + length]
    (sent_crc,) = struct.unpack(">I", frame[-CRC_BYTES:])
    if sent_crc != crc16(data):
        raise FrameError(
            f"CRC mismatch: packet says {sent_crc:#06x}, data gives {crc16(data):#06x}"
        )
    return data


def encode_message(text: str, kind: int = COMMAND) -> bytes:
    """A Codec 12 command (the server's side) or reply (a device's, for the simulator)."""
    data = message_data(text, kind)
    return struct.pack(">II", 0, len(data)) + data + struct.pack(">I", crc16(data))


def message_data(text: str, kind: int = COMMAND) -> bytes:
    """The data field of a Codec 12 message, as TCP (inside a packet) and UDP carry it."""
    body = text.encode("ascii")
    return struct.pack(">BBBI", CODEC_12, 1, kind, len(body)) + body + b"\x01"


def decode_message(data: bytes) -> tuple[int, str]:
    """The type (COMMAND or REPLY) and text of a Codec 12 data field."""
    if len(data) < 8:
        raise FrameError(f"Codec 12 data is {len(data)} bytes; at least 8 expected")
    codec, count, kind, size = struct.unpack_from(">BBBI", data)
    if codec != CODEC_12 or count != 1 or kind not in (COMMAND, REPLY):
        raise FrameError(f"not a Codec 12 message (codec {codec:#04x}, type {kind:#04x})")
    if len(data) != 7 + size + 1 or data[-1] != 1:
        raise FrameError(f"Codec 12 text announces {size} bytes, the data holds {len(data) - 8}")
    return kind, data[7 : 7 + size].decode("ascii", errors="replace")


def decode_data(data: bytes) -> AvlPacket:
    """The data field: codec id, record count, records, record count again."""
    reader = _Reader(data)
    codec = reader.uint(_U8)
    if codec not in (CODEC_8, CODEC_8E, CODEC_16):
        raise FrameError(f"codec {codec:#04x} is not supported (Codec 8, 8 Extended or 16)")
    count = reader.uint(_U8)
    if count == 0:
        raise FrameError("packet holds no record")
    records = [_record(reader, codec) for _ in range(count)]
    second = reader.uint(_U8)
    if second != count:
        raise FrameError(f"record counts differ: {count} at the start, {second} at the end")
    if reader.at != len(data):
        raise FrameError(f"{len(data) - reader.at} bytes left after the last record")
    return AvlPacket(codec, records)


def _record(reader: _Reader, codec: int) -> AvlRecord:
    timestamp_ms, priority, lon, lat, altitude, angle, satellites, speed = reader.unpack(_GPS)
    wide = codec == CODEC_8E
    # Id width, count layout: Codec 8 is all 1 byte, 8E all 2, Codec 16 has 2-byte ids only.
    n, count = (2, _U16) if wide else (2, _U8) if codec == CODEC_16 else (1, _U8)
    event_id = reader.uint(_U16 if n == 2 else _U8)
    if codec == CODEC_16:
        reader.uint(_U8)  # generation type (on event, on change, periodic...): not a reading
    total = reader.uint(count)
    io: dict[int, int | bytes] = {}
    for size in (1, 2, 4, 8):
        layout = _IO[n, size]
        for _ in range(reader.uint(count)):
            key, value = reader.unpack(layout)
            io[key] = value
    if wide:
        for _ in range(reader.uint(_U16)):
            key, length = reader.unpack(_VARIABLE)
            io[key] = reader.take(length)
    if total != len(io):
        raise FrameError(f"record announces {total} IO elements, holds {len(io)}")
    return AvlRecord(
        timestamp_ms,
        priority,
        lon / 1e7,
        lat / 1e7,
        altitude,
        angle,
        satellites,
        speed,
        event_id,
        io,
    )


def encode_packet(records: list[AvlRecord], codec: int = CODEC_8E) -> bytes:
    """An AVL packet as a device sends it (the simulator's and the tests' device side)."""
    body = encode_data(records, codec)
    return struct.pack(">II", 0, len(body)) + body + struct.pack(">I", crc16(body))


def encode_data(records: list[AvlRecord], codec: int = CODEC_8E) -> bytes:
    """The data field of an AVL packet (codec id, count, records, count), as TCP and UDP carry."""
    if codec not in (CODEC_8, CODEC_8E, CODEC_16):
        raise ValueError(f"codec {codec:#04x} is not Codec 8, 8 Extended or 16")
    if not 1 <= len(records) <= 255:
        raise ValueError(f"{len(records)} records: a packet holds 1 to 255")
    wide = codec == CODEC_8E
    n = ">H" if wide else ">B"
    ident = ">H" if codec != CODEC_8 else ">B"
    body = bytearray(struct.pack(">BB", codec, len(records)))
    for r in records:
        body += struct.pack(
            ">QBiihHBH",
            r.timestamp_ms,
            r.priority,
            round(r.lon * 1e7),
            round(r.lat * 1e7),
            r.altitude,
            r.angle,
            r.satellites,
            r.speed,
        )
        body += struct.pack(ident, r.event_id)
        if codec == CODEC_16:
            body += b"\x01"  # generation type: on event
        body += struct.pack(n, len(r.io))
        fixed = {k: v for k, v in r.io.items() if isinstance(v, int)}
        for size, fmt in ((1, ">B"), (2, ">H"), (4, ">I"), (8, ">Q")):
            group = {k: v for k, v in fixed.items() if v < 256**size} if size < 8 else dict(fixed)
            for k in group:
                del fixed[k]
            body += struct.pack(n, len(group))
            for k, v in group.items():
                body += struct.pack(ident, k) + struct.pack(fmt, v)
        variable = {k: v for k, v in r.io.items() if isinstance(v, bytes)}
        if variable and not wide:
            raise ValueError("variable-length IO elements need Codec 8 Extended")
        if wide:
            body += struct.pack(">H", len(variable))
            for key, value in variable.items():
                body += struct.pack(">HH", key, len(value)) + value
    body += struct.pack(">B", len(records))
    return bytes(body)


def encode_ack(count: int) -> bytes:
    return struct.pack(">I", count)


# ---------------------------------------------------------------- what the IO elements mean

# AVL ids as FMB trackers number them; the digital inputs are wired as Vigie's devices use them.
IO_STRAP = 1  # DIN1: strap loop, 1 = closed
IO_CASE = 2  # DIN2: case switch, 1 = closed
IO_PRESENCE = 3  # DIN3 (home unit): 1 = the bracelet is heard
IO_EXTERNAL_MV = 66  # external (mains adapter) voltage, mV
IO_BATTERY_PERCENT = 113
IO_HDOP = 182  # tenths
# The "Alarm" event (AVL id 236, eventual) of Teltonika's personal trackers (TMT250, GH5200):
# 1 when the SOS button is pressed. Its own id, so that no wired input is taken for a call.
IO_ALARM = 236
MAINS_MIN_MV = 4500  # below this the unit runs on its battery
UERE_M = 5.0  # typical user-equivalent range error: accuracy ~ HDOP x 5 m
NO_HDOP_ACCURACY_M = 50.0  # a fix without HDOP is taken as poor, never as precise


def readings_of(device: str, record: AvlRecord) -> list[dict[str, Any]]:
    """The observations one AVL record carries.

    A record whose time no calendar holds is `Rejected` (the others of its packet stand).
    No satellites means no fix: the coordinates are the last known ones and are not a reading.
    An open strap or case is reported by every record that shows it (an opening is never
    missed); a closing only by an event record, so periodic records do not repeat it.
    An "Alarm" IO (236) of 1 is an SOS, read after the record's fix (same time).
    """
    try:
        t = record.t
    except (OverflowError, ValueError, OSError) as exc:
        raise Rejected(f"record time {record.timestamp_ms} ms is beyond any calendar") from exc
    out: list[dict[str, Any]] = []
    if record.satellites > 0:
        hdop = record.io.get(IO_HDOP)
        accuracy = max(UERE_M, hdop / 10 * UERE_M) if isinstance(hdop, int) else NO_HDOP_ACCURACY_M
        out.append(
            reading(
                device,
                t,
                "position",
                "position",
                lat=record.lat,
                lon=record.lon,
                accuracy_m=round(accuracy, 1),
            )
        )
    percent = record.io.get(IO_BATTERY_PERCENT)
    if isinstance(percent, int):
        # Not clamped: a percentage above 100 is a faulty gauge, refused by the intake's check.
        out.append(reading(device, t, "battery", "battery", level=percent / 100))
    volts = record.io.get(IO_EXTERNAL_MV)
    if isinstance(volts, int):
        out.append(reading(device, t, "power", "power", mains=volts >= MAINS_MIN_MV))
    present = record.io.get(IO_PRESENCE)
    if isinstance(present, int):
        out.append(reading(device, t, "presence", "presence", present=present != 0))
    for io_id, slot in ((IO_STRAP, "strap"), (IO_CASE, "case")):
        state = record.io.get(io_id)
        if not isinstance(state, int):
            continue
        if state == 0:
            out.append(reading(device, t, "tamper", slot, what=f"{slot}_open"))
        elif record.event_id != 0:
            out.append(reading(device, t, "tamper", slot, what=f"{slot}_closed"))
    if record.io.get(IO_ALARM) == 1:
        out.append(reading(device, t, "sos", "sos"))
    return out

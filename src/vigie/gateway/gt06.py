"""GT06 (Concox) binary protocol, as cheap personal trackers speak it. Pure: bytes in, values out.

Layout from Concox's public GT06 protocol document:

    frame      0x7878, 1-byte length (0x7979 and a 2-byte length for long packets), protocol
               number, content, 2-byte serial number, 2-byte CRC-ITU of everything from the
               length to the serial number, 0x0D0A. The length counts protocol number to CRC.
    login      0x01: the IMEI as 8 bytes of BCD (a leading 0), sometimes followed by a type id
               and time zone; the server answers with an empty 0x01 packet of the same serial.
    location   0x12 (and 0x22 of newer models): UTC date-time (6 bytes: yy mm dd hh mm ss), GPS
               block (a byte of block length and satellites, latitude and longitude as 1/1800000
               degree, speed km/h, 2 bytes of course and status: bit 12 fix valid, bit 11 west,
               bit 10 north), a cell tower (MCC, MNC, LAC, cell id), then model-dependent bytes.
               Not acknowledged.
    heartbeat  0x13: terminal info (bit 2 charging, bits 3-5 alarm), voltage level 0..6, GSM
               signal, alarm and language; acknowledged with an empty 0x13 packet.
    alarm      0x16: date-time, GPS block, a length-prefixed cell tower, then the heartbeat's
               status bytes; acknowledged with an empty 0x16 packet.
    command    0x80 (server to device): command length, 4-byte server flag, ASCII command;
               the device's reply is 0x15 with the same flag and its ASCII answer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vigie.gateway.readings import reading
from vigie.gateway.teltonika import FrameError

SHORT, LONG = b"\x78\x78", b"\x79\x79"
STOP = b"\x0d\x0a"
LOGIN, LOCATION, LOCATION_4G, HEARTBEAT, ALARM = 0x01, 0x12, 0x22, 0x13, 0x16
COMMAND, COMMAND_REPLY = 0x80, 0x15
ACKED = frozenset({LOGIN, HEARTBEAT, ALARM})
MAX_LENGTH = 1024  # the longest packets (Wi-Fi lists, long replies) are a few hundred bytes
COORDINATE_UNIT = 1_800_000  # 30000 per minute of arc
NO_HDOP_ACCURACY_M = 50.0  # GT06 reports no dilution of precision: a fix is taken as poor
# Terminal-info alarm bits (3-5) as these bracelets use them: 2 mains cut, 4 SOS, 7 strap removed.
STATUS_POWER_CUT, STATUS_SOS, STATUS_REMOVED = 2, 4, 7
ALARM_SOS, ALARM_POWER_CUT = 0x01, 0x02  # the alarm byte of an alarm packet


class Gt06Error(FrameError):
    """Bytes that are not a valid GT06 frame; the message says what is wrong."""


def crc_itu(data: bytes) -> int:
    """CRC-ITU (CRC-16/X-25: reflected poly 0x8408, init and final xor 0xFFFF), per Concox."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


@dataclass(frozen=True, slots=True)
class Frame:
    protocol: int
    content: bytes
    serial: int


@dataclass(frozen=True, slots=True)
class Fix:
    t: datetime
    lat: float
    lon: float
    satellites: int
    speed_kmh: int
    course: int
    valid: bool


@dataclass(frozen=True, slots=True)
class Status:
    """The terminal-info bytes of heartbeats and alarms."""

    charging: bool
    alarm_bits: int  # bits 3-5 of terminal info
    voltage_level: int  # 0 (none) .. 6 (full); other values are model-specific
    gsm: int
    alarm: int  # the alarm byte (0 in a heartbeat)


def header_size(start: bytes) -> int:
    """Bytes of the length field that follow a frame's 2-byte start."""
    if start == SHORT:
        return 1
    if start == LONG:
        return 2
    raise Gt06Error(f"frame starts with {start.hex()}, expected 7878 or 7979")


def rest_size(length_field: bytes) -> int:
    """Bytes after the length field (content to CRC, and the stop bytes), checked first."""
    length = int.from_bytes(length_field, "big")
    if not 5 <= length <= MAX_LENGTH:
        raise Gt06Error(f"frame length {length} is outside 5..{MAX_LENGTH}")
    return length + len(STOP)


def decode_frame(frame: bytes) -> Frame:
    """A whole frame, start to stop, checked to the last byte."""
    size = header_size(frame[:2])
    if len(frame) < 2 + size:
        raise Gt06Error("frame ends inside its length")
    length_field = frame[2 : 2 + size]
    if len(frame) != 2 + size + rest_size(length_field):
        raise Gt06Error(
            f"frame is {len(frame)} bytes; its length announces "
            f"{2 + size + rest_size(length_field)}"
        )
    if frame[-2:] != STOP:
        raise Gt06Error(f"frame ends with {frame[-2:].hex()}, expected 0d0a")
    (sent,) = struct.unpack(">H", frame[-4:-2])
    computed = crc_itu(frame[2:-4])
    if sent != computed:
        raise Gt06Error(f"CRC mismatch: frame says {sent:#06x}, data gives {computed:#06x}")
    body = frame[2 + size : -4]
    (serial,) = struct.unpack(">H", body[-2:])
    return Frame(body[0], bytes(body[1:-2]), serial)


def encode_frame(protocol: int, content: bytes, serial: int) -> bytes:
    """A frame around `content` (the long form when it does not fit a 1-byte length)."""
    length = 1 + len(content) + 2 + 2
    head = SHORT + bytes([length]) if length <= 0xFF else LONG + struct.pack(">H", length)
    body = head[2:] + bytes([protocol]) + content + struct.pack(">H", serial & 0xFFFF)
    return head[:2] + body + struct.pack(">H", crc_itu(body)) + STOP


def encode_ack(frame: Frame) -> bytes:
    """The server's answer to a login, heartbeat or alarm: its protocol and serial, no content."""
    return encode_frame(frame.protocol, b"", frame.serial)


def decode_login(content: bytes) -> str:
    """The IMEI of a login packet: 8 bytes of BCD, the leading 0 dropped."""
    if len(content) < 8:
        raise Gt06Error(f"login holds {len(content)} bytes; the IMEI needs 8")
    digits = content[:8].hex()
    if not digits.isdigit():
        raise Gt06Error(f"login IMEI {digits!r} is not BCD")
    return digits[1:] if digits.startswith("0") else digits


def encode_login(imei: str, serial: int = 1) -> bytes:
    if not imei.isdigit() or len(imei) > 16:
        raise ValueError(f"IMEI {imei!r} is not at most 16 digits")
    return encode_frame(LOGIN, bytes.fromhex(imei.rjust(16, "0")), serial)


_GPS = struct.Struct(">6BBIIBH")  # date-time, length/satellites, lat, lon, speed, course/status


def decode_fix(content: bytes) -> Fix:
    """Date-time and GPS block at the start of a location or alarm packet."""
    if len(content) < _GPS.size:
        raise Gt06Error(f"position holds {len(content)} bytes; date-time and GPS need {_GPS.size}")
    yy, mo, dd, hh, mi, ss, info, lat, lon, speed, flags = _GPS.unpack_from(content)
    try:
        t = datetime(2000 + yy, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError as exc:
        raise Gt06Error(f"date-time {content[:6].hex()} is not a date: {exc}") from exc
    latitude = lat / COORDINATE_UNIT * (1 if flags & 0x0400 else -1)
    longitude = lon / COORDINATE_UNIT * (-1 if flags & 0x0800 else 1)
    return Fix(t, latitude, longitude, info & 0x0F, speed, flags & 0x03FF, bool(flags & 0x1000))


def encode_fix(fix: Fix) -> bytes:
    flags = (fix.course & 0x03FF) | (0x1000 if fix.valid else 0)
    flags |= 0x0400 if fix.lat >= 0 else 0
    flags |= 0x0800 if fix.lon < 0 else 0
    t = fix.t.astimezone(UTC)
    return _GPS.pack(
        t.year - 2000,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        0xC0 | (fix.satellites & 0x0F),
        round(abs(fix.lat) * COORDINATE_UNIT),
        round(abs(fix.lon) * COORDINATE_UNIT),
        fix.speed_kmh,
        flags,
    )


_CELL = bytes.fromhex("00d0010001000001")  # MCC 208 (France), MNC, LAC, cell id
_STATUS = struct.Struct(">BBBBB")  # terminal info, voltage level, GSM, alarm, language


def decode_status(data: bytes) -> Status:
    if len(data) < _STATUS.size:
        raise Gt06Error(f"status holds {len(data)} bytes, expected {_STATUS.size}")
    info, voltage, gsm, alarm, _language = _STATUS.unpack_from(data)
    return Status(bool(info & 0x04), (info >> 3) & 0x07, voltage, gsm, alarm)


def encode_status(status: Status) -> bytes:
    info = (0x04 if status.charging else 0) | ((status.alarm_bits & 0x07) << 3) | 0x40
    return _STATUS.pack(info, status.voltage_level, status.gsm, status.alarm, 0x02)


def decode_alarm(content: bytes) -> tuple[Fix, Status]:
    """An alarm packet: the fix, a length-prefixed cell tower (its length counts itself), status."""
    fix = decode_fix(content)
    at = _GPS.size
    if len(content) <= at:
        raise Gt06Error("alarm ends before its cell tower")
    cell = content[at]
    if cell < 1:
        raise Gt06Error("alarm cell-tower length is 0")
    return fix, decode_status(content[at + cell :])


def encode_location(fix: Fix, serial: int) -> bytes:
    return encode_frame(LOCATION, encode_fix(fix) + _CELL, serial)


def encode_heartbeat(status: Status, serial: int) -> bytes:
    return encode_frame(HEARTBEAT, encode_status(status), serial)


def encode_alarm(fix: Fix, status: Status, serial: int) -> bytes:
    cell = bytes([len(_CELL) + 1]) + _CELL
    return encode_frame(ALARM, encode_fix(fix) + cell + encode_status(status), serial)


def encode_command(server_flag: int, text: str, serial: int) -> bytes:
    """A command to the device (0x80): its flag comes back in the reply to match them."""
    command = text.encode("ascii")
    if len(command) > 200:
        raise ValueError("a GT06 command holds at most 200 ASCII characters")
    content = bytes([4 + len(command)]) + struct.pack(">I", server_flag) + command + b"\x00\x02"
    return encode_frame(COMMAND, content, serial)


def decode_command(content: bytes) -> tuple[int, str]:
    """The server flag and ASCII text of a command (0x80) or of a device's reply (0x15)."""
    if len(content) < 5:
        raise Gt06Error(f"command holds {len(content)} bytes; its flag needs 5")
    size = content[0]
    if size < 4 or len(content) < 1 + size:
        raise Gt06Error(f"command announces {size} bytes, holds {len(content) - 1}")
    (flag,) = struct.unpack_from(">I", content, 1)
    return flag, content[5 : 1 + size].decode("ascii", errors="replace")


def encode_reply(server_flag: int, text: str, serial: int) -> bytes:
    """The device's reply to a command (0x15): the device side, for the simulator and tests."""
    answer = text.encode("ascii")
    content = bytes([4 + len(answer)]) + struct.pack(">I", server_flag) + answer + b"\x00\x02"
    return encode_frame(COMMAND_REPLY, content, serial)


def readings_of(device: str, frame: Frame) -> list[dict[str, Any]]:
    """The observations of a location, heartbeat or alarm packet (none for other packets).

    A fix the device marks invalid, or without satellites, is not a position. A heartbeat's
    battery is its voltage level over 6 (other values are model-specific and not a reading).
    A removed strap (terminal-info alarm 7) is a tamper reading; a mains cut, a power reading.
    An alarm packet whose alarm byte is 0x01 (or terminal-info alarm 4) is an SOS, after its
    fix (same time, so detection reads her position first). Heartbeats hold no time (see
    `status_readings`) and are never an SOS: their status bits repeat while a state lasts, and
    a press is one event.
    """
    if frame.protocol in (LOCATION, LOCATION_4G):
        return _fix_readings(device, decode_fix(frame.content))
    if frame.protocol == ALARM:
        fix, status = decode_alarm(frame.content)
        out = _fix_readings(device, fix)
        out += _status_readings(device, fix.t, status)
        if status.alarm == ALARM_SOS or status.alarm_bits == STATUS_SOS:
            out.append(reading(device, fix.t, "sos", "sos"))
        return out
    return []


def status_readings(device: str, t: datetime, frame: Frame) -> list[dict[str, Any]]:
    """The readings of a heartbeat, timed by its receipt (the packet holds no time)."""
    return _status_readings(device, t, decode_status(frame.content), timed_by_receipt=True)


def _fix_readings(device: str, fix: Fix) -> list[dict[str, Any]]:
    if not fix.valid or fix.satellites == 0:
        return []
    return [
        reading(
            device,
            fix.t,
            "position",
            "position",
            lat=fix.lat,
            lon=fix.lon,
            accuracy_m=NO_HDOP_ACCURACY_M,
        )
    ]


def _status_readings(
    device: str, t: datetime, status: Status, timed_by_receipt: bool = False
) -> list[dict[str, Any]]:
    extra = {"time_source": "receipt"} if timed_by_receipt else {}
    out: list[dict[str, Any]] = []
    if status.voltage_level <= 6:
        out.append(
            reading(device, t, "battery", "battery", level=status.voltage_level / 6, **extra)
        )
    if status.alarm_bits == STATUS_REMOVED:
        out.append(reading(device, t, "tamper", "strap", what="strap_open", **extra))
    if status.alarm_bits == STATUS_POWER_CUT or status.alarm == ALARM_POWER_CUT:
        out.append(reading(device, t, "power", "power", mains=False, **extra))
    return out

"""Teltonika over UDP: the datagram framing around an AVL data field, and its acknowledgement.

Pure: bytes in, values out. Layout from Teltonika's public "Codec" documentation (UDP channel):

    datagram   2-byte length of what follows, 2-byte packet id, 1 unused byte (0x01), 1-byte AVL
               packet id, 2-byte IMEI length, the IMEI, then the AVL data field exactly as over
               TCP (codec id, count, records, count) with no CRC: UDP's checksum stands for it.
    ack        0x0005, the packet id, 0x01, the AVL packet id, the number of records accepted.
    Codec 12   a command (server to device) or a device's reply: the same channel header (the
               device's IMEI), then the Codec 12 data field as inside a TCP packet (codec 0x0C,
               quantity, type, text length, text, quantity), again with no CRC. A reply is not
               acknowledged. Read so by Traccar's connectionless Teltonika decoder (a reply in
               the channel header, no CRC) and written so by the Go `teltonika` library of
               A. Zanibekov (EncodePacketUDP of a Codec 12 packet); Traccar's encoder sends
               the TCP packet instead. Teltonika lists "SMS over GPRS via UDP" (Codec 12 over
               UDP) per device model and firmware, without a byte example.

There is no handshake: every datagram names its device, and the device resends a datagram
until it gets the ack (so the store's idempotence does the rest). A device is reachable over
UDP only just after it sent (its NAT binding, its socket): commands go out right after an ack.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vigie.gateway.teltonika import (
    CODEC_12,
    COMMAND,
    MAX_DATA_BYTES,
    AvlPacket,
    AvlRecord,
    FrameError,
    decode_data,
    decode_message,
    encode_data,
    message_data,
)

_HEAD = struct.Struct(">HHBBH")  # length, packet id, unused, AVL packet id, IMEI length
MAX_DATAGRAM_BYTES = _HEAD.size + 64 + MAX_DATA_BYTES


@dataclass(frozen=True, slots=True)
class Datagram:
    packet_id: int
    avl_packet_id: int
    imei: str
    packet: AvlPacket


@dataclass(frozen=True, slots=True)
class Message:
    """A Codec 12 message in a datagram: a command (to the device) or its reply (`kind`)."""

    packet_id: int
    avl_packet_id: int
    imei: str
    kind: int
    text: str


def decode_datagram(data: bytes) -> Datagram:
    """A whole datagram of AVL data, checked to the last byte."""
    packet_id, avl_id, imei, body = _split(data)
    return Datagram(packet_id, avl_id, imei, decode_data(body))


def decode(data: bytes) -> Datagram | Message:
    """A whole datagram, AVL data or a Codec 12 message, checked to the last byte."""
    packet_id, avl_id, imei, body = _split(data)
    if body[:1] == bytes([CODEC_12]):
        kind, text = decode_message(body)
        return Message(packet_id, avl_id, imei, kind, text)
    return Datagram(packet_id, avl_id, imei, decode_data(body))


def _split(data: bytes) -> tuple[int, int, str, bytes]:
    """The channel header's packet ids and IMEI, and the data field after them."""
    if len(data) > MAX_DATAGRAM_BYTES:
        raise FrameError(f"datagram of {len(data)} bytes; at most {MAX_DATAGRAM_BYTES}")
    if len(data) < _HEAD.size:
        raise FrameError(
            f"datagram of {len(data)} bytes is shorter than its {_HEAD.size}-byte head"
        )
    length, packet_id, _unused, avl_id, imei_length = _HEAD.unpack_from(data)
    if length != len(data) - 2:
        raise FrameError(
            f"datagram announces {length} bytes after its length, holds {len(data) - 2}"
        )
    if not 1 <= imei_length <= 64:
        raise FrameError(f"datagram announces {imei_length} bytes of IMEI; expected 1 to 64")
    imei_bytes = data[_HEAD.size : _HEAD.size + imei_length]
    if len(imei_bytes) != imei_length:
        raise FrameError("datagram ends inside its IMEI")
    if not imei_bytes.isascii() or not all(chr(b).isalnum() or b in b"-_" for b in imei_bytes):
        raise FrameError("datagram IMEI has characters other than letters, digits, '-', '_'")
    return packet_id, avl_id, imei_bytes.decode("ascii"), data[_HEAD.size + imei_length :]


def _head(imei: str, packet_id: int, avl_packet_id: int) -> bytes:
    name = imei.encode("ascii")
    return struct.pack(">HBBH", packet_id, 0x01, avl_packet_id, len(name)) + name


def encode_datagram(
    imei: str, records: list[AvlRecord], codec: int, packet_id: int = 0, avl_packet_id: int = 0
) -> bytes:
    """A datagram as a tracker sends it (the simulator's and the tests' device side)."""
    body = _head(imei, packet_id, avl_packet_id) + encode_data(records, codec)
    return struct.pack(">H", len(body)) + body


def encode_message(
    imei: str, text: str, kind: int = COMMAND, packet_id: int = 0, avl_packet_id: int = 0
) -> bytes:
    """A Codec 12 command to the device `imei` (or, for the simulator, its reply)."""
    body = _head(imei, packet_id, avl_packet_id) + message_data(text, kind)
    return struct.pack(">H", len(body)) + body


def encode_ack(datagram: Datagram) -> bytes:
    """The acknowledgement of a stored datagram: its ids and its record count."""
    return struct.pack(
        ">HHBBB", 5, datagram.packet_id, 0x01, datagram.avl_packet_id, len(datagram.packet.records)
    )

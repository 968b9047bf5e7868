"""What Teltonika devices really send: Codec 16, UDP datagrams, keep-alives, a faulty gauge."""

from __future__ import annotations

import contextlib
import socket
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gateway import frames
from tests.gateway.conftest import IMEI, TEST_LIMITS, obs, receive, stored, tracker
from tests.gateway.test_teltonika import records as avl_records
from vigie.gateway import teltonika, teltonika_udp
from vigie.gateway.readings import Rejected, check
from vigie.gateway.service import Bound, Gateway, GatewayThread, Listen
from vigie.gateway.teltonika import AvlRecord, FrameError
from vigie.observation import TimeBounds
from vigie.sim.protocols import avl_record, teltonika_packets
from vigie.store import Database

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


def test_codec16_frames_of_traccar() -> None:
    (record,) = teltonika.decode_packet(frames.CODEC16_ONE_RECORD).records
    assert record.t == datetime(2018, 7, 26, 20, 43, 43, tzinfo=UTC)
    assert (record.lat, record.lon, record.satellites) == (-33.4379166, -70.64967, 6)
    assert len(record.io) == 32 and min(record.io) == 256  # 2-byte IO ids
    # Traccar's other frame carries a wrong CRC: refused whole, though its data field is sound.
    with pytest.raises(FrameError, match="CRC mismatch"):
        teltonika.decode_packet(frames.CODEC16_TWO_RECORDS_BAD_CRC)
    first, second = teltonika.decode_data(frames.CODEC16_TWO_RECORDS_BAD_CRC[8:-4]).records
    assert (first.lat, first.lon) == (54.6990336, 25.2618832) and first.io[70] == 297
    assert second.t == datetime(2017, 3, 29, 10, 11, 27, tzinfo=UTC)


def test_udp_frames_of_the_documentation_and_traccar() -> None:
    datagram = teltonika_udp.decode_datagram(frames.UDP_DOCUMENTATION)
    assert (datagram.packet_id, datagram.avl_packet_id, datagram.imei) == (
        0xCAFE,
        5,
        "352093086403655",
    )
    (record,) = datagram.packet.records
    assert record.io == {21: 3, 1: 1, 66: 23996}
    assert teltonika_udp.encode_ack(datagram) == frames.UDP_DOCUMENTATION_ACK
    other = teltonika_udp.decode_datagram(frames.UDP_TRACCAR)
    (fix,) = other.packet.records
    assert (fix.lat, fix.lon, fix.satellites) == (51.630115, 0.4124566, 9)
    assert teltonika_udp.encode_ack(other) == bytes.fromhex("0005cafe012201")


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (frames.UDP_DOCUMENTATION[:-1], "announces 61 bytes"),
        (b"\x00\x01", "shorter than"),
        (frames.UDP_DOCUMENTATION[:6] + b"\x00\x00" + frames.UDP_DOCUMENTATION[8:], "IMEI"),
        (b"\x00" * 70_000, "at most"),
    ],
)
def test_malformed_datagrams_are_refused(datagram: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        teltonika_udp.decode_datagram(datagram)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(avl_records, min_size=1, max_size=5),
    st.sampled_from([0x08, 0x8E, 0x10]),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFF),
)
def test_udp_round_trip(avl: list[AvlRecord], codec: int, packet_id: int, avl_id: int) -> None:
    frame = teltonika_udp.encode_datagram(IMEI, avl, codec, packet_id, avl_id)
    datagram = teltonika_udp.decode_datagram(frame)
    assert datagram.packet.records == avl and datagram.imei == IMEI
    assert teltonika_udp.encode_ack(datagram) == struct.pack(
        ">HHBBB", 5, packet_id, 1, avl_id, len(avl)
    )


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_udp_arbitrary_bytes_only_raise_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        message = teltonika_udp.decode(data)
        assert isinstance(message, teltonika_udp.Message) or message.packet.records
    with contextlib.suppress(FrameError):
        for record in teltonika_udp.decode_datagram(data).packet.records:
            with contextlib.suppress(Rejected):
                for reading in teltonika.readings_of("B1", record):
                    with contextlib.suppress(Rejected):
                        check(reading, NOW, TimeBounds())


def test_battery_percent_above_100_is_refused_not_clamped() -> None:
    record = AvlRecord(1795464000000, 0, 0, 0, 0, 0, 0, 0, 0, {teltonika.IO_BATTERY_PERCENT: 150})
    (battery,) = teltonika.readings_of("B1", record)
    with pytest.raises(Rejected, match=r"level: .*less than or equal to 1 \(got 1\.5\)"):
        check(battery, NOW, TimeBounds())


def test_keep_alive_bytes_are_skipped(seeded: Database, gateway: Bound) -> None:
    port = gateway.teltonika_port
    first, second = (teltonika_packets([obs(IMEI, m, "battery", level=0.5)])[0] for m in (3, 2))
    with tracker(port) as sock:
        sock.sendall(b"\xff" + first + b"\xff\xff")
        assert receive(sock, 4) == struct.pack(">I", 1)
        sock.sendall(second)
        assert receive(sock, 4) == struct.pack(">I", 1)
    assert len(stored(seeded, IMEI)) == 2


def test_codec16_over_tcp_is_acknowledged(seeded: Database, gateway: Bound) -> None:
    port = gateway.teltonika_port
    record = avl_record(obs(IMEI, 1, "position", lat=48.85, lon=2.35, accuracy_m=10.0))
    with tracker(port) as sock:
        sock.sendall(teltonika.encode_packet([record], teltonika.CODEC_16))
        assert receive(sock, 4) == struct.pack(">I", 1)
    (fix,) = stored(seeded, IMEI)
    assert fix.lat == pytest.approx(48.85) and fix.source == "teltonika"


def test_udp_listener_stores_then_acks(seeded: Database) -> None:
    runner = GatewayThread(
        Gateway(seeded, TEST_LIMITS), Listen("127.0.0.1", None, None, teltonika_udp_port=0)
    )
    bound = runner.start()
    try:
        assert bound.teltonika_udp_port
        records = [
            avl_record(obs(IMEI, 2, "position", lat=48.85, lon=2.35, accuracy_m=10.0)),
            avl_record(obs(IMEI, 1, "battery", level=0.3)),
        ]
        frame = teltonika_udp.encode_datagram(IMEI, records, teltonika.CODEC_8E, 0x1234, 7)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            address = ("127.0.0.1", bound.teltonika_udp_port)
            sock.sendto(frame, address)
            assert sock.recv(64) == bytes.fromhex("00051234010702")
            assert [o.type for o in stored(seeded, IMEI)] == ["position", "battery"]
            # Resent (the ack was lost): acked again, stored once.
            sock.sendto(frame, address)
            assert sock.recv(64) == bytes.fromhex("00051234010702")
            # An unknown device gets no ack, and nothing is stored.
            stranger = teltonika_udp.encode_datagram("356307042441999", records, 0x8E, 1, 1)
            sock.sendto(stranger, address)
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(64)
        assert len(stored(seeded, IMEI)) == 2 and all(
            o.source == "teltonika-udp" for o in stored(seeded)
        )
    finally:
        runner.stop()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_codec12_only_raises_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        kind, _ = teltonika.decode_message(data)
        assert kind in (teltonika.COMMAND, teltonika.REPLY)
    with contextlib.suppress(FrameError):
        teltonika.decode_message(bytes([teltonika.CODEC_12, 1, teltonika.REPLY]) + data)

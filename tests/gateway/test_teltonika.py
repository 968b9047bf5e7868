"""The Teltonika decoder against the documentation's real frames, every malformation, fuzzing."""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.gateway import frames
from vigie.gateway import teltonika
from vigie.gateway.readings import Rejected, check, sequence
from vigie.gateway.teltonika import AvlRecord, FrameError
from vigie.observation import TimeBounds


def test_handshake_of_the_documentation() -> None:
    assert teltonika.decode_imei(frames.IMEI_HANDSHAKE) == "356307042441013"
    assert teltonika.encode_imei("356307042441013") == frames.IMEI_HANDSHAKE


def test_codec8_example_one_record() -> None:
    packet = teltonika.decode_packet(frames.CODEC8_ONE_RECORD)
    assert packet.codec == teltonika.CODEC_8 and len(packet.records) == 1
    record = packet.records[0]
    assert record.t == datetime(2019, 6, 10, 10, 4, 46, tzinfo=UTC)
    assert record.priority == 1 and record.satellites == 0 and record.event_id == 1
    assert record.io == {0x15: 3, 0x01: 1, 0x42: 0x5E0F, 0xF1: 0x601A, 0x4E: 0}


def test_codec8_examples_two_and_three() -> None:
    simple = teltonika.decode_packet(frames.CODEC8_SIMPLER_IO).records
    assert [r.t for r in simple] == [datetime(2019, 6, 10, 10, 5, 36, tzinfo=UTC)]
    assert simple[0].io == {0x15: 3, 0x01: 1, 0x42: 0x5E10}
    two = teltonika.decode_packet(frames.CODEC8_TWO_RECORDS).records
    assert [r.t.isoformat() for r in two] == [
        "2019-06-10T10:01:01+00:00",
        "2019-06-10T10:01:19+00:00",
    ]
    assert [r.io for r in two] == [{1: 0}, {1: 1}]


def test_codec8_extended_example() -> None:
    packet = teltonika.decode_packet(frames.CODEC8E_ONE_RECORD)
    assert packet.codec == teltonika.CODEC_8E
    record = packet.records[0]
    assert record.t == datetime(2019, 6, 10, 11, 36, 32, tzinfo=UTC)
    assert record.io == {
        0x01: 1,
        0x11: 0x001D,
        0x10: 0x015E2C88,
        0x0B: 0x3544C87A,
        0x0E: 0x1DD7E06A,
    }


def test_readings_of_the_documentation_frames() -> None:
    # Example 1: no satellites (no fix), external power 24.079 V, DIN1 closed in an event record.
    record = teltonika.decode_packet(frames.CODEC8_ONE_RECORD).records[0]
    readings = teltonika.readings_of("356307042441013", record)
    assert [(r["type"], r.get("mains"), r.get("what")) for r in readings] == [
        ("power", True, None),
        ("tamper", None, "strap_closed"),
    ]
    # Example 3: the strap is open in a periodic record, then closes in an event record.
    first, second = teltonika.decode_packet(frames.CODEC8_TWO_RECORDS).records
    assert [r["what"] for r in teltonika.readings_of("X", first)] == ["strap_open"]
    assert [r["what"] for r in teltonika.readings_of("X", second)] == ["strap_closed"]


def test_a_fix_with_hdop_and_battery() -> None:
    t_ms = 1_795_000_000_000
    record = AvlRecord(t_ms, 0, 2.3522, 48.8566, 35, 90, 9, 12, 0, {182: 12, 113: 57})
    frame = teltonika.encode_packet([record], teltonika.CODEC_8)
    (decoded,) = teltonika.decode_packet(frame).records
    position, battery = teltonika.readings_of("B1", decoded)
    assert position["lat"] == pytest.approx(48.8566) and position["lon"] == pytest.approx(2.3522)
    assert position["accuracy_m"] == 6.0  # HDOP 1.2 x 5 m
    assert battery["level"] == 0.57
    assert position["seq"] == sequence(decoded.t, "position") == t_ms * 8
    assert battery["seq"] == t_ms * 8 + 1


def test_the_alarm_io_is_an_sos_after_the_fix_of_its_record() -> None:
    """AVL id 236 ("Alarm", the SOS button of Teltonika's personal trackers) set to 1, in an
    event record of Codec 8 Extended (2-byte ids), as a TMT250 sends a press."""
    t_ms = 1_795_000_000_000
    record = AvlRecord(t_ms, 2, 2.3522, 48.8566, 35, 0, 7, 0, 236, {236: 1, 113: 80})
    (decoded,) = teltonika.decode_packet(
        teltonika.encode_packet([record], teltonika.CODEC_8E)
    ).records
    readings = teltonika.readings_of("T1", decoded)
    assert [r["type"] for r in readings] == ["position", "battery", "sos"]
    assert readings[2]["t"] == readings[0]["t"] and readings[2]["seq"] == t_ms * 8 + 6
    released = dataclasses.replace(decoded, io={236: 0})
    assert [r["type"] for r in teltonika.readings_of("T1", released)] == ["position"]


def _mutate(frame: bytes, at: int, value: bytes) -> bytes:
    return frame[:at] + value + frame[at + len(value) :]


def _recrc(frame: bytes) -> bytes:
    data = frame[8:-4]
    return frame[:-4] + struct.pack(">I", teltonika.crc16(data))


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (_mutate(frames.CODEC8_ONE_RECORD, 20, b"\x99"), "CRC mismatch"),
        (frames.CODEC8_ONE_RECORD[:-1], "announces"),
        (frames.CODEC8_ONE_RECORD + b"\x00", "announces"),
        (_mutate(frames.CODEC8_ONE_RECORD, 0, b"\x01"), "preamble"),
        (_mutate(frames.CODEC8_ONE_RECORD, 4, b"\x00\x10\x00\x00"), "data length"),
        (_recrc(_mutate(frames.CODEC8_ONE_RECORD, 8, b"\x0c")), "codec 0x0c"),
        (_recrc(_mutate(frames.CODEC8_TWO_RECORDS, 9, b"\x03")), "ends at byte"),
        (_recrc(_mutate(frames.CODEC8_TWO_RECORDS, 9, b"\x01")), "bytes left|counts differ"),
        (_recrc(_mutate(frames.CODEC8_ONE_RECORD, 35, b"\x09")), "announces 9 IO"),
        (_recrc(_mutate(frames.CODEC8_ONE_RECORD, 9, b"\x00")), "no record"),
    ],
)
def test_malformed_packets_are_refused_with_their_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        teltonika.decode_packet(frame)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x00", "shorter"),
        (b"\x00\x00", "0 bytes"),
        (b"\x00\x41" + b"1" * 65, "65 bytes"),
        (b"\x00\x05123", "3 bytes of IMEI, announced 5"),
        (b"\x00\x0335\x00", "characters"),
        (b"\x00\x02\xc3\xa9", "characters"),
    ],
)
def test_malformed_handshakes_are_refused(frame: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        teltonika.decode_imei(frame)


def test_table_crc_is_the_bitwise_crc() -> None:
    for data in (b"", b"\x00", frames.CODEC8E_ONE_RECORD, bytes(range(256))):
        assert teltonika.crc16(data) == teltonika.crc16_ibm(data)


io_values = st.one_of(
    st.integers(0, 2**8 - 1), st.integers(0, 2**16 - 1), st.integers(0, 2**64 - 1)
)
records = st.builds(
    AvlRecord,
    timestamp_ms=st.integers(0, 2**42),
    priority=st.integers(0, 2),
    lon=st.integers(-1_800_000_000, 1_800_000_000).map(lambda v: v / 1e7),
    lat=st.integers(-900_000_000, 900_000_000).map(lambda v: v / 1e7),
    altitude=st.integers(-32768, 32767),
    angle=st.integers(0, 360),
    satellites=st.integers(0, 30),
    speed=st.integers(0, 300),
    event_id=st.integers(0, 255),
    io=st.dictionaries(st.integers(0, 255), io_values, max_size=12),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(records, min_size=1, max_size=8), st.sampled_from([0x08, 0x8E, 0x10]))
def test_encode_decode_round_trip(avl: list[AvlRecord], codec: int) -> None:
    assert teltonika.decode_packet(teltonika.encode_packet(avl, codec)).records == avl


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes_only_raise_frame_error(data: bytes) -> None:
    for frame in (data, struct.pack(">II", 0, max(len(data) - 4, 0)) + data):
        with contextlib.suppress(FrameError):
            teltonika.decode_packet(frame)
    with contextlib.suppress(FrameError):
        teltonika.decode_imei(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([0x08, 0x8E, 0x10]))
def test_fuzz_data_fields_with_a_valid_crc(body: bytes, codec: int) -> None:
    data = bytes([codec]) + body
    frame = struct.pack(">II", 0, len(data)) + data + struct.pack(">I", teltonika.crc16(data))
    try:
        packet = teltonika.decode_packet(frame)
    except FrameError:
        return
    for record in packet.records:
        with contextlib.suppress(Rejected):  # whatever decodes maps, or is refused
            teltonika.readings_of("B1", record)


@settings(max_examples=300, deadline=None)
@given(records, st.integers(0, 2**64 - 1))
def test_fuzz_any_record_maps_to_checked_readings_or_is_refused(
    record: AvlRecord, timestamp_ms: int
) -> None:
    record = dataclasses.replace(record, timestamp_ms=timestamp_ms)
    now = datetime(2026, 11, 23, tzinfo=UTC)
    with contextlib.suppress(Rejected):
        for reading in teltonika.readings_of("B1", record):
            with contextlib.suppress(Rejected):
                check(reading, now, TimeBounds())


@settings(max_examples=200, deadline=None)
@given(st.lists(records, min_size=1, max_size=3), st.integers(0, 400), st.binary(min_size=1))
def test_fuzz_corrupted_valid_packets(avl: list[AvlRecord], at: int, junk: bytes) -> None:
    frame = teltonika.encode_packet(avl, teltonika.CODEC_8E)
    at = at % len(frame)
    corrupted = frame[:at] + junk + frame[at + len(junk) :]
    with contextlib.suppress(FrameError):
        teltonika.decode_packet(corrupted)


def test_a_time_beyond_the_calendar_is_refused() -> None:
    record = AvlRecord(2**63, 0, 0.0, 0.0, 0, 0, 0, 0, 0, {113: 50})
    with pytest.raises(Rejected, match="beyond any calendar"):
        teltonika.readings_of("B1", record)

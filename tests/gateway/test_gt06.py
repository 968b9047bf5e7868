"""GT06 (Concox): published frames, our encoder against our decoder, fuzzing, a real socket."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.gateway.conftest import TEST_LIMITS, closed_by_peer, receive, stored, wait_for
from vigie import clock
from vigie.cases import devices
from vigie.cases.forms import DeviceIn
from vigie.gateway import gt06
from vigie.gateway.gt06 import Fix, Gt06Error, Status
from vigie.gateway.readings import Rejected, check
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.observation import TimeBounds
from vigie.store import Database

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
# Frames of Traccar's Gt06ProtocolDecoderTest (github.com/traccar/traccar), as devices sent them.
LOGIN = bytes.fromhex("78780D01086471700328358100093F040D0A")
LOCATION = bytes.fromhex(
    "7878241216040e102c22cf00915ffb04c6016300195a02d402283b00753f400571040001dda4880d0a"
)
LOCATION_4G = bytes.fromhex(
    "787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A"
)
ALARM_REMOVED = bytes.fromhex(
    "7878251613020C12141AC5027951430C2A16F60014000900000000001A00007C550300020002F1E70D0A"
)
CONCOX_IMEI = "864717003283581"


def test_crc_itu_of_published_frames() -> None:
    for frame in (LOGIN, LOCATION, LOCATION_4G, ALARM_REMOVED):
        assert gt06.crc_itu(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big")
    assert gt06.crc_itu(b"123456789") == 0x906E  # the CRC-16/X-25 check value


def test_login_and_its_ack() -> None:
    frame = gt06.decode_frame(LOGIN)
    assert (frame.protocol, frame.serial) == (gt06.LOGIN, 9)
    assert gt06.decode_login(frame.content) == CONCOX_IMEI
    assert gt06.encode_ack(frame) == bytes.fromhex("78780501000955940d0a")
    assert gt06.encode_login(CONCOX_IMEI, 9) == LOGIN


def test_location_packets() -> None:
    fix = gt06.decode_fix(gt06.decode_frame(LOCATION).content)
    assert fix.t == datetime(2022, 4, 14, 16, 44, 34, tzinfo=UTC)
    assert (fix.satellites, fix.valid, fix.course) == (15, True, 346)
    # West and south, from the status bits.
    assert fix.lat == pytest.approx(-5.2929394) and fix.lon == pytest.approx(-44.4918594)
    frame = gt06.decode_frame(LOCATION_4G)
    (position,) = gt06.readings_of("G1", frame)
    assert position["t"] == "2015-12-29T02:51:05.000Z"
    assert (position["lat"], position["lon"]) == pytest.approx((23.1116933, 114.4092978))
    assert position["accuracy_m"] == gt06.NO_HDOP_ACCURACY_M


def test_alarm_with_the_strap_removed() -> None:
    frame = gt06.decode_frame(ALARM_REMOVED)
    _, status = gt06.decode_alarm(frame.content)
    assert status.alarm_bits == gt06.STATUS_REMOVED  # Traccar reads it as "removing" too
    readings = gt06.readings_of("G1", frame)
    assert [(r["type"], r.get("what")) for r in readings] == [
        ("position", None),
        ("tamper", "strap_open"),
    ]  # voltage 0x55 is model-specific: no battery reading
    assert gt06.encode_ack(frame)[3:6] == bytes([gt06.ALARM, 0, 2])


def _with_status(frame: bytes, info: int, alarm: int) -> bytes:
    """A published alarm frame with its terminal-info and alarm bytes set, its CRC redone."""
    body = bytearray(frame)
    at = 4 + 18 + body[4 + 18]  # header and protocol, date-time and GPS, the cell (its length)
    body[at], body[at + 3] = info, alarm
    crc = gt06.crc_itu(bytes(body[2:-4]))
    return bytes(body[:-4]) + crc.to_bytes(2, "big") + bytes(body[-2:])


@pytest.mark.parametrize(("info", "alarm"), [(0x40, gt06.ALARM_SOS), (0x40 | 4 << 3, 0)])
def test_an_sos_alarm_packet_is_an_sos_after_its_fix(info: int, alarm: int) -> None:
    """The alarm byte 0x01 (Concox's "SOS"; Traccar's decodeAlarm reads it as ALARM_SOS) or the
    terminal-info alarm 4 (Traccar's decodeStatus, ALARM_SOS), in the published frame's layout."""
    frame = gt06.decode_frame(_with_status(ALARM_REMOVED, info, alarm))
    readings = gt06.readings_of("G1", frame)
    assert [r["type"] for r in readings] == ["position", "sos"]
    assert readings[1]["t"] == readings[0]["t"] == "2019-02-12T18:20:26.000Z"
    assert set(readings[1]) == {"kind", "device", "t", "seq", "type"}
    assert check(readings[1], datetime(2019, 2, 12, 18, 21, tzinfo=UTC), TimeBounds()).year == 2019


def test_a_heartbeat_with_sos_bits_is_no_sos() -> None:
    """Status bits repeat while a state lasts: only the alarm packet is a press."""
    frame = gt06.decode_frame(gt06.encode_heartbeat(Status(False, gt06.STATUS_SOS, 3, 4, 1), 7))
    assert [r["type"] for r in gt06.status_readings("G1", NOW, frame)] == ["battery"]


def test_heartbeat_is_timed_by_receipt() -> None:
    frame = gt06.decode_frame(gt06.encode_heartbeat(Status(True, 0, 3, 4, 0), 7))
    (battery,) = gt06.status_readings("G1", NOW, frame)
    assert battery["level"] == 0.5 and battery["time_source"] == "receipt"
    assert gt06.readings_of("G1", frame) == []


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\x78\x77\x05", "expected 7878 or 7979"),
        (LOGIN[:-1], "announces"),
        (LOGIN[:-2] + b"\x0d\x0b", "expected 0d0a"),
        (LOGIN[:-4] + b"\x00\x00" + LOGIN[-2:], "CRC mismatch"),
        (b"\x78\x78\x02\x01\x00\x00\x00\x00\x0d\x0a", "outside 5"),
    ],
)
def test_malformed_frames_are_refused(frame: bytes, reason: str) -> None:
    with pytest.raises(Gt06Error, match=reason):
        gt06.decode_frame(frame)


fixes = st.builds(
    Fix,
    t=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
        lambda t: t.replace(microsecond=0, tzinfo=UTC)
    ),
    lat=st.integers(-162_000_000, 162_000_000).map(lambda v: v / gt06.COORDINATE_UNIT),
    lon=st.integers(-324_000_000, 324_000_000).map(lambda v: v / gt06.COORDINATE_UNIT),
    satellites=st.integers(0, 15),
    speed_kmh=st.integers(0, 255),
    course=st.integers(0, 359),
    valid=st.booleans(),
)
statuses = st.builds(
    Status,
    charging=st.booleans(),
    alarm_bits=st.integers(0, 7),
    voltage_level=st.integers(0, 255),
    gsm=st.integers(0, 4),
    alarm=st.integers(0, 255),
)


def _same_fix(a: Fix, b: Fix) -> bool:
    # Zero has no sign: a fix at 0 reads back as north or east.
    return (
        (abs(a.lat), abs(a.lon)) == (abs(b.lat), abs(b.lon))
        and a.t == b.t
        and (
            a.satellites,
            a.speed_kmh,
            a.course,
            a.valid,
        )
        == (b.satellites, b.speed_kmh, b.course, b.valid)
    )


@settings(max_examples=150, deadline=None)
@given(fixes, statuses, st.integers(0, 0xFFFF))
def test_encode_decode_round_trip(fix: Fix, status: Status, serial: int) -> None:
    location = gt06.decode_frame(gt06.encode_location(fix, serial))
    assert location.serial == serial and _same_fix(gt06.decode_fix(location.content), fix)
    alarm = gt06.decode_frame(gt06.encode_alarm(fix, status, serial))
    decoded_fix, decoded_status = gt06.decode_alarm(alarm.content)
    assert _same_fix(decoded_fix, fix) and decoded_status == status
    heartbeat = gt06.decode_frame(gt06.encode_heartbeat(status, serial))
    assert gt06.decode_status(heartbeat.content) == status


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.text(st.characters(min_codepoint=32, max_codepoint=126)))
def test_command_and_reply_round_trip(flag: int, text: str) -> None:
    command = gt06.decode_frame(gt06.encode_command(flag, text[:200], 3))
    assert command.protocol == gt06.COMMAND
    assert gt06.decode_command(command.content) == (flag, text[:200])
    reply = gt06.decode_frame(gt06.encode_reply(flag, "OK", 4))
    assert reply.protocol == gt06.COMMAND_REPLY and gt06.decode_command(reply.content) == (
        flag,
        "OK",
    )


def _decode_everything(data: bytes) -> None:
    with contextlib.suppress(Gt06Error):
        frame = gt06.decode_frame(data)
        with contextlib.suppress(Gt06Error):
            gt06.decode_login(frame.content)
        with contextlib.suppress(Gt06Error):
            gt06.decode_command(frame.content)
        with contextlib.suppress(Gt06Error):
            readings = gt06.readings_of("G1", frame) + gt06.status_readings("G1", NOW, frame)
            for record in readings:
                with contextlib.suppress(Rejected):
                    check(record, NOW, TimeBounds())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
@example(b"\x78\x78\x05\x12\x00\x01\xd9\xdc\x0d\x0a")
def test_fuzz_arbitrary_bytes_only_raise_gt06_error(data: bytes) -> None:
    _decode_everything(data)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([gt06.LOGIN, gt06.LOCATION, gt06.HEARTBEAT, gt06.ALARM, 0x15, 0x80]),
    st.binary(max_size=80),
)
def test_fuzz_contents_behind_a_valid_crc(protocol: int, content: bytes) -> None:
    _decode_everything(gt06.encode_frame(protocol, content, 1))


# ---------------------------------------------------------------- over a real socket


@pytest.fixture
def concox(seeded: Database) -> Iterator[int]:
    with seeded.session() as session:
        devices.create_device(session, DeviceIn(id=CONCOX_IMEI, kind="bracelet"), "t")
    runner = GatewayThread(
        Gateway(seeded, TEST_LIMITS), Listen("127.0.0.1", None, None, gt06_port=0)
    )
    bound = runner.start()
    assert bound.gt06_port
    yield bound.gt06_port
    runner.stop()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(LOGIN)
    assert receive(sock, 10) == bytes.fromhex("78780501000955940d0a")
    return sock


def test_login_location_heartbeat_alarm_over_tcp(seeded: Database, concox: int) -> None:
    t = clock.now().replace(microsecond=0) - timedelta(minutes=2)
    fix = Fix(t, 48.85, 2.35, 8, 0, 90, True)
    with _connect(concox) as sock:
        sock.sendall(gt06.encode_location(fix, 10))  # not acknowledged, by the protocol
        sock.sendall(gt06.encode_heartbeat(Status(False, 0, 6, 4, 0), 11))
        assert receive(sock, 10) == gt06.encode_frame(gt06.HEARTBEAT, b"", 11)
        removed = Status(False, gt06.STATUS_REMOVED, 5, 4, 0)
        sock.sendall(gt06.encode_alarm(replace_t(fix, t + timedelta(seconds=30)), removed, 12))
        assert receive(sock, 10) == gt06.encode_frame(gt06.ALARM, b"", 12)
    rows = stored(seeded, CONCOX_IMEI)
    assert sorted((r.type, r.payload.get("what")) for r in rows) == [
        ("battery", None),
        ("battery", None),
        ("position", None),
        ("position", None),
        ("tamper", "strap_open"),
    ]
    assert {r.source for r in rows} == {"gt06"}
    first = min((r for r in rows if r.type == "position"), key=lambda r: r.t)
    assert (first.lat, first.lon) == pytest.approx((48.85, 2.35))


def replace_t(fix: Fix, t: datetime) -> Fix:
    return Fix(t, fix.lat, fix.lon, fix.satellites, fix.speed_kmh, fix.course, fix.valid)


def test_refusals_close_only_their_connection(
    seeded: Database, concox: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with socket.create_connection(("127.0.0.1", concox), timeout=10) as stranger:
        stranger.sendall(gt06.encode_login("356307042441999", 1))
        assert closed_by_peer(stranger)
    with socket.create_connection(("127.0.0.1", concox), timeout=10) as early:
        early.sendall(gt06.encode_heartbeat(Status(False, 0, 6, 4, 0), 1))
        assert closed_by_peer(early)
    with _connect(concox) as healthy, _connect(concox) as broken:
        broken.sendall(LOGIN[:-4] + b"\x00\x00" + LOGIN[-2:])
        assert closed_by_peer(broken)
        healthy.sendall(gt06.encode_heartbeat(Status(False, 0, 3, 4, 0), 2))
        assert receive(healthy, 10) == gt06.encode_frame(gt06.HEARTBEAT, b"", 2)
    wait_for(lambda: len(stored(seeded, CONCOX_IMEI)) == 1)
    assert "refused unknown device '356307042441999'" in caplog.text
    assert "expected a login" in caplog.text and "CRC mismatch" in caplog.text

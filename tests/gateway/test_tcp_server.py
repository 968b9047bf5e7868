"""Teltonika trackers over real TCP: handshake, ack after storage, duplicates, every refusal."""

from __future__ import annotations

import dataclasses
import logging
import socket
import struct

import pytest

from tests.gateway.conftest import (
    IMEI,
    ZONE,
    alarms_after_detection,
    closed_by_peer,
    obs,
    receive,
    stored,
    tracker,
)
from vigie.cases import devices
from vigie.cases.forms import DeviceIn
from vigie.gateway import teltonika
from vigie.gateway.service import Bound
from vigie.sim.protocols import avl_record, teltonika_packets
from vigie.store import Database
from vigie.store.models import QuarantinedObservation


def test_records_stored_acknowledged_and_alarmed(seeded: Database, gateway: Bound) -> None:
    records = [
        obs(IMEI, 5, "position", lat=48.88, lon=2.38, accuracy_m=10.0),
        obs(IMEI, 4, "battery", level=0.5),
        obs(IMEI, 3, "position", lat=ZONE[0], lon=ZONE[1], accuracy_m=10.0),
        obs(IMEI, 2, "tamper", what="strap_open"),
    ]
    (packet,) = teltonika_packets(records)
    with tracker(gateway.teltonika_port) as sock:
        sock.sendall(packet)
        assert receive(sock, 4) == struct.pack(">I", 4)
        rows = stored(seeded, IMEI)
        assert [(r.type, r.payload.get("what")) for r in rows] == [
            ("position", None),
            ("battery", None),
            ("position", None),
            ("tamper", "strap_open"),
        ]
        assert rows[2].lat == pytest.approx(ZONE[0]) and rows[2].accuracy_m == 10.0
        # The tracker missed the ack and sends the packet again: acknowledged, stored once.
        sock.sendall(packet)
        assert receive(sock, 4) == struct.pack(">I", 4)
    assert len(stored(seeded, IMEI)) == 4
    assert {("C1", "tamper"), ("C1", "zone_entry")} <= alarms_after_detection(seeded)


def test_buffered_records_stored_in_the_order_they_happened(
    seeded: Database, gateway: Bound
) -> None:
    # Hours out of coverage, the tracker empties its buffer newest first, in two packets.
    hours = [obs(IMEI, 60 * h, "position", lat=48.8, lon=2.3, accuracy_m=9.0) for h in range(1, 6)]
    with tracker(gateway.teltonika_port) as sock:
        for packet in (teltonika_packets(hours[:3])[0], teltonika_packets(hours[3:])[0]):
            sock.sendall(packet)
            assert receive(sock, 4) in (struct.pack(">I", 3), struct.pack(">I", 2))
    times = [r.t for r in stored(seeded, IMEI)]
    assert len(times) == 5
    assert times[:3] == sorted(times[:3]) and times[3:] == sorted(times[3:])


def test_unknown_imei_refused_and_logged(
    gateway: Bound, seeded: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with socket.create_connection(("127.0.0.1", gateway.teltonika_port), timeout=10) as sock:
        sock.sendall(teltonika.encode_imei("356307042441999"))
        assert sock.recv(1) == b"\x00"
        assert closed_by_peer(sock)
    assert "refused unknown device '356307042441999'" in caplog.text


def bad_crc(packet: bytes) -> bytes:
    return packet[:-1] + bytes([packet[-1] ^ 0xFF])


def one_packet(minutes: float = 1) -> bytes:
    return teltonika_packets([obs(IMEI, minutes, "battery", level=0.4)])[0]


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (bad_crc(one_packet()), "CRC mismatch"),
        (b"\x00\x00\x00\x00\xff\xff\xff\xff", "data length"),
        (b"\x01\x02\x03\x04\x00\x00\x00\x10", "preamble"),
        (one_packet()[:-6], "nothing whole"),  # truncated: the rest never comes
        (b"\x00\x00\x00\x00\x00\x00\x00\x05\x08\x01\x00\x00\x00\x00\x00\x00\x00\x00", "CRC"),
    ],
)
def test_malformed_frames_close_only_their_connection(
    seeded: Database,
    gateway: Bound,
    caplog: pytest.LogCaptureFixture,
    garbage: bytes,
    reason: str,
) -> None:
    caplog.set_level(logging.INFO)
    with tracker(gateway.teltonika_port) as healthy, tracker(gateway.teltonika_port) as broken:
        broken.sendall(garbage)
        assert closed_by_peer(broken)
        healthy.sendall(one_packet(2))
        assert receive(healthy, 4) == struct.pack(">I", 1)
    assert len(stored(seeded, IMEI)) == 1  # the healthy link's reading only
    assert reason in caplog.text


def test_slow_loris_handshake_is_dropped(gateway: Bound, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with socket.create_connection(("127.0.0.1", gateway.teltonika_port), timeout=10) as sock:
        sock.sendall(b"\x00")  # one byte, then nothing
        assert closed_by_peer(sock)
    assert "nothing whole within the time allowed" in caplog.text


def test_idle_link_is_closed(gateway: Bound) -> None:
    with tracker(gateway.teltonika_port) as sock:
        assert closed_by_peer(sock, timeout_s=10)  # idle_timeout_s = 2 in the tests


def test_connection_limit(gateway: Bound, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    links = [tracker(gateway.teltonika_port) for _ in range(20)]
    try:
        with socket.create_connection(("127.0.0.1", gateway.teltonika_port), timeout=10) as extra:
            assert closed_by_peer(extra)
        assert "20 connections open" in caplog.text
    finally:
        for link in links:
            link.close()


def test_flooding_device_is_cut_off_without_ack(
    seeded: Database, gateway: Bound, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    flood = [obs(IMEI, 100 - i * 0.1, "battery", level=0.5) for i in range(60)]  # burst is 50
    with tracker(gateway.teltonika_port) as sock:
        sock.sendall(teltonika_packets(flood)[0])
        assert closed_by_peer(sock)
    assert stored(seeded, IMEI) == []
    assert "sent 60 readings with 50 allowed" in caplog.text


def test_implausible_record_refused_a_wrong_clock_quarantined_the_rest_stored(
    seeded: Database, gateway: Bound, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    future = avl_record(obs(IMEI, -60, "battery", level=0.3))  # an hour ahead: a broken clock
    fine = avl_record(obs(IMEI, 1, "battery", level=0.3))
    # Regression: a time beyond the calendar once ended the connection unacknowledged, so the
    # tracker would have resent the packet for ever.
    absurd = dataclasses.replace(fine, timestamp_ms=2**63)
    with tracker(gateway.teltonika_port) as sock:
        sock.sendall(teltonika.encode_packet([future, fine, absurd]))
        assert receive(sock, 4) == struct.pack(">I", 3)  # taken: resending would not help
    in_time, ahead = sorted(stored(seeded, IMEI), key=lambda r: r.t)  # the one ahead kept too
    assert "ahead of its receipt" in caplog.text and "beyond any calendar" in caplog.text
    assert ("C1", "clock_fault") in alarms_after_detection(seeded)
    with seeded.session() as session:
        assert session.get_one(QuarantinedObservation, ahead.id).clock_fault
        assert session.get(QuarantinedObservation, in_time.id) is None


def test_concurrent_trackers_each_acknowledged_for_their_own_packet(
    seeded: Database, gateway: Bound
) -> None:
    imeis = [f"35000000000{n:04d}" for n in range(15)]
    with seeded.session() as session:
        for imei in imeis:
            devices.create_device(session, DeviceIn(id=imei, kind="bracelet"), "t")
    links = [tracker(gateway.teltonika_port, imei) for imei in imeis]
    try:
        for n, link in enumerate(links):  # all in flight at once: stored in shared commits
            records = [obs(imeis[n], 30 + i / 10, "battery", level=0.5) for i in range(n + 1)]
            link.sendall(teltonika_packets(records)[0])
        acks = [receive(link, 4) for link in links]
    finally:
        for link in links:
            link.close()
    assert acks == [struct.pack(">I", n + 1) for n in range(15)]
    assert [len(stored(seeded, imei)) for imei in imeis] == list(range(1, 16))

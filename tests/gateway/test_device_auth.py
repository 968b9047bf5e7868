"""Devices prove who they are at the gateway: the phone's OsmAnd key (a spoof refused, logged
and audited), the tracker's registered IMEI over TLS; every stored row names its channel."""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.gateway.conftest import (
    IMEI,
    PHONE,
    TEST_LIMITS,
    ZONE,
    closed_by_peer,
    key,
    obs,
    receive,
    stored,
)
from vigie import clock
from vigie.cases import device_secrets
from vigie.gateway import teltonika
from vigie.gateway.registry import Registry, UnknownDevice, WrongSecret
from vigie.gateway.service import Bound, Gateway, GatewayThread, Listen
from vigie.sim.protocols import TeltonikaTracker, teltonika_packets
from vigie.store import Database, audit
from vigie.store.models import AuditEntry


def report(gateway: Bound, device: str, **extra: str) -> httpx.Response:
    """A Traccar Client report of a fix in the zone, now."""
    params = {"id": device, "timestamp": str(int(clock.now().timestamp()) - 60)}
    params |= {"lat": str(ZONE[0]), "lon": str(ZONE[1])} | extra
    return httpx.get(f"http://127.0.0.1:{gateway.osmand_port}/", params=params, timeout=10)


def refusals(db: Database) -> list[AuditEntry]:
    with db.session() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "device_refused"))
        )


def test_a_spoofed_osmand_report_for_the_protected_phone_is_refused_logged_and_audited(
    seeded: Database, gateway: Bound, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    spoofs = [report(gateway, PHONE), report(gateway, PHONE, key="guessed-key")]
    assert [r.status_code for r in spoofs] == [403, 403]
    assert "no key" in spoofs[0].text and "wrong key" in spoofs[1].text
    assert stored(seeded) == []
    assert "osmand ('127.0.0.1'" in caplog.text and f"device '{PHONE}': no key" in caplog.text
    # One audit entry a minute per device and protocol; the next one counts those in between.
    (entry,) = refusals(seeded)
    assert (entry.actor, entry.target) == ("gateway", f"device:{PHONE}")
    assert entry.detail["reason"] == "no key" and entry.detail["case"] == "C2"
    assert entry.detail["protocol"] == "osmand"
    genuine = report(gateway, PHONE, key=key(PHONE))
    assert genuine.status_code == 200, genuine.text
    assert [(r.device, r.source) for r in stored(seeded)] == [(PHONE, "osmand")]


def test_a_device_without_a_secret_cannot_report_over_osmand(
    seeded: Database, gateway: Bound
) -> None:
    """The bracelet has no secret (it is known by its IMEI on Teltonika): its id over OsmAnd,
    with any key, is refused."""
    assert report(gateway, IMEI, key="anything").status_code == 403
    assert stored(seeded) == []


def test_a_refusal_slower_to_record_than_the_frame_timeout_is_still_answered(
    seeded: Database, gateway: Bound
) -> None:
    """The frame timeout bounds the request's arrival (slow-loris), not the centre's work on
    it: an audit write held up past it by another transaction (a loaded database) is answered,
    not a connection dropped unanswered (seen in CI on PostgreSQL)."""
    held, release = threading.Event(), threading.Event()

    def hold_the_audit_chain() -> None:
        with seeded.session() as session:
            audit.record(session, "test", "hold", "audit_head")  # takes the chain's lock
            session.flush()
            held.set()
            release.wait(TEST_LIMITS.frame_timeout_s + 0.5)

    holder = threading.Thread(target=hold_the_audit_chain)
    holder.start()
    try:
        assert held.wait(10)
        answer = report(gateway, IMEI, key="anything")
    finally:
        release.set()
        holder.join()
    assert answer.status_code == 403, answer.text
    assert [e.action for e in refusals(seeded)] == ["device_refused"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, private = folder / "gateway.pem", folder / "gateway.key"
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    argv += ["-keyout", str(private), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
    argv += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(argv, check=True, capture_output=True)
    return cert, private


@pytest.fixture
def tls_gateway(seeded: Database, certificate: tuple[Path, Path]) -> Iterator[Bound]:
    cert, private = certificate
    listen = Listen("127.0.0.1", None, None, teltonika_tls_port=0, tls_cert=cert, tls_key=private)
    # The TLS handshake is bounded by the frame timeout: TEST_LIMITS' 1 s was once too short for
    # the gateway's thread on a loaded test host (the tracker's first write met EOF). Nothing
    # here tests that bound (test_tcp_server.py's slow-loris tests do, in plain TCP).
    limits = dataclasses.replace(TEST_LIMITS, frame_timeout_s=10.0)
    runner = GatewayThread(Gateway(seeded, limits), listen)
    bound = runner.start()
    yield bound
    runner.stop()


def test_teltonika_over_tls(
    seeded: Database, tls_gateway: Bound, certificate: tuple[Path, Path]
) -> None:
    """A tracker that checks the gateway's certificate sends over TLS, is acknowledged after
    storage; an unknown IMEI is refused there too; a plain TCP client gets nothing."""
    assert tls_gateway.teltonika_tls_port is not None and tls_gateway.teltonika_port is None
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    link = TeltonikaTracker("127.0.0.1", tls_gateway.teltonika_tls_port, IMEI, 10, trust)
    (packet,) = teltonika_packets([obs(IMEI, 2, "battery", level=0.5)])
    try:
        link.send(packet)
        assert link.ack() == 1
    finally:
        link.close()
    assert [(r.device, r.source) for r in stored(seeded)] == [(IMEI, "teltonika-tls")]

    stranger = TeltonikaTracker(
        "127.0.0.1", tls_gateway.teltonika_tls_port, "356307042441999", 10, trust
    )
    with pytest.raises(ConnectionRefusedError, match="refused tracker"):
        stranger.send(packet)
    with socket.create_connection(("127.0.0.1", tls_gateway.teltonika_tls_port), 10) as plain:
        plain.sendall(teltonika.encode_imei(IMEI))
        assert closed_by_peer(plain)
    assert len(stored(seeded)) == 1


def test_teltonika_rows_name_their_channel(seeded: Database, gateway: Bound) -> None:
    with socket.create_connection(("127.0.0.1", gateway.teltonika_port), timeout=10) as sock:
        sock.sendall(teltonika.encode_imei(IMEI))
        assert sock.recv(1) == b"\x01"
        sock.sendall(teltonika_packets([obs(IMEI, 1, "battery", level=0.7)])[0])
        assert receive(sock, 4) == struct.pack(">I", 1)
    assert [r.source for r in stored(seeded)] == ["teltonika"]


def test_a_new_secret_retires_the_old_one(seeded: Database) -> None:
    """The registry remembers a key found right, but only for the secret it matched."""
    registry = Registry(seeded, ttl_s=0)
    assert registry.authenticate(PHONE, key(PHONE), "osmand", "t").id == PHONE
    assert registry.authenticate(PHONE, key(PHONE), "osmand", "t").id == PHONE
    with seeded.session() as session:
        new = device_secrets.issue(session, PHONE, "t")
    with pytest.raises(WrongSecret, match="wrong key"):
        registry.authenticate(PHONE, key(PHONE), "osmand", "t")
    assert registry.authenticate(PHONE, new, "osmand", "t").id == PHONE
    with pytest.raises(UnknownDevice):
        registry.authenticate("nobody", new, "osmand", "t")

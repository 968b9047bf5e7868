"""A device withdrawn from service is refused at the gateway, logged and audited, on Teltonika
(its IMEI) and on OsmAnd (its old key): a lost bracelet or a stolen phone feeds nothing."""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select, text

from tests.gateway.conftest import TEST_LIMITS, ZONE, closed_by_peer, key, obs, receive, stored
from vigie import clock
from vigie.cases import device_secrets, devices, withdrawal
from vigie.cases.forms import DeviceIn, DeviceReinstateIn, DeviceWithdrawalIn, WithdrawalReason
from vigie.gateway import teltonika
from vigie.gateway.registry import Registry, WithdrawnDevice
from vigie.gateway.service import Bound, Gateway, GatewayThread, Listen
from vigie.sim.protocols import teltonika_packets
from vigie.store import Database
from vigie.store.models import AuditEntry, Device

SPARE_IMEI = "356307042441020"  # a tracker on the shelf, no case
SPARE_PHONE = "PHONE-SPARE"


@pytest.fixture
def gateway(seeded: Database) -> Iterator[Bound]:
    """The gateway reading the registry afresh at every lookup (no 5-s cache): a withdrawal is
    seen at the next connection."""
    with seeded.session() as session:
        for device, kind in ((SPARE_IMEI, "bracelet"), (SPARE_PHONE, "protected_device")):
            devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
        device_secrets.set_secret(session.get_one(Device, SPARE_PHONE), key(SPARE_PHONE))
    registry = Registry(seeded, ttl_s=0.0)
    runner = GatewayThread(
        Gateway(seeded, TEST_LIMITS, registry=registry), Listen("127.0.0.1", 0, 0, None)
    )
    bound = runner.start()
    yield bound
    runner.stop()


def set_withdrawn(db: Database, device: str, reason: WithdrawalReason = "lost") -> None:
    with db.session() as session:
        form = DeviceWithdrawalIn(reason=reason)
        withdrawal.withdraw(session, device, form, "supervisor1", clock.now())


def refusals(db: Database, device: str) -> list[AuditEntry]:
    with db.session() as session:
        return list(
            session.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "device_refused", AuditEntry.target == f"device:{device}"
                )
            )
        )


def teltonika_link(port: int) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(teltonika.encode_imei(SPARE_IMEI))
    return sock, sock.recv(1)


def report(gateway: Bound) -> httpx.Response:
    params = {"id": SPARE_PHONE, "key": key(SPARE_PHONE), "lat": str(ZONE[0]), "lon": str(ZONE[1])}
    params["timestamp"] = str(int(clock.now().timestamp()) - 60)
    return httpx.get(f"http://127.0.0.1:{gateway.osmand_port}/", params=params, timeout=10)


def test_a_withdrawn_tracker_is_refused_at_its_handshake_and_audited(
    seeded: Database, gateway: Bound, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    sock, answer = teltonika_link(gateway.teltonika_port)
    with sock:
        assert answer == b"\x01"  # in service: accepted (no case: stored, not watched)
        sock.sendall(teltonika_packets([obs(SPARE_IMEI, 1, "battery", level=0.6)])[0])
        assert receive(sock, 4) == struct.pack(">I", 1)
    set_withdrawn(seeded, SPARE_IMEI)
    for _ in range(2):
        sock, answer = teltonika_link(gateway.teltonika_port)
        with sock:
            assert answer == b"\x00"
            assert closed_by_peer(sock)
    assert len(stored(seeded, SPARE_IMEI)) == 1  # what it sent in service stays
    assert f"device '{SPARE_IMEI}' was withdrawn from service" in caplog.text
    (entry,) = refusals(seeded, SPARE_IMEI)  # one a minute, the next counts the others
    assert entry.actor == "gateway" and entry.detail["protocol"] == "teltonika"
    assert entry.detail["reason"] == "withdrawn from service" and entry.detail["case"] is None

    with seeded.session() as session:
        back = DeviceReinstateIn(note="found in the SPIP's office")
        withdrawal.reinstate(session, SPARE_IMEI, back, "supervisor1", clock.now())
    sock, answer = teltonika_link(gateway.teltonika_port)
    with sock:
        assert answer == b"\x01"


def test_a_withdrawn_phone_is_refused_with_the_key_it_had(seeded: Database, gateway: Bound) -> None:
    accepted = report(gateway)
    assert accepted.status_code == 200, accepted.text
    set_withdrawn(seeded, SPARE_PHONE, "stolen")
    refused = report(gateway)
    assert refused.status_code == 403 and "withdrawn from service" in refused.text
    assert len(stored(seeded, SPARE_PHONE)) == 1
    (entry,) = refusals(seeded, SPARE_PHONE)
    assert (
        entry.detail["protocol"] == "osmand" and entry.detail["reason"] == "withdrawn from service"
    )


def test_a_directory_entry_carries_the_mark_only_when_withdrawn() -> None:
    """In service, an entry reads as before the mark (a gateway not yet upgraded decodes it);
    withdrawn, the mark travels to every gateway."""
    from vigie.cluster.directory import DeviceEntry

    in_service = DeviceEntry(SPARE_IMEI, "bracelet", None, 3, None)
    assert b"withdrawn" not in in_service.encode()
    assert DeviceEntry.decode(in_service.encode()) == in_service
    withdrawn = DeviceEntry(SPARE_IMEI, "bracelet", None, 3, None, withdrawn=True)
    assert DeviceEntry.decode(withdrawn.encode()).withdrawn is True


def test_a_refusal_stands_when_it_cannot_be_audited(seeded: Database) -> None:
    """The database away (a failover) while a device is refused: the refusal stands, it is
    not turned into a fault of the gateway (a tracker's link, an MQTT message retried)."""
    with seeded.session() as session:
        devices.create_device(session, DeviceIn(id=SPARE_IMEI, kind="bracelet"), "t")
    set_withdrawn(seeded, SPARE_IMEI)
    registry = Registry(seeded, ttl_s=3600.0)  # the device read once, then from the cache
    with pytest.raises(WithdrawnDevice):
        registry.lookup(SPARE_IMEI, "teltonika", "peer")
    with seeded.session() as session:  # the audit log now refuses every write
        session.execute(text("DROP TABLE audit_log"))
    with pytest.raises(WithdrawnDevice):
        registry.lookup(SPARE_IMEI, "gt06", "peer")

"""The simulator's protocol mode: replay records sent as Teltonika, OsmAnd and MQTT come back
from the store as the same observations (to each protocol's precision)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import free_port
from tests.gateway.conftest import (
    GATEWAY_MQTT,
    HOME_UNIT,
    IMEI,
    PHONE,
    broker_passwords,
    minutes_ago,
    stored,
    wait_for,
)
from vigie import clock
from vigie.cases import device_secrets, devices
from vigie.cases.forms import DeviceIn
from vigie.gateway.broker import Mosquitto
from vigie.gateway.limits import Limits
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.sim.protocols import DemoDevices, ProtocolFeeder, avl_record, osmand_params
from vigie.store import Database
from vigie.store.models import AuditEntry


def records() -> list[dict[str, object]]:
    def obs(device: str, minutes: float, type_: str, **fields: object) -> dict[str, object]:
        return {"kind": "obs", "device": device, "t": minutes_ago(minutes), "type": type_} | fields

    return [
        obs("B000001", 9, "position", lat=48.8566, lon=2.3522, accuracy_m=12.0),
        obs("B000001", 8, "battery", level=0.37),
        obs("B000001", 7, "tamper", what="strap_open"),
        obs("B000001", 6, "tamper", what="restored"),
        obs("H000001", 9, "presence", present=False),
        obs("H000001", 8, "power", mains=False),
        obs("H000001", 7, "tamper", what="case_open"),
        obs("P000001", 9, "position", lat=48.86, lon=2.36, accuracy_m=7.5),
        obs("P000001", 8, "battery", level=0.81),
    ]


def test_every_record_arrives_through_its_protocol(db: Database, tmp_path: Path) -> None:
    with db.session() as session:
        for device, kind in (("B000001", "bracelet"), ("H000001", "home_unit")):
            devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
        devices.create_device(session, DeviceIn(id="P000001", kind="protected_device"), "t")
        keys = {d: device_secrets.issue(session, d, "t") for d in ("H000001", "P000001")}
    broker = Mosquitto(tmp_path / "mosquitto", free_port(), broker_passwords(db))
    broker.start()
    runner = GatewayThread(
        Gateway(db, Limits(), mqtt_client_id="vigie-gateway-sim-test"),
        Listen("127.0.0.1", 0, 0, ("127.0.0.1", broker.port), GATEWAY_MQTT),
    )
    try:
        bound = runner.start()
        assert bound.teltonika_port is not None and bound.osmand_port is not None
        sent = records()
        ports = (bound.teltonika_port, bound.osmand_port, broker.port)
        feeder = ProtocolFeeder([], "127.0.0.1", *ports, keys)
        try:
            assert feeder.send_records(sent) == len(sent)
            # "restored" is two readings over Teltonika: the strap and the case closed.
            wait_for(lambda: len(stored(db)) == len(sent) + 1)
        finally:
            feeder.close()
    finally:
        runner.stop()
        broker.stop()
    got = {
        (r.device, r.type, r.t.replace(tzinfo=UTC), r.payload.get("what")): r for r in stored(db)
    }
    for record in sent:
        t = datetime.fromisoformat(str(record["t"]).replace("Z", "+00:00"))
        what = {"restored": "strap_closed"}.get(str(record.get("what")), record.get("what"))
        row = got[(record["device"], record["type"], t, what)]
        for name in ("lat", "lon", "accuracy_m", "level", "present", "mains"):
            if name in record:
                assert row.payload[name] == pytest.approx(record[name], abs=1e-6), name
    assert ("B000001", "tamper", t_of(sent[3]), "case_closed") in got


def t_of(record: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(record["t"]).replace("Z", "+00:00"))


def test_protocol_forms() -> None:
    fix = {"device": "P1", "t": "2026-11-23T20:00:00Z", "type": "position"}
    fix |= {"lat": 48.5, "lon": 2.5, "accuracy_m": 9.0}
    assert osmand_params(fix) == {
        "id": "P1",
        "timestamp": "1795464000",
        "lat": "48.500000",
        "lon": "2.500000",
        "accuracy": "9.0",
    }
    record = avl_record({"t": "2026-11-23T20:00:00Z", "type": "tamper", "what": "case_open"})
    assert (record.event_id, record.io) == (2, {2: 0})
    with pytest.raises(ValueError, match="no 'tamper'"):
        osmand_params(fix | {"type": "tamper", "what": "case_open"})


def test_the_demo_devices_prove_themselves_with_the_secrets_they_are_issued(
    seeded: Database,
) -> None:
    """`vigie centre demo --via gateway`'s devices: each registered device is issued a new
    secret (audited), the phone sends it as its key, the home unit logs in to the broker with
    it, and every reading arrives by its own channel."""
    with seeded.session() as session:
        devices.create_device(session, DeviceIn(id="P9", kind="protected_device"), "t")
    pending = [
        {"kind": "obs", "device": IMEI, "t": minutes_ago(3), "type": "battery", "level": 0.5},
        {"kind": "obs", "device": HOME_UNIT, "t": minutes_ago(2), "type": "power", "mains": True},
        {"kind": "obs", "device": "P9", "t": minutes_ago(1), "type": "battery", "level": 0.9},
    ]
    demo = DemoDevices(seeded, pending)
    try:
        assert demo.send(clock.now()) == 3
        wait_for(lambda: len(stored(seeded)) == 3)
    finally:
        demo.close()
    assert {(r.device, r.source) for r in stored(seeded)} == {
        (IMEI, "teltonika"),
        (HOME_UNIT, "mqtt"),
        ("P9", "osmand"),
    }
    with seeded.session() as session:
        issued = session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "issue_device_secret")
        ).all()
    assert {f"device:{d}" for d in (IMEI, PHONE, HOME_UNIT, "P9")} <= set(issued)


@pytest.mark.parametrize(
    ("trackers", "source"),
    [("codec16", "teltonika"), ("teltonika-udp", "teltonika-udp"), ("gt06", "gt06")],
)
def test_the_demo_drives_the_new_tracker_protocols(
    seeded: Database, trackers: str, source: str
) -> None:
    pending = [
        {"kind": "obs", "device": IMEI, "t": minutes_ago(3), "type": "position"}
        | {"lat": 48.85, "lon": 2.35, "accuracy_m": 10.0},
        {
            "kind": "obs",
            "device": IMEI,
            "t": minutes_ago(2),
            "type": "tamper",
            "what": "strap_open",
        },
    ]
    demo = DemoDevices(seeded, pending, trackers)
    try:
        assert trackers in demo.describe()
        assert demo.send(clock.now()) == 2
        wait_for(lambda: len(stored(seeded, IMEI)) == 2)
    finally:
        demo.close()
    rows = stored(seeded, IMEI)
    assert {r.source for r in rows} == {source}
    assert sorted((r.type, r.payload.get("what")) for r in rows) == [
        ("position", None),
        ("tamper", "strap_open"),
    ]
    (fix,) = [r for r in rows if r.type == "position"]
    assert (fix.lat, fix.lon) == pytest.approx((48.85, 2.35), abs=1e-6)

"""The simulator's protocol mode: replay records sent as Teltonika, OsmAnd and MQTT come back
from the store as the same observations (to each protocol's precision)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

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
from tests.gateway.test_commands import _state
from vigie import clock
from vigie.alarms.pipeline import Pipeline
from vigie.cases import device_secrets, devices
from vigie.cases.forms import DeviceIn
from vigie.commands.centre import seed
from vigie.gateway import command_queue, gt06
from vigie.gateway.broker import Mosquitto
from vigie.gateway.limits import Limits
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.ports import free_port
from vigie.settings import Settings
from vigie.sim.protocols import (
    DemoDevices,
    ProtocolFeeder,
    avl_record,
    gt06_carries,
    imei_of,
    osmand_params,
)
from vigie.store import Database
from vigie.store.models import (
    Alarm,
    AuditEntry,
    Device,
    DeviceAssignment,
    DeviceCommand,
    Observation,
    Placement,
)


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
        obs("H000001", 6, "sos"),  # a home unit's alert button, over MQTT
        obs("P000001", 9, "position", lat=48.86, lon=2.36, accuracy_m=7.5),
        obs("P000001", 8, "battery", level=0.81),
        obs("P000001", 7, "sos"),  # her Traccar Client's SOS: alarm=sos over OsmAnd
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
                assert row.record[name] == pytest.approx(record[name], abs=1e-6), name
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
    assert osmand_params(fix | {"type": "sos"}) == {
        "id": "P1",
        "timestamp": "1795464000",
        "alarm": "sos",
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


def test_the_demo_bracelets_imeis_are_real_imeis() -> None:
    imei = imei_of("B000123")
    assert imei == "350000000001236"  # "35", the bracelet's number, the Luhn check digit
    # Luhn: every second digit from the right doubled, digits summed, a multiple of 10.
    doubled = [int(c) * (2 if i % 2 else 1) for i, c in enumerate(reversed(imei))]
    assert sum(d // 10 + d % 10 for d in doubled) % 10 == 0
    assert len({imei_of(f"B{n:06d}") for n in range(1000)}) == 1000
    login = gt06.decode_frame(gt06.encode_login(imei))
    assert gt06.decode_login(login.content) == imei
    with pytest.raises(ValueError, match="no number"):
        imei_of("Bxyz")


def test_the_demo_over_gt06_stores_readings_and_raises_alarms(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`vigie centre demo --trackers gt06`: the simulated bracelets are seeded under IMEIs, what
    they send comes through the GT06 listener, and detection raises alarms on it."""
    # A fixed day: the simulated population is the same whenever the test runs.
    now = [datetime(2026, 11, 23, 13, 0, tzinfo=UTC)]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    *_, pending = seed(db, 4, 1, imei_bracelets=True)
    with db.session() as session:
        bracelets = set(session.scalars(select(Device.id).where(Device.kind == "bracelet")))
        cases = {p.case_ref for p in session.scalars(select(Placement))}
    assert bracelets and all(b.isdigit() and len(b) == 15 for b in bracelets)
    assert not any(str(r["device"]).startswith("B") for r in pending)
    # A bracelet's strap opened a minute before the feed: GT06 sends it as an alarm packet.
    bracelet = min(bracelets)
    now[0] += timedelta(minutes=60)
    opened = {"kind": "obs", "device": bracelet, "t": minutes_ago(1), "type": "tamper"}
    pending = sorted([*pending, opened | {"what": "strap_open"}], key=t_of)
    due = [r for r in pending if t_of(r) <= now[0] and r["device"] in bracelets]
    fixes = {(r["device"], t_of(r)) for r in due if r["type"] == "position"}
    assert fixes and all(gt06_carries(r) or r["what"] == "restored" for r in due)
    demo = DemoDevices(db, pending, "gt06")
    try:
        assert "trackers (gt06) tcp://" in demo.describe()
        demo.send(now[0])
        wait_for(lambda: sum(r.type == "position" for r in from_gt06(db)) == len(fixes))
    finally:
        demo.close()
    rows = from_gt06(db)
    assert {r.device for r in rows} <= bracelets
    assert {(r.device, r.t.replace(tzinfo=UTC)) for r in rows if r.type == "position"} == fixes
    assert (bracelet, "strap_open") in {(r.device, r.payload.get("what")) for r in rows}
    Pipeline(db, Settings(escalation_after_s=3600)).step()
    with db.session() as session:
        raised = {(a.case_ref, a.kind) for a in session.scalars(select(Alarm))}
        case_of = session.scalars(
            select(Placement.case_ref)
            .join(DeviceAssignment)
            .where(DeviceAssignment.device_id == bracelet)
        ).one()
    assert case_of in cases and (case_of, "tamper") in raised


def from_gt06(db: Database) -> list[Observation]:
    return [r for r in stored(db) if r.source == "gt06"]


@pytest.mark.parametrize("trackers", ["teltonika", "codec16", "gt06"])
def test_the_demo_trackers_take_a_command_between_two_packets_and_answer_it(
    seeded: Database, trackers: str
) -> None:
    """A command sent down a tracker's open link between two of its packets (the pipeline asks
    another rate when an alarm opens): `make demo` stopped a minute in at it, "0 acknowledged
    of 1", Codec 12's zero preamble read as the next packet's acknowledgement."""

    fix = {"kind": "obs", "device": IMEI, "t": minutes_ago(3), "type": "position"}
    fix |= {"lat": 48.85, "lon": 2.35, "accuracy_m": 10.0}
    # A heartbeat next: GT06 acknowledges it (not a location), and the link is read then.
    battery = {"kind": "obs", "device": IMEI, "t": minutes_ago(1), "type": "battery"}
    demo = DemoDevices(seeded, [fix, battery | {"level": 0.5}], trackers)
    try:
        assert demo.send(clock.now() - timedelta(minutes=2)) == 1
        with seeded.session() as session:
            asked = command_queue.queue(
                session, IMEI, "report_every", {"seconds": 60}, "pipeline", clock.now()
            ).id
        wait_for(lambda: _state(seeded, asked) == "sent")  # down the open link
        assert demo.send(clock.now()) == 1
        wait_for(lambda: _state(seeded, asked) == "answered")
    finally:
        demo.close()
    assert len(stored(seeded, IMEI)) == 2
    with seeded.session() as session:
        command = session.get_one(DeviceCommand, asked)
        sent, reply = command.sent_text, command.reply
    if trackers == "gt06":
        assert (sent, reply) == ("TIMER,60#", "TIMER,60: OK")
    else:
        assert (sent, reply) == ("setparam 10000:60;10050:60", "New value 10000:60;10050:60;")


def test_the_demo_home_units_answer_the_commands_they_get_over_mqtt(seeded: Database) -> None:
    """The units report over MQTT and get their commands on their own topic: the demo's answer
    them on theirs, so its console shows the commands answered, not sent for ever."""
    presence = {"kind": "obs", "device": HOME_UNIT, "type": "presence", "present": True}
    pending = [presence | {"t": minutes_ago(3)}, presence | {"t": minutes_ago(1)}]
    demo = DemoDevices(seeded, pending, "teltonika")
    try:
        assert demo.send(clock.now() - timedelta(minutes=2)) == 1  # heard by the gateway
        with seeded.session() as session:
            asked = command_queue.queue(
                session, HOME_UNIT, "query_status", {}, "user:sup1", clock.now()
            ).id
        wait_for(lambda: _state(seeded, asked) == "sent")
        assert demo.send(clock.now()) == 1
        # A unit answers, at its next report, what reached it by then (the demo sends every few
        # seconds). The gateway marks a command sent before it publishes it (a quick reply then
        # finds it sent), so it may reach the unit after this report: seen once in a clean run.
        wait_for(lambda: demo.send(clock.now()) == 0 and _state(seeded, asked) == "answered")
    finally:
        demo.close()
    with seeded.session() as session:
        assert session.get_one(DeviceCommand, asked).reply == "query_status: OK"

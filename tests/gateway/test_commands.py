"""Talking back: the command queue, Codec 12 and GT06 commands over real sockets, the pipeline
raising a case's reporting rate while its alarm is open, and the API."""

from __future__ import annotations

import json
import queue
import socket
import struct
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.gateway.conftest import (
    GATEWAY_MQTT,
    HOME_UNIT,
    IMEI,
    PHONE,
    TEST_LIMITS,
    ZONE,
    key,
    obs,
    receive,
    tracker,
    wait_for,
)
from vigie import clock
from vigie.alarms import workflow
from vigie.alarms.pipeline import Pipeline
from vigie.api.security import create_user
from vigie.gateway import command_queue, teltonika, teltonika_udp
from vigie.gateway.broker import Mosquitto
from vigie.gateway.commands import BadCommand, checked_args, text_for
from vigie.gateway.mqtt import command_topic, reply_topic, topic_for
from vigie.gateway.service import Bound, Gateway, GatewayThread, Listen
from vigie.settings import Settings
from vigie.sim.protocols import TeltonikaUdpTracker, avl_record, teltonika_packets
from vigie.store import Database
from vigie.store.models import Alarm, AuditEntry, DeviceCommand


def test_codec12_of_the_documentation() -> None:
    # Teltonika's Codec 12 example: the "getinfo" command, and a device's reply (Traccar's test).
    assert teltonika.encode_message("getinfo") == bytes.fromhex(
        "000000000000000F0C010500000007676574696E666F0100004312"
    )
    reply = bytes.fromhex(
        "00000000000000370C01060000002F4449313A31204449323A30204449333A302041494E313A302041494E32"
        "3A313639323420444F313A3020444F323A3101000066E3"
    )
    assert teltonika.decode_message(teltonika.checked_data(reply)) == (
        teltonika.REPLY,
        "DI1:1 DI2:0 DI3:0 AIN1:0 AIN2:16924 DO1:0 DO2:1",
    )


@settings(max_examples=100, deadline=None)
@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300))
def test_codec12_round_trip(text: str) -> None:
    for kind in (teltonika.COMMAND, teltonika.REPLY):
        frame = teltonika.encode_message(text, kind)
        assert teltonika.decode_message(teltonika.checked_data(frame)) == (kind, text)


def test_codec12_over_udp_is_its_data_field_in_the_channel_header() -> None:
    # The UDP channel header (length, packet id, 0x01, AVL packet id, IMEI), then the data
    # field of the documentation's "getinfo" packet without its preamble, length and CRC.
    imei = IMEI.encode().hex()
    assert teltonika_udp.encode_message(IMEI, "getinfo", teltonika.COMMAND, 0x0102, 3) == (
        bytes.fromhex(f"0024 0102 01 03 000F {imei} 0C01050000000767657469 6E666F 01")
    )
    # Traccar's test reply, as a device sends it over UDP.
    data = "0C01060000002F4449313A31204449323A30204449333A302041494E313A302041494E323A3136393234"
    data += "20444F313A3020444F323A3101"
    datagram = bytes.fromhex(f"004C CAFE 01 07 000F {imei} {data}")
    assert teltonika_udp.decode(datagram) == teltonika_udp.Message(
        0xCAFE, 7, IMEI, teltonika.REPLY, "DI1:1 DI2:0 DI3:0 AIN1:0 AIN2:16924 DO1:0 DO2:1"
    )
    with pytest.raises(teltonika.FrameError, match="codec 0x0c is not supported"):
        teltonika_udp.decode_datagram(datagram)  # where AVL data is expected, refused


@settings(max_examples=100, deadline=None)
@given(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFF),
)
def test_codec12_over_udp_round_trip(text: str, packet_id: int, avl_id: int) -> None:
    for kind in (teltonika.COMMAND, teltonika.REPLY):
        frame = teltonika_udp.encode_message(IMEI, text, kind, packet_id, avl_id)
        assert teltonika_udp.decode(frame) == teltonika_udp.Message(
            packet_id, avl_id, IMEI, kind, text
        )


@pytest.mark.parametrize(
    ("kind", "args", "reason"),
    [
        ("reboot", {}, "kind 'reboot' is not one of"),
        ("report_every", {}, "seconds must be a whole number in 10..86400"),
        ("report_every", {"seconds": 5}, "10..86400"),
        ("vibrate", {"seconds": 61}, "1..60"),
        ("vibrate", {"volume": 3}, "takes only 'seconds'"),
        ("query_status", {"seconds": 3}, "takes no arguments"),
    ],
)
def test_bad_commands_are_refused(kind: str, args: dict[str, int], reason: str) -> None:
    with pytest.raises(BadCommand, match=reason):
        checked_args(kind, args)


def test_texts_per_protocol() -> None:
    assert text_for("teltonika", "report_every", {"seconds": 30}) == "setparam 10000:30;10050:30"
    assert text_for("teltonika-udp", "vibrate", {"seconds": 5}) == "setdigout 1 5"
    assert text_for("gt06", "report_every", {"seconds": 30}) == "TIMER,30#"
    assert text_for("gt06", "vibrate", {"seconds": 5}) is None
    assert text_for("osmand", "query_status", {}) is None
    assert '"kind": "vibrate"' in str(text_for("mqtt", "vibrate", {"seconds": 5}, 7))


# ---------------------------------------------------------------- a simulated Teltonika device


@pytest.fixture
def talking_gateway(seeded: Database) -> Iterator[Bound]:
    runner = GatewayThread(
        Gateway(seeded, TEST_LIMITS, command_poll_s=0.05), Listen("127.0.0.1", 0, 0, None)
    )
    yield runner.start()
    runner.stop()


def _read_frame(sock: socket.socket) -> bytes:
    header = receive(sock, 8)
    (length,) = struct.unpack(">I", header[4:])
    return header + receive(sock, length + 4)


def _command(sock: socket.socket) -> str:
    kind, text = teltonika.decode_message(teltonika.checked_data(_read_frame(sock)))
    assert kind == teltonika.COMMAND
    return text


def _state(db: Database, command_id: int) -> str:
    with db.session() as session:
        return session.get_one(DeviceCommand, command_id).state


def _commands(db: Database, device: str) -> list[DeviceCommand]:
    with db.session() as session:
        return list(reversed(command_queue.history(session, device)))


def test_a_device_in_a_zone_gets_its_rate_raised_then_restored(
    seeded: Database, talking_gateway: Bound
) -> None:
    config = Settings(escalation_after_s=3600, report_rate_check_s=0)
    pipeline = Pipeline(seeded, config)
    with tracker(talking_gateway.teltonika_port) as device:
        (packet,) = teltonika_packets(
            [obs(IMEI, 2, "position", lat=ZONE[0], lon=ZONE[1], accuracy_m=10.0)]
        )
        device.sendall(packet)
        assert receive(device, 4) == struct.pack(">I", 1)
        pipeline.step()  # the zone entry opens an alarm; the rate goes up
        with seeded.session() as session:
            alarm = session.scalars(select(Alarm).where(Alarm.case_ref == "C1")).one()
            alarm_id = alarm.id
        assert _command(device) == "setparam 10000:30;10050:30"  # DDSE's alarm rate
        wait_for(lambda: _commands(seeded, IMEI)[-1].state == "sent")
        device.sendall(teltonika.encode_message("New value 10000:30;10050:30;", teltonika.REPLY))
        wait_for(lambda: _commands(seeded, IMEI)[-1].state == "answered")
        (raised,) = _commands(seeded, IMEI)
        assert (raised.requested_by, raised.alarm_id) == ("pipeline", alarm_id)
        assert raised.reply == "New value 10000:30;10050:30;" and raised.protocol == "teltonika"
        pipeline.step()  # still open: nothing more asked
        assert len(_commands(seeded, IMEI)) == 1
        with seeded.session() as session:
            operator = create_user(session, "op1", "correct horse battery", "operator", "Op")
            alarm = session.get_one(Alarm, alarm_id)
            workflow.acknowledge(session, alarm, operator, clock.now())
            workflow.close(session, alarm, operator, "false_alarm", "test", clock.now())
        pipeline.step()  # closed: the normal rate comes back
        assert _command(device) == "setparam 10000:300;10050:300"
        device.sendall(teltonika.encode_message("New value 10000:300;10050:300;", teltonika.REPLY))
        wait_for(lambda: _commands(seeded, IMEI)[-1].state == "answered")
    restored = _commands(seeded, IMEI)[-1]
    assert (restored.args, restored.reason, restored.alarm_id) == (
        {"seconds": 300},
        "no alarm open",
        None,
    )
    with seeded.session() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "device_command_queued")
        ).all()
    assert [a.actor for a in audited] == ["pipeline", "pipeline"]


def test_commands_queued_together_skip_unknown_devices_and_are_each_audited(
    seeded: Database,
) -> None:
    wanted = [
        command_queue.Wanted(IMEI, "report_every", {"seconds": 30}, reason="alarm 7 open"),
        command_queue.Wanted("NOT-REGISTERED", "locate", {}),
        command_queue.Wanted(PHONE, "locate", {}, ttl_s=120),
    ]
    with seeded.session() as session:
        queued, unknown = command_queue.queue_many(session, wanted, "pipeline", clock.now())
        ids = [c.id for c in queued]
    assert unknown == ["NOT-REGISTERED"]
    assert [(c.device_id, c.kind) for c in queued] == [(IMEI, "report_every"), (PHONE, "locate")]
    with seeded.session() as session:
        audited = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "device_command_queued")
            .order_by(AuditEntry.id)
        ).all()
        assert [(a.target, a.detail["command"]) for a in audited] == [
            (f"device:{IMEI}", ids[0]),
            (f"device:{PHONE}", ids[1]),
        ]
    # One bad command of a registered device: nothing of the batch is queued.
    with pytest.raises(BadCommand), seeded.session() as session:
        command_queue.queue_many(
            session,
            [wanted[0], command_queue.Wanted(PHONE, "report_every", {"seconds": 0})],
            "pipeline",
            clock.now(),
        )
    with seeded.session() as session:
        assert len(session.scalars(select(DeviceCommand)).all()) == 2
    with seeded.session() as session, pytest.raises(LookupError):
        command_queue.queue(session, "NOT-REGISTERED", "locate", {}, "user:sup1", clock.now())


def test_commands_wait_for_the_device_and_survive_a_restart(seeded: Database) -> None:
    with seeded.session() as session:
        queued = command_queue.queue(
            session, IMEI, "query_status", {}, "user:sup1", clock.now(), reason="check"
        )
        command_id = queued.id
    runner = GatewayThread(
        Gateway(seeded, TEST_LIMITS, command_poll_s=0.05), Listen("127.0.0.1", 0, None, None)
    )
    bound = runner.start()
    try:
        assert _commands(seeded, IMEI)[0].state == "queued"  # not connected: it waits
        with tracker(bound.teltonika_port) as device:
            assert _command(device) == "getstatus"
            device.sendall(teltonika.encode_message("Data Link: 1 GPRS: 1", teltonika.REPLY))
            wait_for(lambda: _commands(seeded, IMEI)[0].state == "answered")
    finally:
        runner.stop()
    (done,) = _commands(seeded, IMEI)
    assert (done.id, done.reply) == (command_id, "Data Link: 1 GPRS: 1")


def test_expired_and_unsupported_commands(
    seeded: Database, talking_gateway: Bound, monkeypatch: pytest.MonkeyPatch
) -> None:
    with seeded.session() as session:
        stale = command_queue.queue(
            session, IMEI, "query_status", {}, "user:sup1", clock.now(), ttl_s=10
        ).id
        phone = command_queue.queue(session, PHONE, "vibrate", {}, "user:sup1", clock.now()).id
    later = clock.now()
    monkeypatch.setattr(clock, "now", lambda: later + timedelta(seconds=11))
    response = httpx.get(
        f"http://127.0.0.1:{talking_gateway.osmand_port}/",
        params={"id": PHONE, "lat": 48.85, "lon": 2.35, "key": key(PHONE)},
        timeout=10,
    )
    assert response.status_code == 200
    wait_for(lambda: _state(seeded, phone) == "failed")
    with seeded.session() as session:
        assert session.get_one(DeviceCommand, stale).state == "expired"
        failed = session.get_one(DeviceCommand, phone)
        assert (failed.state, failed.reply) == ("failed", "unsupported by osmand")


def test_a_home_unit_gets_its_command_over_mqtt_and_answers(
    seeded: Database, broker: Mosquitto
) -> None:
    runner = GatewayThread(
        Gateway(seeded, TEST_LIMITS, mqtt_client_id="vigie-gateway-cmd", command_poll_s=0.05),
        Listen("127.0.0.1", None, None, ("127.0.0.1", broker.port), GATEWAY_MQTT),
    )
    runner.start()
    received: queue.Queue[bytes] = queue.Queue()
    unit = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="H1-sim-cmd")
    unit.username_pw_set(HOME_UNIT, key(HOME_UNIT))
    unit.on_message = lambda _c, _u, message: received.put(bytes(message.payload))
    unit.connect("127.0.0.1", broker.port)
    unit.loop_start()
    try:
        unit.subscribe(command_topic(HOME_UNIT), qos=1)
        # Another unit's topic: the broker's ACL keeps what is published there from it.
        unit.subscribe(command_topic("H2"), qos=1)
        with seeded.session() as session:
            command_id = command_queue.queue(
                session, HOME_UNIT, "query_status", {}, "user:sup1", clock.now()
            ).id
            command_queue.queue(session, "H2", "query_status", {}, "user:sup1", clock.now())
        reading = {"t": obs(HOME_UNIT, 1, "presence")["t"], "type": "presence", "present": True}
        unit.publish(topic_for(HOME_UNIT), json.dumps(reading), qos=1).wait_for_publish(10)
        sent = json.loads(received.get(timeout=10))
        assert sent == {"id": command_id, "kind": "query_status", "args": {}}
        reply = {"id": command_id, "reply": "mains:1 presence:1"}
        unit.publish(reply_topic(HOME_UNIT), json.dumps(reply), qos=1)
        wait_for(lambda: _state(seeded, command_id) == "answered")
        assert received.empty()  # H2's command waits: H2 has not reported to this gateway
    finally:
        unit.loop_stop()
        unit.disconnect()
        runner.stop()
    (answered,) = _commands(seeded, HOME_UNIT)
    assert (answered.protocol, answered.reply) == ("mqtt", "mains:1 presence:1")


def test_a_udp_tracker_gets_its_commands_just_after_it_sends_and_answers(
    seeded: Database,
) -> None:
    """A UDP tracker is reachable only just after its datagram: a command waits for the next
    one, goes out right after its acknowledgement, and the Codec 12 reply is matched to it."""
    runner = GatewayThread(
        Gateway(seeded, TEST_LIMITS, command_poll_s=0.05, udp_reachable_s=1.0),
        Listen("127.0.0.1", None, None, teltonika_udp_port=0),
    )
    bound = runner.start()
    assert bound.teltonika_udp_port is not None
    device = TeltonikaUdpTracker("127.0.0.1", bound.teltonika_udp_port, IMEI, timeout_s=5)
    fix = avl_record(obs(IMEI, 2, "position", lat=48.85, lon=2.35, accuracy_m=10.0))
    try:
        with seeded.session() as session:
            first = command_queue.queue(session, IMEI, "query_status", {}, "user:sup1", clock.now())
        time.sleep(0.3)
        assert _state(seeded, first.id) == "queued"  # never heard from: it waits
        assert device.send([fix]) == 1
        assert device.command() == "getstatus"
        wait_for(lambda: _state(seeded, first.id) == "sent")
        device.reply("Data Link: 1 GPRS: 1")
        wait_for(lambda: _state(seeded, first.id) == "answered")
        time.sleep(1.2)  # past the time the device is reachable at its address
        with seeded.session() as session:
            later = command_queue.queue(
                session, IMEI, "vibrate", {"seconds": 5}, "user:sup1", clock.now()
            )
        time.sleep(0.3)
        assert _state(seeded, later.id) == "queued"
        assert device.send([fix]) == 1  # its next report: the command follows the ack
        assert device.command() == "setdigout 1 5"
        device.reply("DOUT1:1 Timeout:5s")
        wait_for(lambda: _state(seeded, later.id) == "answered")
    finally:
        device.close()
        runner.stop()
    done = _commands(seeded, IMEI)
    assert [(c.protocol, c.sent_text, c.reply) for c in done] == [
        ("teltonika-udp", "getstatus", "Data Link: 1 GPRS: 1"),
        ("teltonika-udp", "setdigout 1 5", "DOUT1:1 Timeout:5s"),
    ]

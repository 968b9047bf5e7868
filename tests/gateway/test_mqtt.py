"""Devices publishing over Mosquitto: QoS 1, stored then acknowledged, nothing lost on restart."""

from __future__ import annotations

import json
import logging
from typing import Any

import paho.mqtt.client as paho
import pytest
from sqlalchemy import select, text

from tests.gateway.conftest import (
    GATEWAY_MQTT,
    HOME_UNIT,
    TEST_LIMITS,
    alarms_after_detection,
    connack,
    key,
    minutes_ago,
    stored,
    wait_for,
)
from vigie.gateway.broker import GATEWAY_USER, Mosquitto
from vigie.gateway.mqtt import topic_for
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.store import Database
from vigie.store.models import AuditEntry, QuarantinedObservation


def start_gateway(db: Database, broker: Mosquitto) -> GatewayThread:
    runner = GatewayThread(
        Gateway(db, TEST_LIMITS, mqtt_client_id="vigie-gateway-test"),
        Listen("127.0.0.1", None, None, ("127.0.0.1", broker.port), GATEWAY_MQTT),
    )
    runner.start()
    return runner


def publisher(broker: Mosquitto, device: str = HOME_UNIT) -> paho.Client:
    """The home unit's MQTT session, logged in under its id with its secret."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{device}-sim")
    client.username_pw_set(device, key(device))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish(client: paho.Client, device: str, payload: Any) -> None:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    client.publish(topic_for(device), raw, qos=1).wait_for_publish(timeout=10)


def test_published_readings_stored_and_alarmed(seeded: Database, broker: Mosquitto) -> None:
    runner = start_gateway(seeded, broker)
    client = publisher(broker)
    try:
        publish(client, HOME_UNIT, {"t": minutes_ago(3), "type": "power", "mains": True})
        readings = [
            {"t": minutes_ago(2), "type": "tamper", "what": "case_open"},
            {"t": minutes_ago(2), "type": "presence", "present": True},
        ]
        publish(client, HOME_UNIT, readings)
        publish(client, HOME_UNIT, readings)  # a retransmission: stored once
        wait_for(lambda: len(stored(seeded, HOME_UNIT)) >= 3)
    finally:
        client.loop_stop()
        client.disconnect()
        runner.stop()
    rows = stored(seeded, HOME_UNIT)
    assert sorted(r.type for r in rows) == ["power", "presence", "tamper"]
    assert ("C1", "tamper") in alarms_after_detection(seeded)


def test_refused_messages_are_logged_and_not_stored_a_wrong_clock_quarantined(
    seeded: Database, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    runner = start_gateway(seeded, broker)
    client = publisher(broker)
    try:
        # Another device's topic: the broker's ACL drops it before the gateway sees it.
        publish(client, "H2", {"t": minutes_ago(1), "type": "power", "mains": True})
        publish(client, HOME_UNIT, b"not json")
        publish(client, HOME_UNIT, b"[" + b" " * 70_000 + b"]")
        publish(client, HOME_UNIT, {"t": minutes_ago(-60), "type": "power", "mains": True})
        publish(client, HOME_UNIT, {"t": minutes_ago(1), "type": "power", "mains": False})
        wait_for(lambda: len(stored(seeded)) == 2)
        wait_for(lambda: "ahead of its receipt" in caplog.text)
    finally:
        client.loop_stop()
        client.disconnect()
        runner.stop()
    # The reading an hour ahead is kept as sent, but quarantined: its clock, not the centre's.
    in_time, ahead = sorted(stored(seeded), key=lambda r: r.t)
    assert (ahead.payload["mains"], in_time.payload["mains"]) == (True, False)
    assert ("C1", "clock_fault") in alarms_after_detection(seeded)
    with seeded.session() as session:
        assert session.get_one(QuarantinedObservation, ahead.id).clock_fault
        assert session.get(QuarantinedObservation, in_time.id) is None
    assert {ahead.device, in_time.device} == {HOME_UNIT}
    for reason in ("not JSON", "at most 65536"):
        assert reason in caplog.text


def test_readings_published_while_the_gateway_is_down_are_stored_on_restart(
    seeded: Database, broker: Mosquitto
) -> None:
    start_gateway(seeded, broker).stop()  # its persistent session now exists at the broker
    client = publisher(broker)
    try:
        for minute in range(10):
            publish(
                client,
                HOME_UNIT,
                {"t": minutes_ago(30 - minute), "type": "power", "mains": minute % 2 == 0},
            )
    finally:
        client.loop_stop()
        client.disconnect()
    assert stored(seeded) == []
    runner = start_gateway(seeded, broker)
    try:
        wait_for(lambda: len(stored(seeded, HOME_UNIT)) == 10)
    finally:
        runner.stop()


def test_a_message_is_acknowledged_only_once_stored(
    seeded: Database, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    with seeded.session() as session:  # the store cannot take observations for a while
        session.execute(text("ALTER TABLE observations RENAME TO observations_away"))
    runner = start_gateway(seeded, broker)
    client = publisher(broker)
    try:
        publish(client, HOME_UNIT, {"t": minutes_ago(2), "type": "power", "mains": False})
        wait_for(lambda: "storing failed; retrying" in caplog.text)
    finally:
        client.loop_stop()
        client.disconnect()
        runner.stop()  # the message was never acknowledged: the broker still holds it
    with seeded.session() as session:
        session.execute(text("ALTER TABLE observations_away RENAME TO observations"))
    assert stored(seeded) == []
    runner = start_gateway(seeded, broker)
    try:
        wait_for(lambda: len(stored(seeded, HOME_UNIT)) == 1)
    finally:
        runner.stop()
    assert stored(seeded)[0].payload["mains"] is False


def test_the_broker_admits_only_devices_with_their_secret_and_the_gateway(
    seeded: Database, broker: Mosquitto
) -> None:
    assert "allow_anonymous false" in broker.config()
    assert connack(broker, None) == "Not authorized"
    assert connack(broker, (HOME_UNIT, "a guess")) == "Not authorized"
    assert connack(broker, ("H-unknown", key("H-unknown"))) == "Not authorized"
    assert connack(broker, (HOME_UNIT, key(HOME_UNIT))) == "Success"
    assert connack(broker, GATEWAY_MQTT) == "Success"
    impostor = GatewayThread(
        Gateway(seeded, TEST_LIMITS, mqtt_client_id="impostor"),
        Listen("127.0.0.1", None, None, ("127.0.0.1", broker.port), (GATEWAY_USER, "a guess")),
    )
    try:
        with pytest.raises(ConnectionError, match="refused: Not authorized"):
            impostor.start()
    finally:
        impostor.stop()


def test_a_device_cannot_publish_as_another(seeded: Database, broker: Mosquitto) -> None:
    """H1 publishing on H2's topic (a spoof): the ACL drops it; its own reading is stored."""
    runner = start_gateway(seeded, broker)
    client = publisher(broker, HOME_UNIT)
    try:
        publish(client, "H2", {"t": minutes_ago(2), "type": "power", "mains": False})
        publish(client, HOME_UNIT, {"t": minutes_ago(1), "type": "power", "mains": True})
        wait_for(lambda: len(stored(seeded)) >= 1)
    finally:
        client.loop_stop()
        client.disconnect()
        runner.stop()
    assert [(r.device, r.source) for r in stored(seeded)] == [(HOME_UNIT, "mqtt")]


def test_a_sequence_number_reused_with_other_content_is_kept_as_a_conflict(
    seeded: Database, broker: Mosquitto
) -> None:
    """The unit's own sequence number 5, then 5 again saying something else: both kept, the
    second flagged as a conflict of the first and audited, not dropped as a duplicate."""
    runner = start_gateway(seeded, broker)
    client = publisher(broker)
    try:
        publish(client, HOME_UNIT, {"seq": 5, "t": minutes_ago(2), "type": "power", "mains": True})
        wait_for(lambda: len(stored(seeded)) == 1)
        publish(client, HOME_UNIT, {"seq": 5, "t": minutes_ago(2), "type": "power", "mains": False})
        wait_for(lambda: len(stored(seeded)) == 2)
    finally:
        client.loop_stop()
        client.disconnect()
        runner.stop()
    first, second = stored(seeded)
    assert (first.conflict_of, second.conflict_of) == (None, first.id)
    assert (first.payload["mains"], second.payload["mains"]) == (True, False)
    with seeded.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "observation_conflict")
        ).one()
    assert (entry.actor, entry.target) == ("mqtt", f"device:{HOME_UNIT}")
    assert entry.detail == {"id": second.id, "seq": 5, "conflict_of": first.id}

"""Devices publishing over Mosquitto: QoS 1, stored then acknowledged, nothing lost on restart."""

from __future__ import annotations

import json
import logging
from typing import Any

import paho.mqtt.client as paho
import pytest
from sqlalchemy import text

from tests.gateway.conftest import (
    HOME_UNIT,
    TEST_LIMITS,
    alarms_after_detection,
    minutes_ago,
    stored,
    wait_for,
)
from vigie.gateway.broker import Mosquitto
from vigie.gateway.mqtt import topic_for
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.store import Database
from vigie.store.models import QuarantinedObservation


def start_gateway(db: Database, broker: Mosquitto) -> GatewayThread:
    runner = GatewayThread(
        Gateway(db, TEST_LIMITS, mqtt_client_id="vigie-gateway-test"),
        Listen("127.0.0.1", None, None, ("127.0.0.1", broker.port)),
    )
    runner.start()
    return runner


def publisher(broker: Mosquitto) -> paho.Client:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="home-unit-sim")
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
        publish(client, "H-unknown", {"t": minutes_ago(1), "type": "power", "mains": True})
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
    for reason in ("refused unknown device 'H-unknown'", "not JSON", "at most 65536"):
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

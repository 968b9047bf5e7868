"""Home units without a single broker: the MQTT listener of a 3-node NATS JetStream cluster.

What is proven on real nats-server processes (kill -9 by PID) and the real gateway storing in
the database: a unit's reading is acknowledged only once a quorum stored it; killing the node
that serves a unit and the gateway loses no acknowledged reading and stores each once; units
log in with their secret and use their own topics only.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
import pytest
from sqlalchemy import func, select, text

from tests.gateway.conftest import GATEWAY_MQTT, key, wait_for
from tests.mqtt_ha.cluster import NatsMqttCluster
from tests.mqtt_ha.units import HomeUnit
from vigie import clock
from vigie.gateway import mqtt
from vigie.gateway.limits import Limits
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.store import Database
from vigie.store.models import Observation

pytestmark = pytest.mark.processes
LIMITS = Limits(rate_per_s=10_000, burst=100_000)
MESSAGES = "$MQTT_msgs"  # the server's stream of QoS 1 messages (and the gateway's consumer)
logger = logging.getLogger(__name__)


@contextmanager
def gateway_on(db: Database, cluster: NatsMqttCluster, first: int) -> Iterator[GatewayThread]:
    """The gateway subscribed through node `first`, the other nodes as its failover list."""
    order = [cluster.nodes[(first + i) % 3].mqtt for i in range(3)]
    runner = GatewayThread(
        Gateway(db, LIMITS, mqtt_client_id="vigie-gateway-ha"),
        Listen("127.0.0.1", None, None, order[0], GATEWAY_MQTT, mqtt_failover=tuple(order[1:])),
    )
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


def unit_on(cluster: NatsMqttCluster, device: str, order: list[int]) -> HomeUnit:
    unit = HomeUnit(device, key(device), [cluster.nodes[i].mqtt for i in order])
    unit.start()
    return unit


def stored_seqs(db: Database, device: str) -> list[int]:
    with db.session() as session:
        query = select(Observation.seq).where(Observation.device == device)
        return [int(s) for s in session.scalars(query) if s is not None]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the broker's behaviour
def test_a_reading_is_acknowledged_only_once_a_quorum_stored_it(
    seeded: Database, nats_mqtt: NatsMqttCluster
) -> None:
    base = clock.now()
    with gateway_on(seeded, nats_mqtt, 1):
        unit = unit_on(nats_mqtt, "H1", [0, 1, 2])
        try:
            assert unit.acknowledged(unit.publish(0, base), 10)
            # Its PUBACK says a quorum stored it, not that the gateway's node delivered it yet.
            wait_for(lambda: stored_seqs(seeded, "H1") == [0], 10)
            nats_mqtt.nodes[1].kill()
            nats_mqtt.nodes[2].kill()
            started = time.monotonic()
            in_doubt = unit.publish(1, base)
            # One node of three: nothing stored on a quorum, so no PUBACK; the server gives up
            # on the JetStream ack after 5 s and closes the unit's connection.
            assert not unit.acknowledged(in_doubt, 7)
            assert unit.disconnections, "the server did not close the unit's connection"
            logger.warning(
                "no PUBACK without a quorum; connection closed %.1f s after the publish",
                unit.disconnections[0] - started,
            )
            assert stored_seqs(seeded, "H1") == [0]
            nats_mqtt.nodes[1].start()  # a quorum again: the unit's resend is acknowledged
            restarted = time.monotonic()
            assert unit.acknowledged(in_doubt, 40)
            logger.warning(
                "PUBACK %.1f s after a second node came back", time.monotonic() - restarted
            )
            wait_for(lambda: len(stored_seqs(seeded, "H1")) == 2, 30)
        finally:
            unit.close()
    assert sorted(stored_seqs(seeded, "H1")) == [0, 1]


def test_killing_the_node_of_a_unit_and_the_gateway_loses_no_acknowledged_reading(
    seeded: Database, nats_mqtt: NatsMqttCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """H1 and the gateway on the node leading the stream of QoS 1 messages, H2 on another;
    kill -9 of that node under load: H1 and the gateway move on (after an election), H2's
    readings wait in the cluster for the gateway meanwhile."""
    caplog.set_level(logging.INFO, logger="vigie.gateway.mqtt_client")
    connect(nats_mqtt.nodes[0].mqtt, "probe", *GATEWAY_MQTT).disconnect()  # MQTT streams made
    lead = nats_mqtt.leader(MESSAGES)
    victim = nats_mqtt.nodes[lead]
    with gateway_on(seeded, nats_mqtt, lead):
        order = [lead, (lead + 1) % 3, (lead + 2) % 3]
        units = [unit_on(nats_mqtt, "H1", order), unit_on(nats_mqtt, "H2", [*order[1:], lead])]
        try:
            for unit in units:
                unit.run()
            # Both units flowing before the kill (a unit's first connection can be slow on a
            # loaded host: once H2 had no PUBACK at all in the 2 s this waited before).
            wait_for(lambda: all(len(u.acked) >= 10 for u in units), 30)
            time.sleep(1)
            logger.warning("leader at kill: n%d (chosen n%d)", nats_mqtt.leader(MESSAGES), lead)
            victim.kill()
            killed = time.monotonic()
            lost = f"MQTT broker 127.0.0.1:{victim.mqtt_port} lost"
            wait_for(lambda: "MQTT: connected to" in caplog.text.partition(lost)[2], 30)
            logger.warning(
                "gateway subscribed again %.1f s after kill -9 of its node (n%d, the leader)",
                time.monotonic() - killed,
                lead,
            )
            time.sleep(1.5)  # readings published after it came back too
        finally:
            for unit in units:
                unit.close()
        acked = {u.device: set(u.acked) for u in units}
        for unit in units:
            wait_for(lambda u=unit: acked[u.device] <= set(stored_seqs(seeded, u.device)), 30)
    assert units[0].disconnections  # H1 was cut from its node too
    with seeded.session() as session:
        rows = session.execute(
            select(Observation.device, Observation.seq, func.count()).group_by(
                Observation.device, Observation.seq
            )
        ).all()
    assert rows, "nothing stored"
    assert max(count for _d, _s, count in rows) == 1  # stored once
    for unit in units:
        stored = set(stored_seqs(seeded, unit.device))
        assert acked[unit.device] <= stored  # nothing acknowledged is lost
        assert stored <= unit.sent  # nothing stored that was not sent
        waits = sorted(unit.acked.values())
        assert waits, f"{unit.device}: no reading acknowledged"
        logger.warning(
            "%s: %d acknowledged, %d stored once, %d disconnections, PUBACK p50 %.1f ms, "
            "longest wait for one %.2f s",
            unit.device,
            len(acked[unit.device]),
            len(stored),
            len(unit.disconnections),
            waits[len(waits) // 2] * 1000,
            waits[-1],
        )
    assert all(len(acked[u.device]) > 30 for u in units)  # under load, not one or two


def connect(node: tuple[str, int], client_id: str, user: str, password: str) -> paho.Client:
    """A logged-in client, or AssertionError with the broker's answer."""
    answers: queue.Queue[str] = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set(user, password)
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(str(reason))
    client.connect(*node)
    client.loop_start()
    answer = answers.get(timeout=10)
    if answer != "Success":
        client.loop_stop()
        raise AssertionError(answer)
    return client


def test_units_log_in_with_their_secret_and_use_their_own_topics_only(
    nats_mqtt: NatsMqttCluster,
) -> None:
    """The Mosquitto ACL of `vigie.gateway.broker`, as NATS permissions on every node."""
    node0, node1 = nats_mqtt.nodes[0].mqtt, nats_mqtt.nodes[1].mqtt
    for user, password in (("H1", "a guess"), ("H-unknown", key("H-unknown")), ("", "")):
        with pytest.raises(AssertionError, match=r"Not authorized|Bad user name or password"):
            connect(node0, "probe", user, password)
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    gateway = connect(node1, "gateway-probe", *GATEWAY_MQTT)
    gateway.on_message = lambda _c, _u, m: received.put((m.topic, bytes(m.payload)))
    gateway.subscribe([(mqtt.TOPIC_FILTER, 1), (mqtt.REPLY_FILTER, 1)])
    unit = connect(node0, "H1-unit", "H1", key("H1"))
    granted: queue.Queue[list[Any]] = queue.Queue()
    unit.on_subscribe = lambda _c, _u, _m, codes, _p: granted.put(codes)
    unit.on_message = lambda _c, _u, m: received.put((m.topic, bytes(m.payload)))
    try:
        time.sleep(0.5)
        unit.publish(mqtt.topic_for("H2"), b"spoof", qos=1).wait_for_publish(10)  # dropped
        unit.publish(mqtt.topic_for("H1"), b"own", qos=1).wait_for_publish(10)
        assert received.get(timeout=10) == (mqtt.topic_for("H1"), b"own")
        unit.subscribe(mqtt.command_topic("H2"), 1)  # another unit's commands: refused
        assert granted.get(timeout=10)[0].is_failure
        unit.subscribe(mqtt.command_topic("H1"), 1)
        assert not granted.get(timeout=10)[0].is_failure
        gateway.publish(mqtt.command_topic("H1"), b'{"id": 1}', qos=1).wait_for_publish(10)
        assert received.get(timeout=10) == (mqtt.command_topic("H1"), b'{"id": 1}')
        time.sleep(0.5)
        assert received.empty()  # the spoofed reading never reached the gateway
    finally:
        for client in (unit, gateway):
            client.disconnect()
            client.loop_stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the subscriber's behaviour
def test_a_redelivery_while_storing_joins_the_store_in_progress(
    seeded: Database, nats_mqtt: NatsMqttCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """The cluster sends again what the gateway has not acknowledged within `ack_wait` (5 s):
    while the store is down, the copies join the one store in progress, stored once later."""
    caplog.set_level(logging.INFO, logger="vigie.gateway.mqtt_client")
    with seeded.session() as session:  # the store cannot take observations for a while
        session.execute(text("ALTER TABLE observations RENAME TO observations_away"))
    with gateway_on(seeded, nats_mqtt, 0) as runner:
        subscriber = runner.gateway.mqtt
        assert subscriber is not None
        unit = unit_on(nats_mqtt, "H1", [1, 2, 0])
        try:
            assert unit.acknowledged(unit.publish(0, clock.now()), 10)
            wait_for(lambda: "delivered again while being stored" in caplog.text, 15)
            assert subscriber.storing == 1
            with seeded.session() as session:
                session.execute(text("ALTER TABLE observations_away RENAME TO observations"))
            wait_for(lambda: subscriber.storing == 0, 30)
        finally:
            unit.close()
    assert stored_seqs(seeded, "H1") == [0]

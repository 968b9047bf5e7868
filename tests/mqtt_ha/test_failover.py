"""Home units without a single broker: the MQTT listener of a 3-node NATS JetStream cluster.

What is proven on real nats-server processes (kill -9 by PID) and the real gateway storing in
the database: a unit's reading is acknowledged only once a quorum stored it; killing the node
that serves the units, then the one that serves the gateway, loses no acknowledged reading and
stores each once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from tests.gateway.conftest import GATEWAY_MQTT, key, wait_for
from tests.mqtt_ha.cluster import NatsMqttCluster
from tests.mqtt_ha.units import HomeUnit
from vigie import clock
from vigie.gateway.limits import Limits
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.store import Database
from vigie.store.models import Observation

pytestmark = pytest.mark.processes
LIMITS = Limits(rate_per_s=10_000, burst=100_000)
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
    """H1 and the gateway on node 1, H2 on node 2; kill -9 of node 1 under load: H1 and the
    gateway move on, H2's readings wait in the cluster for the gateway meanwhile."""
    caplog.set_level(logging.INFO, logger="vigie.gateway.mqtt_client")
    victim = nats_mqtt.nodes[1]
    with gateway_on(seeded, nats_mqtt, 1):
        units = [unit_on(nats_mqtt, "H1", [1, 2, 0]), unit_on(nats_mqtt, "H2", [2, 0, 1])]
        try:
            for unit in units:
                unit.run()
            time.sleep(2)
            victim.kill()
            killed = time.monotonic()
            lost = f"MQTT broker 127.0.0.1:{victim.mqtt_port} lost"
            wait_for(lambda: "MQTT: connected to" in caplog.text.partition(lost)[2], 30)
            logger.warning(
                "gateway subscribed again %.1f s after kill -9 of its node",
                time.monotonic() - killed,
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
    assert all(len(acked[u.device]) > 100 for u in units)

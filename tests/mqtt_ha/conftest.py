"""A seeded centre and a 3-node NATS cluster serving MQTT to its home units and its gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.conftest import GATEWAY_MQTT, key, seed
from tests.mqtt_ha.cluster import NatsMqttCluster
from vigie.store import Database

UNITS = ("H1", "H2")  # the seeded home units (cases C1 and C2)


@pytest.fixture
def seeded(db: Database) -> Database:
    seed(db)
    return db


@pytest.fixture
def nats_mqtt(tmp_path: Path) -> Iterator[NatsMqttCluster]:
    """Three nodes, each admitting the gateway and the units, with their test secrets."""
    cluster = NatsMqttCluster(tmp_path / "nats", GATEWAY_MQTT, {u: key(u) for u in UNITS})
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()

"""A seeded centre and a 3-node NATS cluster serving MQTT to its home units and its gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.conftest import GATEWAY_MQTT, key, seed
from tests.mqtt_ha.cluster import NatsMqttCluster
from vigie.cases import device_secrets
from vigie.store import Database

UNITS = ("H1", "H2")  # the seeded home units (cases C1 and C2)


@pytest.fixture
def seeded(db: Database) -> Database:
    seed(db)
    return db


@pytest.fixture
def nats_mqtt(tmp_path: Path) -> Iterator[NatsMqttCluster]:
    """Three nodes, each admitting the gateway and the units by the bcrypt hashes of their
    test secrets, as the registry keeps them."""
    gateway = (GATEWAY_MQTT[0], device_secrets.nats_hash(GATEWAY_MQTT[1]))
    units = {u: device_secrets.nats_hash(key(u)) for u in UNITS}
    cluster = NatsMqttCluster(tmp_path / "nats", gateway, units)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()

"""Device passwords on the NATS MQTT listener, from the registry: a secret issued by the centre
is also kept as a bcrypt hash (what nats-server checks), `vigie gateway nats-accounts` writes
the nodes' `accounts` block from them, and a unit logs in to every node with its secret only."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from typer.testing import CliRunner

from tests.gateway.conftest import GATEWAY_MQTT, key, seed
from tests.mqtt_ha.cluster import NatsMqttCluster
from tests.mqtt_ha.test_failover import connect
from vigie.cases import device_secrets
from vigie.cli import app
from vigie.gateway import mqtt
from vigie.settings import settings
from vigie.store import Database
from vigie.store.models import Device


@pytest.fixture
def registry(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Database]:
    seed(db)
    monkeypatch.setenv("VIGIE_DATABASE_URL", database_url)
    settings.cache_clear()
    yield db
    settings.cache_clear()


def test_an_issued_secret_is_kept_for_nats_too_and_older_ones_are_named(
    registry: Database, tmp_path: Path
) -> None:
    with registry.session() as session:
        secret = device_secrets.issue(session, "H2", "test")
        session.get_one(Device, "H1").nats_hash = None  # issued before NATS hashes were kept
    with registry.session() as session:
        device = session.get_one(Device, "H2")
        assert device.nats_hash is not None and device.nats_hash.startswith("$2a$04$")
        assert secret not in device.nats_hash
        assert bcrypt.checkpw(secret.encode(), device.nats_hash.encode())
        assert not bcrypt.checkpw(b"a guess", device.nats_hash.encode())
        users, lacking = device_secrets.nats_users(session)
    assert "H2" in users and "H1" not in users and lacking == ["H1"]

    out = tmp_path / "accounts.conf"
    runner = CliRunner()
    refused = runner.invoke(app, ["gateway", "nats-accounts", "--output", str(out)])
    assert refused.exit_code != 0 and "VIGIE_MQTT_PASSWORD" in refused.output
    written = runner.invoke(
        app,
        ["gateway", "nats-accounts", "--output", str(out)],
        env={"VIGIE_MQTT_PASSWORD": GATEWAY_MQTT[1]},
    )
    assert written.exit_code == 0, written.output
    assert "H1" in written.stderr and "new one" in written.stderr
    text = out.read_text()
    assert out.stat().st_mode & 0o777 == 0o600
    assert secret not in text and GATEWAY_MQTT[1] not in text and key("H2") not in text


@pytest.mark.processes
def test_units_log_in_to_the_nodes_with_the_secrets_the_centre_issued(
    registry: Database, tmp_path: Path
) -> None:
    """The production path end to end: secrets issued by the centre, the accounts block
    written by the command, three real nodes reading it."""
    with registry.session() as session:
        secret = device_secrets.issue(session, "H2", "test")
    out = tmp_path / "accounts.conf"
    written = CliRunner().invoke(
        app,
        ["gateway", "nats-accounts", "--output", str(out)],
        env={"VIGIE_MQTT_PASSWORD": GATEWAY_MQTT[1]},
    )
    assert written.exit_code == 0, written.output
    cluster = NatsMqttCluster(tmp_path / "nats", accounts=out.read_text())
    try:
        cluster.start()
        node0, node2 = cluster.nodes[0].mqtt, cluster.nodes[2].mqtt
        for user, password in (("H2", key("H2")), ("H2", "a guess"), ("H9", secret)):
            with pytest.raises(AssertionError, match=r"Not authorized|Bad user name or password"):
                connect(node0, "probe", user, password)  # the old secret, a guess, another id
        gateway = connect(node2, "gateway-probe", *GATEWAY_MQTT)
        unit = connect(node0, "H2-unit", "H2", secret)
        received: queue.Queue[tuple[str, bytes]] = queue.Queue()
        gateway.on_message = lambda _c, _u, m: received.put((m.topic, bytes(m.payload)))
        gateway.subscribe(mqtt.TOPIC_FILTER, 1)
        time.sleep(0.5)  # the subscription in place on every node
        unit.publish(mqtt.topic_for("H2"), b"issued", qos=1).wait_for_publish(10)
        assert received.get(timeout=10) == (mqtt.topic_for("H2"), b"issued")
        for client in (unit, gateway):
            client.loop_stop()
            client.disconnect()
    finally:
        cluster.stop()

"""The MQTT-on-NATS configuration as written, and the gateway's broker list as typed. Pure."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vigie.cli import app
from vigie.commands.gateway import broker_list
from vigie.gateway import nats_mqtt


def test_topics_become_the_subjects_nats_gives_them() -> None:
    assert nats_mqtt.subject("vigie/devices/H1/obs") == "vigie.devices.H1.obs"
    assert nats_mqtt.subject("vigie/devices/H.1/obs") == "vigie.devices.H//1.obs"


def test_each_unit_may_use_its_own_topics_only_and_the_gateway_all() -> None:
    text = nats_mqtt.accounts_block(("vigie@gateway", "pw"), {"H1": "s1"})
    unit = next(line for line in text.splitlines() if '"H1"' in line)
    assert '["vigie.devices.H1.obs", "vigie.devices.H1.replies"]' in unit
    assert 'subscribe: ["vigie.devices.H1.commands"]' in unit
    gateway = next(line for line in text.splitlines() if "vigie@gateway" in line)
    assert 'subscribe: ["vigie.devices.*.obs", "vigie.devices.*.replies"]' in gateway
    assert "jetstream: enabled" in text
    with pytest.raises(ValueError, match="'H>' cannot be an MQTT user"):
        nats_mqtt.accounts_block(("g", "pw"), {"H>": "s"})


def test_the_mqtt_block_replicates_on_three_nodes() -> None:
    block = nats_mqtt.mqtt_block("127.0.0.1", 1883)
    for line in ("stream_replicas: 3", "consumer_replicas: 3", 'ack_wait: "5s"'):
        assert line in block


def test_the_failover_list_is_read_or_refused_naming_the_item() -> None:
    assert broker_list("n1:1883, n2:1884,") == (("n1", 1883), ("n2", 1884))
    assert broker_list("") == ()
    for bad in ("n1", "n1:", ":1883", "n1:99999", "n1:x"):
        with pytest.raises(ValueError, match="is not host:port"):
            broker_list(bad)
    result = CliRunner().invoke(app, ["gateway", "serve", "--mqtt-failover", "n1:1883,oops"])
    assert result.exit_code == 2
    assert "--mqtt-failover" in result.output and "'oops' is not host:port" in result.output
    result = CliRunner().invoke(app, ["gateway", "serve", "--mqtt-failover", "n1:1883"])
    assert result.exit_code == 2 and "needs --mqtt-port" in result.output

"""Home units on the MQTT listener of a NATS JetStream cluster: the nodes' MQTT configuration.

Why this broker (docs/production-mqtt.md has the measurements): nats-server keeps MQTT sessions
and QoS 1 messages in JetStream streams replicated on 3 nodes, and sends a unit's PUBACK only
once the message is stored on a quorum (without one, no PUBACK and the connection is closed
after 5 s, so the unit keeps its reading and resends it). Mosquitto acknowledges from memory
and writes its store every `autosave_interval`: a kill -9 loses what it acknowledged since.

Each node of the cluster gets the `mqtt` block below (same account, `server_name` set, JetStream
on) and the `accounts` block: the gateway reads every unit's readings and replies and writes
commands; each unit writes only its own topics and reads only its commands (the Mosquitto ACL
of `vigie.gateway.broker`, in NATS subjects). Passwords are given as the server takes them:
bcrypt hashes (`vigie gateway nats-accounts` writes the block from the registry's
`devices.nats_hash`, made when each secret is issued).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from vigie.gateway import mqtt

ACCOUNT = "VIGIE"
# How long the server waits for the gateway's PUBACK before sending a message again. It bounds
# how late a message in flight to a gateway whose node died arrives through another node (at
# 30 s, the server's default, 30 s late); a redelivery while still storing is absorbed.
ACK_WAIT_S = 5.0


def subject(topic: str) -> str:
    """The NATS subject of an MQTT topic ("/" becomes ".", a "." in a level becomes "//")."""
    return ".".join(level.replace(".", "//") for level in topic.split("/"))


def mqtt_block(
    host: str, port: int, replicas: int = 3, ack_wait_s: float = ACK_WAIT_S, max_pending: int = 1000
) -> str:
    """The `mqtt` block of one node: sessions, messages and consumers on `replicas` nodes."""
    return (
        "mqtt {\n"
        f"  listen: {json.dumps(f'{host}:{port}')}\n"
        f"  stream_replicas: {replicas}\n"
        f"  consumer_replicas: {replicas}\n"
        f'  ack_wait: "{ack_wait_s:g}s"\n'
        f"  max_ack_pending: {max_pending}\n"
        "}\n"
    )


def can_be_user(device: str) -> bool:
    """Whether a device id can be a user name with its own subjects (no wildcard, no space,
    no topic separator)."""
    return bool(device) and not any(c in device for c in " \t*>+#/")


def _user(name: str, password: str, publish: list[str], subscribe: list[str]) -> str:
    return (
        f"      {{user: {json.dumps(name)}, password: {json.dumps(password)}, permissions: {{"
        f"publish: {json.dumps(publish)}, subscribe: {json.dumps(subscribe)}}}}}"
    )


def accounts_block(gateway: tuple[str, str], units: Mapping[str, str]) -> str:
    """The JetStream account of the gateway (`gateway`: user, password) and of every unit
    (`units`: device id -> password), each allowed its own topics only."""
    users = [
        _user(
            gateway[0],
            gateway[1],
            [subject(mqtt.command_topic("*"))],
            [subject(f.replace("+", "*")) for f in (mqtt.TOPIC_FILTER, mqtt.REPLY_FILTER)],
        )
    ]
    for device, password in units.items():
        if not can_be_user(device):
            raise ValueError(f"device id {device!r} cannot be an MQTT user on NATS")
        own = subject(mqtt.topic_for(device))
        replies = own.rsplit(".", 1)[0] + ".replies"
        users.append(_user(device, password, [own, replies], [subject(mqtt.command_topic(device))]))
    return (
        "accounts {\n"
        f"  {ACCOUNT} {{\n"
        "    jetstream: enabled\n"
        "    users: [\n" + "\n".join(users) + "\n    ]\n"
        "  }\n"
        "}\n"
    )

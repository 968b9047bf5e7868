"""A seeded centre (two cases, registered devices) and the gateway serving it on free ports."""

from __future__ import annotations

import queue
import socket
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from sqlalchemy import select

from tests.cases import factories as make
from vigie import clock
from vigie.alarms.pipeline import Pipeline
from vigie.cases import device_secrets, devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.gateway.broker import GATEWAY_USER, Mosquitto
from vigie.gateway.limits import Limits
from vigie.gateway.service import Bound, Gateway, GatewayThread, Listen
from vigie.gateway.teltonika import encode_imei
from vigie.ports import free_port
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import Alarm, Device, Observation

IMEI = "356307042441013"  # the bracelet of case C1, a Teltonika tracker
PHONE = "814236"  # Traccar Client on the test phone worn for case C2
HOME_UNIT = "H1"  # C1's home unit, over MQTT
ZONE = (48.90, 2.40)  # both cases' exclusion zone (centre)
GATEWAY_MQTT = (GATEWAY_USER, "the gateway's test password")


def key(device: str) -> str:
    """The test secret of a seeded device (real ones are random: `device_secrets.issue`)."""
    return f"test-secret-of-{device}"


def give_secrets(db: Database, *ids: str) -> None:
    with db.session() as session:
        for device in ids:
            device_secrets.set_secret(session.get_one(Device, device), key(device))


def broker_passwords(db: Database) -> str:
    """The Mosquitto password file: the seeded devices with a secret, and the gateway."""
    with db.session() as session:
        gateway = {GATEWAY_USER: device_secrets.hash_secret(GATEWAY_MQTT[1])}
        return device_secrets.password_file(session, gateway)


def seed(db: Database) -> None:
    with db.session() as session:
        who = make.contacts(session)
        zone = {"id": "Z1", "type": "exclusion", "geometry": make.square(*ZONE, 0.005)}
        for case, wearer_device, home in (("C1", IMEI, HOME_UNIT), ("C2", PHONE, "H2")):
            wearer = make.person(session, last_name=f"Person{case}")
            form = make.placement_form(wearer, who, case_ref=case, zones=[zone])
            placement = placements.create(session, form, "t")
            assigned = [(wearer_device, "bracelet", "wearer"), (home, "home_unit", "home_unit")]
            for device, kind, role in assigned:
                devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
                devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "t")
    give_secrets(db, PHONE, HOME_UNIT, "H2")


def minutes_ago(minutes: float) -> str:
    t = clock.now() - timedelta(minutes=minutes)
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def obs(device: str, minutes: float, type_: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "obs", "device": device, "t": minutes_ago(minutes), "type": type_, **fields}


def stored(db: Database, device: str | None = None) -> list[Observation]:
    with db.session() as session:
        query = select(Observation).order_by(Observation.id)
        if device is not None:
            query = query.where(Observation.device == device)
        return list(session.scalars(query))


def alarms_after_detection(db: Database) -> set[tuple[str, str]]:
    """Run the real pipeline over what is stored: (case, kind) of every alarm raised."""
    Pipeline(db, Settings(escalation_after_s=3600)).step()
    with db.session() as session:
        return {(a.case_ref, a.kind) for a in session.scalars(select(Alarm))}


def wait_for(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout_s} s")
        time.sleep(0.05)


TEST_LIMITS = Limits(
    max_connections=20, idle_timeout_s=2, frame_timeout_s=1, rate_per_s=5, burst=50
)


@pytest.fixture
def seeded(db: Database) -> Database:
    seed(db)
    return db


@pytest.fixture
def gateway(seeded: Database) -> Iterator[Bound]:
    runner = GatewayThread(Gateway(seeded, TEST_LIMITS), Listen("127.0.0.1", 0, 0, None))
    bound = runner.start()
    yield bound
    runner.stop()


@pytest.fixture
def broker(seeded: Database, tmp_path: Path) -> Iterator[Mosquitto]:
    """Mosquitto admitting the seeded devices that have a secret, and the gateway."""
    with Mosquitto(tmp_path / "mosquitto", free_port(), broker_passwords(seeded)) as mosquitto:
        yield mosquitto


def connack(broker: Mosquitto, credentials: tuple[str, str] | None) -> str:
    """The broker's answer to a client logging in with `credentials` (None: anonymous)."""
    answers: queue.Queue[str] = queue.Queue()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="login-probe")
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(str(reason))
    if credentials is not None:
        client.username_pw_set(*credentials)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        return answers.get(timeout=10)
    finally:
        client.loop_stop()
        client.disconnect()


def tracker(port: int, imei: str = IMEI) -> socket.socket:
    """A connected, accepted Teltonika link."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(encode_imei(imei))
    assert sock.recv(1) == b"\x01"
    return sock


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def closed_by_peer(sock: socket.socket, timeout_s: float = 10) -> bool:
    sock.settimeout(timeout_s)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True

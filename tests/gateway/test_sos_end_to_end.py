"""From the device's bytes to the alarm in the queue: her phone's SOS (Traccar Client, OsmAnd
HTTP) and his GT06 bracelet's SOS alarm packet, through the real gateway, the store, the centre
served by uvicorn with its detection process, to `GET /api/alarms`."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.cases import factories as make
from tests.conftest import served
from tests.gateway.conftest import TEST_LIMITS, give_secrets, key, receive
from vigie import clock
from vigie.api.security import create_user
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.gateway import gt06
from vigie.gateway.gt06 import Fix, Status
from vigie.gateway.service import Bound, Gateway, GatewayThread, Listen
from vigie.settings import Settings
from vigie.store import Database

PHONE = "814236"  # her Traccar Client
BRACELET = "864717003283581"  # his GT06 bracelet (IMEI)
HER = (45.7640, 4.8357)
HIS = (45.9300, 4.6000)
PASSWORD = "operator password 1"


@dataclass
class Running:
    api: httpx.Client
    gateway: Bound


def seed(db: Database) -> None:
    with db.session() as session:
        who = make.contacts(session)
        wearer = make.person(session)
        victim = make.person(session, "Durand", home_lat=45.0, home_lon=4.0)
        form = make.placement_form(wearer, who, "bar", case_ref="C5", protected_person_id=victim.id)
        placement = placements.create(session, form, "t")
        for device, kind, role in (
            (BRACELET, "bracelet", "wearer"),
            (PHONE, "protected_device", "protected"),
        ):
            devices.create_device(session, DeviceIn(id=device, kind=kind), "t")
            devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "t")
        create_user(session, "operator1", PASSWORD, "operator", "Operator")
    give_secrets(db, PHONE)


@pytest.fixture
def running(db: Database, database_url: str) -> Iterator[Running]:
    """The centre (uvicorn, detection in its own process) and the gateway, both for real."""
    seed(db)
    config = Settings(database_url=database_url, tick_s=0.1, poll_s=0.05, run_pipeline=True)
    with served(config) as base:
        deadline = time.monotonic() + 60
        runner = GatewayThread(
            Gateway(db, TEST_LIMITS),
            Listen("127.0.0.1", teltonika_port=None, osmand_port=0, gt06_port=0),
        )
        bound = runner.start()
        api = httpx.Client(base_url=base, timeout=30)
        token = api.post(
            "/api/auth/token", json={"username": "operator1", "password": PASSWORD}
        ).json()["access_token"]
        api.headers["Authorization"] = f"Bearer {token}"
        while api.get("/api/health").status_code != 200:  # detection started and warm
            assert time.monotonic() < deadline, "detection did not start"
            time.sleep(0.05)
        try:
            yield Running(api, bound)
        finally:
            api.close()
            runner.stop()


def wait_for_alarm(api: httpx.Client, kind: str, timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [a for a in api.get("/api/alarms").raise_for_status().json() if a["kind"] == kind]
        if found:
            return dict(found[0])
        time.sleep(0.02)
    raise AssertionError(f"no {kind} alarm in the queue within {timeout_s} s")


def test_her_traccar_client_sos_reaches_the_queue_first(running: Running) -> None:
    phone = httpx.Client(
        base_url=f"http://127.0.0.1:{running.gateway.osmand_port}",
        params={"key": key(PHONE)},
        timeout=10,
    )
    stamp = str(int(clock.now().timestamp()))
    # What Traccar Client sends when she presses its SOS button: its report, with alarm=sos.
    query = {"id": PHONE, "timestamp": stamp, "lat": HER[0], "lon": HER[1], "accuracy": 9}
    started = time.monotonic()
    answer = phone.get("/", params=query | {"batt": 71, "alarm": "sos"})
    assert answer.status_code == 200, answer.text
    alarm = wait_for_alarm(running.api, "sos")
    latency = time.monotonic() - started
    print(f"SOS from the phone's request to the queue: {latency * 1000:.0f} ms")
    assert (alarm["device"], alarm["case"], alarm["priority"]) == (PHONE, "C5", 0)
    assert alarm["status"] == "open" and alarm["cleared_at"] is None
    assert "protected_position" not in alarm["detail"]  # nobody holds it yet


def test_his_gt06_sos_alarm_packet_is_a_wearer_sos(running: Running) -> None:
    t = clock.now().replace(microsecond=0) - timedelta(seconds=5)
    with socket.create_connection(("127.0.0.1", running.gateway.gt06_port), timeout=10) as sock:
        sock.sendall(gt06.encode_login(BRACELET, 1))
        assert receive(sock, 10) == gt06.encode_frame(gt06.LOGIN, b"", 1)
        pressed = Status(False, 0, 5, 4, gt06.ALARM_SOS)
        sock.sendall(gt06.encode_alarm(Fix(t, HIS[0], HIS[1], 8, 0, 0, True), pressed, 2))
        assert receive(sock, 10) == gt06.encode_frame(gt06.ALARM, b"", 2)
    alarm = wait_for_alarm(running.api, "wearer_sos")
    assert (alarm["device"], alarm["case"], alarm["priority"]) == (BRACELET, "C5", 2)

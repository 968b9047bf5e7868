"""Traccar Client (OsmAnd) over real HTTP: 200 only once stored; every refusal with its code."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from datetime import UTC, timedelta

import httpx
import pytest

from tests.gateway.conftest import (
    PHONE,
    TEST_LIMITS,
    ZONE,
    alarms_after_detection,
    closed_by_peer,
    key,
    stored,
)
from vigie import clock
from vigie.gateway.service import Bound
from vigie.store import Database
from vigie.store.models import QuarantinedObservation


def now_s(minutes_ago: float = 0) -> str:
    return str(int(clock.now().timestamp() - minutes_ago * 60))


@pytest.fixture
def client(gateway: Bound) -> httpx.Client:
    """The phone's Traccar Client: its server URL carries its secret (`?key=`)."""
    return httpx.Client(
        base_url=f"http://127.0.0.1:{gateway.osmand_port}", params={"key": key(PHONE)}, timeout=10
    )


def test_query_stored_acknowledged_and_alarmed(seeded: Database, client: httpx.Client) -> None:
    params = {"id": PHONE, "timestamp": now_s(2), "lat": ZONE[0], "lon": ZONE[1]}
    response = client.get("/", params=params | {"accuracy": 8, "batt": 64})
    assert response.status_code == 200
    position, battery = stored(seeded, PHONE)
    assert (position.type, position.lat, position.accuracy_m) == ("position", ZONE[0], 8.0)
    assert battery.payload["level"] == 0.64
    # The app did not hear the answer and sends the report again: stored once.
    assert client.get("/", params=params | {"accuracy": 8, "batt": 64}).status_code == 200
    assert len(stored(seeded, PHONE)) == 2
    assert ("C2", "zone_entry") in alarms_after_detection(seeded)


def test_form_and_json_bodies(seeded: Database, client: httpx.Client) -> None:
    form = {"id": PHONE, "timestamp": now_s(3), "lat": "48.85", "lon": "2.35", "hdop": "1.5"}
    assert client.post("/", data=form).status_code == 200
    body = {
        "device_id": PHONE,
        "location": {
            "timestamp": (clock.now() - timedelta(days=30)).isoformat(),
            "coords": {"latitude": 48.86, "longitude": 2.36, "accuracy": 5},
            "battery": {"level": 0.9, "is_charging": True},
        },
    }
    assert client.post("/", json=body).status_code == 200
    rows = stored(seeded, PHONE)
    assert [(r.type, r.accuracy_m) for r in rows] == [
        ("position", 7.5),
        ("position", 5.0),
        ("battery", None),
    ]


@pytest.mark.parametrize(
    ("request_args", "status", "reason"),
    [
        (
            {"params": {"id": "unknown-phone", "timestamp": "1795464000", "lat": 1, "lon": 2}},
            403,
            "not registered",
        ),
        ({"params": {"id": PHONE, "lat": "x", "lon": 2}}, 400, "lat 'x' is not a number"),
        ({"params": {"id": PHONE, "timestamp": now_s(), "lat": 95, "lon": 2}}, 400, "implausible"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "JSON"),
        ({"content": b"id=" + b"x" * 70_000}, 413, "at most 65536"),
    ],
)
def test_refusals(
    seeded: Database,
    client: httpx.Client,
    request_args: dict[str, object],
    status: int,
    reason: str,
) -> None:
    method = "POST" if "content" in request_args else "GET"
    response = client.request(method, "/", **request_args)  # type: ignore[arg-type]
    assert response.status_code == status
    assert reason in response.text
    assert stored(seeded) == []


def test_a_phone_whose_clock_is_off_is_kept_quarantined_and_alarmed(
    seeded: Database, client: httpx.Client
) -> None:
    """Two hours ahead: stored as sent (200, nothing lost), never run by detection, and the
    case gets a clock_fault alarm instead of everybody's time moving two hours on."""
    ahead = str(int(clock.now().timestamp()) + 7200)
    response = client.get("/", params={"id": PHONE, "timestamp": ahead, "lat": 48.85, "lon": 2.35})
    assert response.status_code == 200
    (kept,) = stored(seeded, PHONE)
    assert ("C2", "clock_fault") in alarms_after_detection(seeded)
    with seeded.session() as session:
        mark = session.get_one(QuarantinedObservation, kept.id)
    assert mark.clock_fault and mark.field == "t"


def test_without_timestamp_the_receipt_time_is_taken_and_flagged(
    seeded: Database, client: httpx.Client
) -> None:
    before = clock.now()
    assert client.get("/", params={"id": PHONE, "lat": 48.85, "lon": 2.35}).status_code == 200
    (fix,) = stored(seeded, PHONE)
    assert fix.payload["time_source"] == "receipt"
    assert fix.t.replace(tzinfo=UTC) >= before.replace(microsecond=0) - timedelta(seconds=1)
    assert fix.t.replace(tzinfo=UTC) <= clock.now()


def test_a_refused_reading_beside_a_stored_position_is_answered_200(
    seeded: Database, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    params = {"id": PHONE, "timestamp": now_s(1), "lat": 48.85, "lon": 2.35, "batt": 150}
    response = client.get("/", params=params)
    assert response.status_code == 200  # a 400 would make the app resend for ever
    assert [o.type for o in stored(seeded, PHONE)] == ["position"]
    assert "level: Input should be less than or equal to 1 (got 1.5)" in caplog.text
    assert "1 reading(s) of 814236 refused, the rest stored" in caplog.text


def test_rate_limit_answers_429(seeded: Database, client: httpx.Client) -> None:
    """Burst 50, then 5 a second: the burst is served whole, then the device is refused.

    Requests are sent until the first refusal (bounded), not a fixed number, so that a slow
    machine, on which the bucket refills while they are sent, still tests the same rule.
    """
    codes: list[int] = []
    while 429 not in codes and len(codes) < 300:
        i = len(codes)
        params = {"id": PHONE, "timestamp": now_s(i / 300), "lat": 48.8, "lon": 2.3}
        codes.append(client.get("/", params=params).status_code)
    assert codes[-1] == 429
    assert codes.count(200) == len(codes) - 1 >= 50


def test_slow_loris_request_is_dropped_others_served(
    seeded: Database, gateway: Bound, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with socket.create_connection(("127.0.0.1", gateway.osmand_port), timeout=10) as slow:
        slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nid=")
        params = {"id": PHONE, "timestamp": now_s(1), "lat": 48.8, "lon": 2.3}
        assert client.get("/", params=params).status_code == 200
        assert closed_by_peer(slow)
    assert "not whole in time" in caplog.text
    assert len(stored(seeded, PHONE)) == 1


def test_a_request_head_trickled_byte_by_byte_is_dropped(gateway: Bound) -> None:
    """Each byte within the idle timeout, the head never whole: the frame timeout, counted from
    the request's first byte, ends it. Bounded by the idle timeout per byte alone, 5,000 such
    connections (the cap) would have kept every phone out for weeks."""
    trickle = TEST_LIMITS.frame_timeout_s / 4  # well within the idle timeout between bytes
    assert trickle < TEST_LIMITS.idle_timeout_s
    with socket.create_connection(("127.0.0.1", gateway.osmand_port), timeout=10) as slow:
        slow.sendall(b"GET /?id=")
        closed = False
        for byte in b"1234567890123456":  # four frame timeouts' worth
            time.sleep(trickle)
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        with contextlib.suppress(TimeoutError):  # still open: recv waits, then times out
            closed = closed or closed_by_peer(slow, timeout_s=0.5)
        assert closed, "a head never whole kept its connection"


def test_garbage_is_not_http(gateway: Bound) -> None:
    with socket.create_connection(("127.0.0.1", gateway.osmand_port), timeout=10) as sock:
        sock.sendall(b"\x00\x0f356307042441013\r\n\r\n")
        assert closed_by_peer(sock)


def test_keep_alive_serves_many_reports(seeded: Database, client: httpx.Client) -> None:
    for i in range(5):
        params = {"id": PHONE, "timestamp": now_s(10 - i), "lat": f"48.8{i}", "lon": 2.3}
        assert client.get("/", params=params).status_code == 200
    assert len(stored(seeded, PHONE)) == 5
    assert [r.lat for r in stored(seeded, PHONE)] == [48.80, 48.81, 48.82, 48.83, 48.84]

"""The API's edges: body size and depth bounded before authentication, integers the databases
cannot hold refused as input errors, and the security headers on every answer."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from tests.api.world import World, build
from tests.conftest import Centre, fresh_database
from vigie import clock
from vigie.api import create_app
from vigie.api.limits import MAX_JSON_DEPTH, BoundedJsonRoute, too_deep
from vigie.ports import free_port
from vigie.settings import Settings
from vigie.store.bounds import INT64_MAX

LIMIT = 64 * 1024
TOO_BIG = 2**70


def recent() -> str:
    """A time a minute ago by the centre's clock: within the horizon on any day."""
    return (clock.now() - timedelta(minutes=1)).isoformat()


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """The centre under uvicorn on 127.0.0.1, with a 64 KiB body limit (no storage involved)."""
    with fresh_database(request, "sqlite", tmp_path_factory.mktemp("edges")) as url:
        config = Settings(database_url=url, run_pipeline=False, max_body_bytes=LIMIT)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "the centre did not start"
            time.sleep(0.05)
        try:
            yield "127.0.0.1", port
        finally:
            server.should_exit = True
            thread.join(timeout=15)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server says until it closes the connection (each refusal closes it)."""
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_an_announced_50_mb_body_is_refused_before_a_byte_is_read(
    server: tuple[str, int],
) -> None:
    # No token, 50 MB announced, only the headers sent: the answer comes at once.
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/observations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n"
        )
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error":"too_large"' in answer and b'"field":"body"' in answer
    assert b"content-security-policy" in answer.lower()


def test_a_chunked_body_is_cut_off_at_the_limit(server: tuple[str, int]) -> None:
    # No Content-Length: the body is counted as it streams, and refused once past the limit
    # while the client is still sending (it never ends its body).
    chunk = b"[" * 16384
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(LIMIT // len(chunk) + 1):  # just past the limit
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_body_within_the_limit_is_read(server: tuple[str, int]) -> None:
    body = b'{"username": "nobody", "password": "x"}'
    with socket.create_connection(server) as sock:
        sock.sendall(
            b"POST /api/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_too_deep_counts_levels_without_recursion() -> None:
    assert not too_deep({"a": [1, {"b": 2}]}, limit=3)
    assert too_deep({"a": [1, {"b": []}]}, limit=3)
    assert not too_deep(5)
    nested: list[object] = []
    for _ in range(100_000):  # deeper than Python's stack: the check must not recurse
        nested = [nested]
    assert too_deep(nested)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 500, 900, 5000, 100_000])
def test_deeply_nested_json_is_a_422_naming_the_body(centre: Centre, depth: int) -> None:
    body = (
        '{"observations":[{"device":"B1","seq":2,"t":"' + recent() + '",'
        '"type":"presence","present":true,"x":' + "[" * depth + "]" * depth + "}]}"
    )
    answer = centre.client.post(
        "/api/observations",
        content=body,
        headers={**centre.headers("integration"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "body"
    assert "nested deeper" in answer.json()["message"]


def test_an_integer_too_long_to_parse_is_a_422(centre: Centre) -> None:
    answer = centre.client.post(
        "/api/law/assess",
        content='{"measure": "bar", "facts": {"incurred_years": ' + "9" * 5000 + "}}",
        headers={**centre.headers("judge"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "body"


def test_json_nested_within_the_bound_is_accepted(centre: Centre) -> None:
    depth = MAX_JSON_DEPTH - 5
    body = (
        '{"observations":[{"device":"B1","seq":2,"t":"' + recent() + '",'
        '"type":"presence","present":true,"x":' + "[" * depth + "]" * depth + "}]}"
    )
    answer = centre.client.post(
        "/api/observations",
        content=body,
        headers={**centre.headers("integration"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)


@pytest.mark.parametrize(
    ("role", "method", "path", "field"),
    [
        ("supervisor", "GET", f"/api/alarms/{TOO_BIG}", "alarm_id"),
        ("operator", "POST", f"/api/alarms/{TOO_BIG}/acknowledge", "alarm_id"),
        ("supervisor", "GET", f"/api/placements/{TOO_BIG}", "placement_id"),
        ("supervisor", "GET", f"/api/persons/{TOO_BIG}", "person_id"),
        ("supervisor", "GET", f"/api/console/placements/{TOO_BIG}/activity", "placement_id"),
        ("supervisor", "GET", f"/api/alarms?after={TOO_BIG}", "after"),
        ("admin", "GET", f"/api/audit?after_id={TOO_BIG}", "after_id"),
        ("supervisor", "POST", f"/api/outbox/{TOO_BIG}/resend", "message_id"),
    ],
)
def test_integers_beyond_64_bits_in_a_url_are_a_422(
    world: World, role: str, method: str, path: str, field: str
) -> None:
    centre = world.centre
    answer = centre.client.request(method, path, headers=centre.headers(role))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


def test_integers_beyond_64_bits_in_a_body_are_a_422(world: World) -> None:
    centre = world.centre
    observation = {
        "device": "B1",
        "seq": INT64_MAX + 1,
        "t": recent(),
        "type": "presence",
        "present": True,
    }
    answer = centre.client.post(
        "/api/observations",
        json={"observations": [observation]},
        headers=centre.headers("integration"),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "observations[0].presence.seq"
    stored = centre.client.post(
        "/api/observations",
        json={"observations": [observation | {"seq": INT64_MAX}]},
        headers=centre.headers("integration"),
    )
    assert stored.status_code == 200, stored.text  # the largest storable one is stored
    contact = {
        "role": "judge",
        "name": "Juge",
        "email": "j@justice.test",
        "user_id": TOO_BIG,
    }
    answer = centre.client.post("/api/contacts", json=contact, headers=centre.headers("supervisor"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "user_id"


def _routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router
        yield from _routes(included.routes) if included is not None else [route]


def test_every_route_bounds_its_json() -> None:
    app = create_app(Settings(run_pipeline=False))
    routes = [r for r in _routes(app.routes) if isinstance(r, APIRoute)]
    assert routes and all(isinstance(r, BoundedJsonRoute) for r in routes), [
        r.path for r in routes if not isinstance(r, BoundedJsonRoute)
    ]


SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/login",
        "/alarms/1",
        "/docs",
        "/openapi.json",
        "/api/health",
        "/api/alarms",
        "/metrics",
        "/static/console.js",
        "/static/vendor/leaflet.css",
        "/nowhere",
        f"/api/alarms/{TOO_BIG}",
    ],
)
def test_security_headers_on_every_answer(centre: Centre, path: str) -> None:
    answer = centre.client.get(path)
    for name, value in SECURITY.items():
        assert answer.headers[name] == value, (path, name)
    policy = dict(
        part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'"  # no inline script, no eval
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"


def test_the_tile_server_is_the_one_outside_image_origin(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigie.web.config import console_settings

    monkeypatch.setenv("VIGIE_TILE_URL", "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    console_settings.cache_clear()
    try:
        policy = centre.client.get("/").headers["content-security-policy"]
    finally:
        console_settings.cache_clear()
    assert "img-src 'self' data: blob: https://*.tile.example.org" in policy


def test_no_page_carries_inline_script() -> None:
    """Every <script> of the console's templates loads a file or is a JSON data island."""
    templates = Path(__file__).parents[2] / "src/vigie/web/templates"
    for template in templates.glob("*.html"):
        for tag in re.findall(r"<script\b[^>]*>", template.read_text()):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
    from vigie.web.docs import PAGE

    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", PAGE))

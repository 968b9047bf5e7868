"""Every console endpoint against every role, as tests/api/test_permissions.py does for the API
(the console's endpoints are kept out of the public OpenAPI, so that table does not list them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.world import ROLES, World, build
from tests.cases import factories as make
from tests.conftest import Centre

READERS = {"operator", "supervisor", "spip", "judge", "prosecutor"}
ROUTES: dict[str, tuple[str, Callable[[World], str], set[str], Any]] = {
    "activity": ("GET", lambda w: f"/api/console/placements/{w.placement}/activity", READERS, None),
    "context": ("GET", lambda w: f"/api/console/alarms/{w.new_alarm()}/context", READERS, None),
    "supervision": ("GET", lambda w: "/api/console/supervision", {"operator", "supervisor"}, None),
    "zone check": (
        "POST",
        lambda w: f"/api/console/placements/{w.placement}/zones/check",
        {"supervisor"},
        {"id": "Zp", "type": "inclusion", "geometry": make.square(44.0, 3.0, 0.01)},
    ),
}


@pytest.mark.parametrize("name", list(ROUTES))
def test_console_endpoint_admits_exactly_its_roles(centre: Centre, name: str) -> None:
    world = build(centre)
    method, path, allowed, body = ROUTES[name]
    for role in ROLES:
        answer = centre.client.request(method, path(world), json=body, headers=centre.headers(role))
        expected = 200 if role in allowed else 403
        assert answer.status_code == expected, (name, role, answer.text)
    assert centre.client.request(method, path(world), json=body).status_code == 401


def test_console_endpoints_stay_out_of_the_public_openapi(centre: Centre) -> None:
    paths = centre.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/api/console")]

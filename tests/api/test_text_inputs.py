"""Text and numbers a client sends that PostgreSQL cannot store, or that nobody types at a desk.

PostgreSQL keeps no NUL in a text column or a ``jsonb`` value, and no NaN or infinity in a
``jsonb`` one (Python's JSON parser takes all three): one that reached the driver failed as a
500 (a login's username, the alarm queue's filters, a user's name, a zone's label or a key of
its GeoJSON, a placement's police station, the law's facts), where SQLite stored it silently.
Every text input of every route now refuses a NUL, every number a NaN or an infinity, with a 422
naming the field, on both databases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select

from tests.api.test_edges import _routes
from tests.api.world import World, build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie.api import create_app
from vigie.settings import Settings
from vigie.store.models import Device, Placement, User, Zone

NUL = "a\x00b"
NOT_NUMBERS = (float("nan"), float("inf"))
# Passwords are hashed (argon2 takes any bytes), never stored nor shown: a NUL harms nothing.
PASSWORDS = {"password", "current_password", "new_password"}


def _probes(schema: dict[str, Any], defs: dict[str, Any]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, value) for each text or number leaf of a JSON schema: the leaf given a NUL, a NaN
    or an infinity; a free JSON object, a NUL in one of its strings and one of its keys, and a
    NaN and an infinity among its values."""
    if "$ref" in schema:
        yield from _probes(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            yield from _probes(option, defs)
    kind = schema.get("type")
    if kind == "string":
        yield (), NUL
    elif kind == "number":
        for value in NOT_NUMBERS:
            yield (), value
    elif kind == "array":
        for path, value in _probes(schema.get("items", {}), defs):
            yield (), [_nest(path, value)]
    elif kind == "object":
        for name, inner in schema.get("properties", {}).items():
            for path, value in _probes(inner, defs):
                yield (name, *path), value
        if not schema.get("properties") and schema.get("additionalProperties", True) in (True, {}):
            yield (), {"k": NUL}
            yield (), {NUL: 1}
            for value in NOT_NUMBERS:
                yield (), {"k": [value]}


def _nest(path: tuple[str, ...], value: Any) -> Any:
    for name in reversed(path):
        value = {name: value}
    return value


def _inputs(route: APIRoute) -> Iterator[tuple[str, Any]]:
    """Every parameter of a route, its dependencies' included, with where it comes from."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        for where in ("query", "path", "header", "body"):
            for field in getattr(dependant, f"{where}_params"):
                yield where, field
        stack.extend(dependant.dependencies)


def test_every_input_of_every_route_refuses_a_nul_and_what_is_not_a_number() -> None:
    app = create_app(Settings(run_pipeline=False))
    routes = [r for r in _routes(app.routes) if isinstance(r, APIRoute)]
    probed, accepted = 0, []
    for route in routes:
        for where, field in _inputs(route):
            schema = field._type_adapter.json_schema(mode="validation")
            for path, value in _probes(schema, schema.get("$defs", {})):
                if PASSWORDS & {field.name, *path}:
                    continue
                probed += 1
                _, errors = field.validate(_nest(path, value), {}, loc=(where,))
                at = [e for e in errors if tuple(map(str, e["loc"][1 : 1 + len(path)])) == path]
                if not any(e["type"] != "missing" for e in at):
                    accepted.append(f"{sorted(route.methods)} {route.path} {field.name} {path}")
    assert probed > 100  # the walk reached the routes' text and numbers (it is not vacuous)
    assert not accepted, accepted


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)


def refused_for_nul(answer: Any, field: str) -> None:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == field, body
    assert "NUL" in body["message"] or "control character" in body["message"], body


def count(world: World, model: Any) -> int:
    with world.centre.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_login_with_a_nul_in_its_username_is_a_422(world: World) -> None:
    answer = world.centre.client.post(
        "/api/auth/token", json={"username": "operator\x001", "password": "x"}
    )
    refused_for_nul(answer, "username")


@pytest.mark.parametrize(
    ("path", "role", "param"),
    [
        ("/api/alarms", "operator", "case"),
        ("/api/alarms", "operator", "kind"),
        ("/api/audit", "admin", "actor"),
    ],
)
def test_a_filter_with_a_nul_is_a_422(world: World, path: str, role: str, param: str) -> None:
    client, headers = world.centre.client, world.centre.headers(role)
    refused_for_nul(client.get(path, params={param: NUL}, headers=headers), param)


def test_nothing_with_a_nul_is_stored(world: World) -> None:
    client, centre = world.centre.client, world.centre
    admin, supervisor = centre.headers("admin"), centre.headers("supervisor")
    square = make.square(45.0, 5.0, 0.01)
    zones, users, devices = count(world, Zone), count(world, User), count(world, Device)
    zone_url = f"/api/placements/{world.placement}/zones/ZN"
    refused_for_nul(
        client.put(
            zone_url,
            json={"id": "ZN", "type": "exclusion", "geometry": square | {"name": NUL}},
            headers=supervisor,
        ),
        "geometry",
    )
    refused_for_nul(
        client.put(
            zone_url,
            json={"id": "ZN", "type": "exclusion", "geometry": square | {NUL: 1}},
            headers=supervisor,
        ),
        "geometry",
    )
    refused_for_nul(
        client.put(
            zone_url,
            json={"id": "ZN", "type": "exclusion", "geometry": square, "label": NUL},
            headers=supervisor,
        ),
        "label",
    )
    user = {"username": "zz", "password": "Tr0ub4dor&3-horse-staple-x", "role": "operator"}
    refused_for_nul(
        client.post("/api/users", json=user | {"full_name": NUL}, headers=admin), "full_name"
    )
    refused_for_nul(
        client.post(
            "/api/devices", json={"id": "DX", "kind": "bracelet", "model": NUL}, headers=admin
        ),
        "model",
    )
    assert (count(world, Zone), count(world, User), count(world, Device)) == (
        zones,
        users,
        devices,
    )
    placement_url = f"/api/placements/{world.placement}"
    refused_for_nul(
        client.patch(placement_url, json={"police_station": NUL}, headers=supervisor),
        "police_station",
    )
    refused_for_nul(
        client.post(
            f"{placement_url}/renew", json={"law_facts": {"offence": NUL}}, headers=supervisor
        ),
        "law_facts",
    )
    with centre.db.session() as session:
        placement = session.get_one(Placement, world.placement)
        assert placement.police_station is None or "\x00" not in placement.police_station
    refused_for_nul(client.post("/api/exports", json={"case_ref": NUL}, headers=admin), "case_ref")


def test_the_law_notes_refuse_the_markers_of_their_own_rendering(world: World) -> None:
    """The French rendering marks its slots with NUL and \\x01: a note that carried one named a
    slot that does not exist, and the page answered 500."""
    answer = world.centre.client.post(
        "/console/law/notes",
        json={"notes": ["\x0099\x01"]},
        headers=world.centre.headers("judge"),
    )
    refused_for_nul(answer, "notes[0]")


@pytest.mark.parametrize("path", ["/console/law/result", "/console/law/sheet.pdf"])
def test_a_calculator_form_that_is_not_utf8_is_a_422(world: World, path: str) -> None:
    """The legal calculator's form is read by hand (htmx posts it): bytes that are not UTF-8
    failed to decode as a 500."""
    headers = world.centre.headers("judge") | {"content-type": "application/x-www-form-urlencoded"}
    answer = world.centre.client.post(path, content=b"measure=\xff\xfe", headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "body"


def test_a_free_json_object_with_nan_or_infinity_is_a_422_and_nothing_is_stored(
    world: World,
) -> None:
    """`NaN`, `Infinity` and 1e400 parse (as Python's parser reads JSON) but ``jsonb`` takes
    none of them: a zone's GeoJSON or a renewal's facts carrying one failed as a 500."""
    client, supervisor = world.centre.client, world.centre.headers("supervisor")
    headers = supervisor | {"content-type": "application/json"}
    zones = count(world, Zone)
    square = make.square(45.0, 5.0, 0.01)
    url = f"/api/placements/{world.placement}"
    for number in ("NaN", "Infinity", "1e400"):
        geometry = json.dumps(square)[:-1] + f', "name": {number}}}'
        body = f'{{"id": "ZN", "type": "exclusion", "geometry": {geometry}}}'
        answer = client.put(f"{url}/zones/ZN", content=body, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "geometry"
        assert "not a finite number" in answer.json()["message"]
        answer = client.post(
            f"{url}/renew", content=f'{{"law_facts": {{"k": {number}}}}}', headers=headers
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "law_facts"
    assert count(world, Zone) == zones

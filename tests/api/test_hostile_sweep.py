"""Every field of every body the API takes, every query parameter and every path parameter,
set in turn to what a broken client or an attacker sends: never a 500, always the error's JSON;
the audit chain still whole afterwards.

The bodies are the valid ones of the permissions table (`test_permissions.ENDPOINTS`), sent by
a role allowed to send them; each leaf of a body (nested objects and lists included) is replaced
by each hostile value in turn, or left out, and the whole body by what is not an object. The
query parameters are those the OpenAPI document names, each given each hostile text, and
repeated a thousand times; the path parameters those of each route's template, with the valid
body.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_permissions import ENDPOINTS, Endpoint, export_key, world
from tests.api.world import World
from vigie.store import audit

# The table's module fixtures: its world of cases, alarms and users; the key exports need.
__all__ = ["export_key", "world"]

_MISSING = object()
HOSTILE: tuple[Any, ...] = (
    None,
    True,
    -1,
    2**63,
    -(2**63) - 1,
    1e308,
    "",
    "\x00",
    "x" * 100_000,
    "\u202eé\U0001f6a8",  # a right-to-left override, an emoji
    "9999-99-99",
    "2026-02-30T25:61:00Z",
    [],
    {},
    [None] * 1_000,
    {"$where": "1"},
    _MISSING,
)
NOT_AN_OBJECT: tuple[Any, ...] = (None, [], "x", 0, [{}])
HOSTILE_SEGMENTS = (
    "0",
    "-1",
    "2147483648",
    "9223372036854775808",
    "99999999999999999999999",
    "1.5",
    "1e3",
    "%00",
    "%20",
    "x" * 5_000,
    "%2e%2e",
    "%C3%A9",
    "%ED%A0%80",
)
HOSTILE_TEXT = (
    "",
    "-1",
    "99999999999999999999999",
    "1e308",
    "nan",
    "\x00",
    "x" * 10_000,
    "true",
    "2026-02-30",
    "é\u202e",
    "%",
    "' OR 1=1 --",
)


def leaves(body: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every leaf of a JSON body, and of every object or list in it."""
    if path:
        yield path
    if isinstance(body, dict):
        for key, value in body.items():
            yield from leaves(value, (*path, key))
    elif isinstance(body, list):
        for index, value in enumerate(body[:2]):  # a list's first items stand for the rest
            yield from leaves(value, (*path, index))


def replaced(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of `body` with the leaf at `path` set to `value` (left out if `_MISSING`)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(body, dict):
        copy: Any = dict(body)
    else:
        copy = list(body)
    if rest:
        copy[head] = replaced(body[head], rest, value)
    elif value is _MISSING:
        del copy[head]
    else:
        copy[head] = value
    return copy


WITH_BODY = sorted(name for name, endpoint in ENDPOINTS.items() if endpoint.body is not None)


def _sent(
    world: World,
    endpoint: Endpoint,
    body: Any,
    what: str,
    query: Any = None,
    path: str | None = None,
) -> None:
    """`endpoint` called as a role it admits, with `body`, `query` or another `path`."""
    role = sorted(endpoint.allowed)[0]
    path = path or endpoint.path(world)
    if query is not None:  # the table's own query (search's) gives way to the one sent
        path = path.partition("?")[0]
    response = world.centre.client.request(
        endpoint.method,
        path,
        json=body,
        params=query,
        headers=world.centre.headers(role),
    )
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    if response.status_code >= 400:
        answer = response.json()
        assert answer["error"] and answer["message"], (what, answer)


@pytest.mark.parametrize("name", WITH_BODY)
def test_every_field_of_every_body_answers_hostile_values_without_a_500(
    world: World, name: str
) -> None:
    endpoint = ENDPOINTS[name]
    assert endpoint.body is not None
    valid = endpoint.body(world)
    paths = list(leaves(valid))
    for path in paths:
        for value in HOSTILE:
            body = replaced(endpoint.body(world), path, value)
            _sent(world, endpoint, body, f"{name} {path} = {str(value)[:40]!r}")
    for body in NOT_AN_OBJECT:
        _sent(world, endpoint, body, f"{name} body = {body!r}")
    with world.centre.db.reading() as session:
        assert audit.verify(session)[1] is None


def _queried(world: World) -> list[tuple[str, list[str]]]:
    """The GET endpoints of the table whose route takes query parameters, with their names."""
    spec = world.centre.client.get("/openapi.json").json()["paths"]
    found = []
    for name, endpoint in sorted(ENDPOINTS.items()):
        route = endpoint.path(world).partition("?")[0]
        operation = spec.get(route, {}).get(endpoint.method.lower(), {})
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
        if names:
            found.append((name, names))
    return found


def test_every_query_parameter_answers_hostile_text_without_a_500(world: World) -> None:
    queried = _queried(world)
    assert {"alarms.list", "audit.list", "search"} <= {name for name, _ in queried}
    for name, parameters in queried:
        endpoint = ENDPOINTS[name]
        for parameter in parameters:
            for text in HOSTILE_TEXT:
                _sent(world, endpoint, None, f"{name}?{parameter}={text[:40]!r}", {parameter: text})
            repeated = [(parameter, "1")] * 1_000
            _sent(world, endpoint, None, f"{name}?{parameter} x1000", repeated)
    with world.centre.db.reading() as session:
        assert audit.verify(session)[1] is None


def _template(spec: dict[str, Any], method: str, path: str) -> str | None:
    """The OpenAPI path template with parameters that this call's path fits."""
    for template, methods in spec.items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if "{" in template and method.lower() in methods and re.fullmatch(pattern, path):
            return template
    return None


def test_every_path_parameter_answers_hostile_text_without_a_500(world: World) -> None:
    spec = world.centre.client.get("/openapi.json").json()["paths"]
    swept = set()
    for name, endpoint in sorted(ENDPOINTS.items()):
        path = endpoint.path(world).partition("?")[0]
        template = _template(spec, endpoint.method, path)
        if template is None:
            continue
        swept.add(template)
        parts = path.split("/")
        for k, part in enumerate(template.split("/")):
            if not part.startswith("{"):
                continue
            for text in HOSTILE_SEGMENTS:
                hostile = "/".join([*parts[:k], text, *parts[k + 1 :]])
                body = endpoint.body(world) if endpoint.body else None
                _sent(world, endpoint, body, f"{name} {part}={text[:40]!r}", path=hostile)
    # Every route with a path parameter (the table covers every route).
    assert swept == {template for template in spec if "{" in template}
    with world.centre.db.reading() as session:
        assert audit.verify(session)[1] is None

"""Two changes of one case at the same moment are made one after the other: each moves the
case's revision, which is how detection knows to read the case again. Made together on
PostgreSQL, each took the revision it had read plus one, both saved the same, and detection kept
watching the case as the first change left it (a bracelet assigned while a zone was edited
went unwatched until the next change)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api.test_alarm_races import held_open
from tests.api.world import World, build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie.cases import devices, placements
from vigie.store.models import Placement


def _revision(world: World) -> int:
    with world.centre.db.session() as session:
        return session.get_one(Placement, world.placement).revision


def _at_once(first: Callable[[], int], second: Callable[[], int]) -> list[int]:
    with ThreadPoolExecutor(2) as pool:
        return [f.result() for f in [pool.submit(first), pool.submit(second)]]


def _zone(world: World, key: str) -> Callable[[], int]:
    body = {"id": key, "type": "exclusion", "geometry": make.square(45.0, 5.0 + len(key), 0.01)}
    url = f"/api/placements/{world.placement}/zones/{key}"
    headers = world.centre.headers("supervisor")
    return lambda: world.centre.client.put(url, json=body, headers=headers).status_code


def test_two_zones_saved_at_once_move_the_revision_twice(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(centre)
    before = _revision(world)
    meeting = threading.Barrier(2)
    monkeypatch.setattr(placements, "put_zone", held_open(placements.put_zone, meeting))
    assert _at_once(_zone(world, "ZA"), _zone(world, "ZBB")) == [200, 200]
    assert _revision(world) == before + 2


def test_a_bracelet_assigned_while_a_zone_is_saved_moves_the_revision_twice(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(centre)
    bracelet = world.new_device()
    before = _revision(world)
    meeting = threading.Barrier(2)
    monkeypatch.setattr(placements, "put_zone", held_open(placements.put_zone, meeting))
    monkeypatch.setattr(devices, "assign", held_open(devices.assign, meeting))
    supervisor = centre.headers("supervisor")

    def assign() -> int:
        url = f"/api/placements/{world.placement}/devices"
        body = {"device_id": bracelet, "role": "wearer"}
        return centre.client.post(url, json=body, headers=supervisor).status_code

    assert _at_once(assign, _zone(world, "ZA")) == [201, 200]
    assert _revision(world) == before + 2

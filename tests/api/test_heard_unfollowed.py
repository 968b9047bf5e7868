"""Supervision names the registered devices heard in its window that no watched case follows: a
bracelet fitted without its assignment recorded is watched by no one, and says so here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from tests.api.world import World, build
from tests.conftest import Centre
from vigie import clock
from vigie.store.models import Placement


def reading(device: str, seq: int, ago: timedelta) -> dict[str, Any]:
    return {
        "device": device,
        "seq": seq,
        "t": (clock.now() - ago).isoformat(),
        "type": "battery",
        "level": 0.8,
    }


def heard(world: World, hours: int = 24) -> list[dict[str, Any]]:
    answer = world.centre.client.get(
        f"/api/console/supervision?hours={hours}", headers=world.centre.headers("supervisor")
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["heard_unfollowed"])


def test_a_device_no_case_follows_is_named_once_heard(centre: Centre) -> None:
    world = build(centre)  # C1 follows B1 and H1
    stock = world.new_device()
    silent = world.new_device()
    assert heard(world) == []
    posted = centre.client.post(
        "/api/observations",
        json={
            "observations": [
                reading(stock, 1, timedelta(minutes=3)),
                reading("B1", 2, timedelta(0)),
            ]
        },
        headers=centre.headers("integration"),
    )
    assert posted.status_code == 200, posted.text
    (item,) = heard(world)
    assert (item["device"], item["kind"]) == (stock, "bracelet")
    assert item["last_heard"].startswith((clock.now() - timedelta(minutes=3)).isoformat()[:16])
    assert silent not in {i["device"] for i in heard(world)}
    assert heard(world, hours=1) != []

    with centre.db.session() as session:  # C1 ends: its bracelet, heard, is followed no more
        session.execute(
            update(Placement).where(Placement.id == world.placement).values(status="ended")
        )
    assert {i["device"] for i in heard(world)} == {stock, "B1"}


def test_a_reading_older_than_the_window_is_not_listed(centre: Centre) -> None:
    world = build(centre)
    stock = world.new_device()
    posted = centre.client.post(
        "/api/observations",
        json={"observations": [reading(stock, 1, timedelta(hours=3))]},
        headers=centre.headers("integration"),
    )
    assert posted.status_code == 200, posted.text
    assert [i["device"] for i in heard(world, hours=24)] == [stock]
    assert heard(world, hours=2) == []

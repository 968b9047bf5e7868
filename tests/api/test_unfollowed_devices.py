"""A batch's receipt names its devices that no case watched here follows: what they send is
stored and never detected, so an integration posting under a wrong, withdrawn or ended device's
id learns it at once; the batch's audit entry says it too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from tests.api.world import World, build
from tests.conftest import Centre
from vigie import clock
from vigie.store.models import AuditEntry, Observation, Placement


def fix(device: str, seq: int) -> dict[str, Any]:
    return {
        "device": device,
        "seq": seq,
        "t": (clock.now() - timedelta(minutes=5)).isoformat(),
        "type": "position",
        "lat": 48.85,
        "lon": 2.35,
        "accuracy_m": 5,
    }


def post(world: World, *observations: dict[str, Any]) -> Any:
    answer = world.centre.client.post(
        "/api/observations",
        json={"observations": list(observations)},
        headers=world.centre.headers("integration"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_receipt_names_the_devices_no_case_follows(centre: Centre) -> None:
    world = build(centre)  # C1 follows B1 and H1
    stock = world.new_device()  # registered, in stock
    receipt = post(world, fix("B1", 1), fix("H1", 2), fix(stock, 3), fix("NOPE", 4), fix("NOPE", 5))
    assert receipt["accepted"] == 5  # stored all the same: nothing a device sent is lost
    assert receipt["unfollowed"] == sorted([stock, "NOPE"])
    with centre.db.session() as session:
        assert len(session.scalars(select(Observation.id)).all()) == 5
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "post_observations")
        ).one()
    assert entry.detail["unfollowed"] == 2
    assert entry.detail["unfollowed_devices"] == sorted([stock, "NOPE"])

    assert post(world, fix("B1", 6))["unfollowed"] == []  # followed: nothing said
    with centre.db.session() as session:
        session.execute(
            update(Placement).where(Placement.id == world.placement).values(status="ended")
        )
    assert post(world, fix("B1", 7), fix("H1", 8))["unfollowed"] == ["B1", "H1"]


def test_an_audit_entry_names_at_most_twenty_devices(centre: Centre) -> None:
    world = build(centre)
    receipt = post(world, *(fix(f"X{n:02}", n) for n in range(30)))
    assert len(receipt["unfollowed"]) == 30
    with centre.db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "post_observations")
        ).one()
    assert entry.detail["unfollowed"] == 30 and len(entry.detail["unfollowed_devices"]) == 20

"""Devices withdrawn from service, through the API on both databases: no case, secret or command
goes to them, a fitted one is refused, what they sent stays; reinstated, they serve again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.api.world import World, equip
from tests.conftest import Centre
from vigie import clock
from vigie.cases import device_secrets
from vigie.gateway.registry import Registry, WithdrawnDevice, WrongSecret
from vigie.store import open_database
from vigie.store.models import AuditEntry, Device, DeviceCommand
from vigie.store.schema import upgrade
from vigie.web.supervision import refusals_since

LOST = {"reason": "lost", "note": "left in a taxi on return from the SPIP"}


@pytest.fixture
def world(centre: Centre) -> World:
    return equip(centre)  # C1 wears B1 and H1; C2 (BAR) WB and her PP


def call(world: World, path: str, body: Any = None, role: str = "supervisor") -> Any:
    return world.centre.client.post(path, json=body, headers=world.centre.headers(role))


def withdraw(world: World, device: str, body: Any = LOST, role: str = "supervisor") -> Any:
    return call(world, f"/api/devices/{device}/withdraw", body, role)


def reinstate(world: World, device: str, body: Any, role: str = "supervisor") -> Any:
    return call(world, f"/api/devices/{device}/reinstate", body, role)


def audit_of(world: World, action: str) -> list[AuditEntry]:
    with world.centre.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def device(world: World, device_id: str) -> Device:
    with world.centre.db.session() as session:
        found = session.get_one(Device, device_id)
        session.expunge(found)
        return found


def test_a_withdrawn_device_gets_no_case_secret_or_command_and_its_queue_fails(
    world: World,
) -> None:
    spare = world.new_device("home_unit")
    assert call(world, f"/api/devices/{spare}/secret").status_code == 201
    queued = call(world, f"/api/devices/{spare}/commands", {"kind": "query_status"})
    assert queued.status_code == 201, queued.text

    answer = withdraw(world, spare, LOST, role="admin")
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["has_secret"] is False and out["assigned"] is None
    assert out["withdrawn"]["reason"] == "lost" and out["withdrawn"]["by"] == "admin1"
    assert out["withdrawn"]["note"] == LOST["note"]
    stored = device(world, spare)
    assert stored.secret_hash is None and stored.nats_hash is None
    with world.centre.db.session() as session:
        assert spare not in device_secrets.password_file(session)
        assert spare not in device_secrets.nats_users(session)[0]
        (command,) = session.scalars(select(DeviceCommand).where(DeviceCommand.device_id == spare))
        assert command.state == "failed" and "withdrawn" in (command.reply or "")
    (entry,) = audit_of(world, "withdraw_device")
    assert entry.target == f"device:{spare}" and entry.actor == "admin1"
    assert entry.detail == {
        "reason": "lost",
        "note": LOST["note"],
        "secret_removed": True,
        "commands_failed": [queued.json()["id"]],
    }
    listed = {
        d["id"]: d
        for d in world.centre.client.get(
            "/api/devices", headers=world.centre.headers("operator")
        ).json()
    }
    assert listed[spare]["withdrawn"]["reason"] == "lost" and listed["B1"]["withdrawn"] is None
    assert listed[spare]["assigned"] is None
    assert [e.actor for e in audit_of(world, "read") if e.target == "devices"] == ["operator1"]
    assert listed["B1"]["assigned"] == {
        "case": "C1",
        "placement": world.placement,
        "role": "wearer",
    }

    refusals = [
        call(
            world,
            f"/api/placements/{world.placement}/devices",
            {"device_id": spare, "role": "home_unit"},
        ),
        call(world, f"/api/devices/{spare}/secret"),
        call(world, f"/api/devices/{spare}/commands", {"kind": "query_status"}),
        withdraw(world, spare, {"reason": "broken"}),
    ]
    assert [r.status_code for r in refusals] == [409, 409, 409, 409]
    assert {r.json()["error"] for r in refusals} == {"device_withdrawn"}
    assert "reinstate it first" in refusals[0].json()["message"]
    # Nothing of those was written: C1 keeps H1, the device no secret, one command, one entry.
    placement = world.centre.client.get(
        f"/api/placements/{world.placement}", headers=world.centre.headers("supervisor")
    ).json()
    assert placement["devices"]["home_unit"] == "H1"
    assert device(world, spare).secret_hash is None
    with world.centre.db.session() as session:
        assert (
            len(
                list(
                    session.scalars(
                        select(DeviceCommand.id).where(DeviceCommand.device_id == spare)
                    )
                )
            )
            == 1
        )
    assert len(audit_of(world, "withdraw_device")) == 1


def test_a_fitted_device_is_refused_until_another_takes_its_place(world: World) -> None:
    refused = withdraw(world, "B1", {"reason": "broken"})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "device_in_use" and "case C1" in body["message"]
    assert device(world, "B1").withdrawn_at is None and audit_of(world, "withdraw_device") == []

    spare = world.new_device()
    swapped = call(
        world, f"/api/placements/{world.placement}/devices", {"device_id": spare, "role": "wearer"}
    )
    assert swapped.status_code == 201, swapped.text
    answer = withdraw(world, "B1", {"reason": "broken"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["withdrawn"]["reason"] == "broken"


def test_reinstated_a_device_serves_again_with_a_new_secret(world: World) -> None:
    spare = world.new_device()
    assert withdraw(world, spare, {"reason": "repair"}).status_code == 200
    in_service = reinstate(world, "B1", {"note": "never withdrawn"})
    assert in_service.status_code == 422 and "in service" in in_service.json()["message"]
    for hostile in ({}, {"note": "   "}, {"note": "a\x00b"}, {"note": "x" * 2001}, ["found"]):
        refused = reinstate(world, spare, hostile)
        assert refused.status_code == 422, (hostile, refused.text)
    assert device(world, spare).withdrawn_reason == "repair"  # still withdrawn

    back = reinstate(world, spare, {"note": "back from repair, strap replaced"})
    assert back.status_code == 200, back.text
    assert back.json()["withdrawn"] is None and back.json()["has_secret"] is False
    (entry,) = audit_of(world, "reinstate_device")
    assert entry.detail["withdrawn_reason"] == "repair"
    assert (entry.detail["withdrawn_by"], entry.detail["withdrawn_note"]) == ("supervisor1", None)
    assert entry.detail["note"] == "back from repair, strap replaced"
    assert call(world, f"/api/devices/{spare}/secret").status_code == 201
    fitted = call(
        world, f"/api/placements/{world.placement}/devices", {"device_id": spare, "role": "wearer"}
    )
    assert fitted.status_code == 201, fitted.text


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("D?", {"reason": "sold"}, 422, "reason"),
        ("D?", {"reason": ["lost"]}, 422, "reason"),
        ("D?", {"reason": "other"}, 422, "note"),
        ("D?", {"reason": "other", "note": "   "}, 422, "note"),
        ("D?", {"reason": "lost", "note": "x" * 2001}, 422, "note"),
        ("D?", {"reason": "lost", "note": "a\x00b"}, 422, "note"),
        ("D?", {"reason": "lost", "by": "someone else"}, 422, "by"),
        ("D?", ["lost"], 422, None),
        ("NO-SUCH-DEVICE", {"reason": "lost"}, 404, None),
        ("X" * 65, {"reason": "lost"}, 422, None),
    ],
)
def test_a_hostile_withdrawal_is_refused_and_changes_nothing(
    world: World, path: str, body: Any, status: int, field: str | None
) -> None:
    spare = world.new_device()
    target = spare if path == "D?" else path
    answer = withdraw(world, target, body)
    assert answer.status_code == status, answer.text
    if field is not None:
        assert field in answer.text
    assert device(world, spare).withdrawn_at is None
    assert audit_of(world, "withdraw_device") == []


def test_the_supervision_page_lists_the_devices_the_gateway_refused(world: World) -> None:
    """A withdrawn bracelet speaking again and a wrong key for her phone, refused by the
    gateway's registry (the real one, on this centre's database), are on the supervision page:
    which device, which case, why, how often, when; never from where."""
    spare = world.new_device()
    assert withdraw(world, spare, {"reason": "stolen"}).status_code == 200
    issued = call(world, "/api/devices/PP/secret")
    assert issued.status_code == 201, issued.text
    registry = Registry(world.centre.db, ttl_s=0.0)
    with pytest.raises(WithdrawnDevice):
        registry.lookup(spare, "teltonika", ("203.0.113.9", 40000))
    with pytest.raises(WrongSecret):
        registry.authenticate("PP", "guessed", "osmand", ("203.0.113.7", 41000))
    assert registry.authenticate("PP", issued.json()["secret"], "osmand", "phone").id == "PP"

    figures = world.centre.client.get(
        "/api/console/supervision", headers=world.centre.headers("operator")
    )
    assert figures.status_code == 200, figures.text
    refused = {r["device"]: r for r in figures.json()["refused_devices"]}
    assert set(refused) == {spare, "PP"}
    assert refused[spare]["reasons"] == ["withdrawn from service"]
    assert refused[spare]["protocols"] == ["teltonika"] and refused[spare]["case"] is None
    assert refused["PP"]["reasons"] == ["wrong key"] and refused["PP"]["case"] == "C2"
    assert refused["PP"]["refusals"] == 1
    assert "203.0.113" not in figures.text  # the peer stays in the audit log


def test_the_refusals_are_read_through_their_partial_index(tmp_path: Path) -> None:
    """On SQLite the plan names the index (PostgreSQL's planner picks by table size)."""
    url = f"sqlite:///{tmp_path / 'centre.db'}"
    upgrade(url)
    database = open_database(url)
    try:
        statement = refusals_since(clock.now())
        with database.reading() as session:
            sql = str(statement.compile(session.get_bind()))  # one placeholder: the time
            explain = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("",))
            plan = explain.all()
    finally:
        database.dispose()
    assert "ix_audit_log_device_refused" in " ".join(str(row[-1]) for row in plan)

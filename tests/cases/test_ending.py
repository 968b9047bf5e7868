"""The end of a measure, through the API and the real pipeline, on both databases: the case stops
being watched, its devices go to another case, its record stays and refuses changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.alarms.test_quarantine import Clock, alarms, at, iso, obs, pipeline_of, post
from tests.api.world import World, equip
from tests.cases import factories as make
from tests.conftest import Centre
from vigie.store.models import Alarm, AuditEntry, DeviceAssignment, Placement

__all__ = ["at"]  # the stopped clock, a fixture of the quarantine tests

LIFTED = {"reason": "lifted", "decision_ref": "JAP-2026-0107", "note": "mainlevée à l'audience"}


@pytest.fixture
def world(centre: Centre) -> World:
    return equip(centre)  # C1 wears B1 and H1; C2 (BAR) WB and her PP


def end(world: World, body: dict[str, Any], role: str = "supervisor", placement: int = 0) -> Any:
    return world.centre.client.post(
        f"/api/placements/{placement or world.placement}/end",
        json=body,
        headers=world.centre.headers(role),
    )


def placement(world: World) -> Placement:
    with world.centre.db.session() as session:
        found = session.get_one(Placement, world.placement)
        session.expunge(found)
        return found


def test_an_ended_measure_is_not_watched_and_its_bracelet_goes_to_another_case(
    world: World, at: Clock
) -> None:
    centre = world.centre
    pipeline = pipeline_of(centre, at)
    heard = [obs(d, iso(at.now), "battery", level=0.9) for d in ("B1", "H1", "WB", "PP")]
    assert post(centre, *heard).is_success
    at.now += timedelta(seconds=1)
    pipeline.step()

    answer = end(world, LIFTED)
    assert answer.status_code == 200, answer.text
    ended = answer.json()
    assert ended["status"] == "ended" and ended["devices"] == {}
    assert sorted(ended["released"]) == ["B1", "H1"]
    assert ended["ended"]["reason"] == "lifted" and ended["ended"]["by"] == "supervisor1"
    assert ended["ended"]["decision_ref"] == "JAP-2026-0107"

    # Ten minutes on, every device silent: the watched case's bracelet raises its loss of
    # signal; the ended case's raise nothing, nor does its bracelet taken off and cut.
    at.now += timedelta(seconds=1)
    assert post(centre, obs("B1", iso(at.now), "tamper", what="strap_cut")).is_success
    at.now += timedelta(seconds=700)
    pipeline.step()
    raised = alarms(centre.db)
    assert ("C2", "signal_lost", "WB") in raised
    assert not [key for key in raised if key[0] == "C1"]

    # B1 goes to the BAR case, whose bracelet was WB, after 20 minutes on the shelf: silent for
    # that case from its fitting, not raised at once from its last word under C1.
    at.now += timedelta(minutes=20)
    moved = centre.client.post(
        f"/api/placements/{world.bar_placement}/devices",
        json={"device_id": "B1", "role": "wearer"},
        headers=centre.headers("supervisor"),
    )
    assert moved.status_code == 201, moved.text
    at.now += timedelta(seconds=1)
    pipeline.step()
    assert ("C2", "signal_lost", "B1") not in alarms(centre.db)
    assert post(centre, obs("B1", iso(at.now), "tamper", what="strap_cut")).is_success
    at.now += timedelta(seconds=1)
    pipeline.step()
    raised = alarms(centre.db)
    assert ("C2", "tamper", "B1") in raised
    assert not [key for key in raised if key[0] == "C1"]
    with centre.db.session() as session:
        b1 = session.scalars(
            select(DeviceAssignment)
            .where(DeviceAssignment.device_id == "B1")
            .order_by(DeviceAssignment.id)
        ).all()
    assert [(a.placement_id, a.until is None) for a in b1] == [
        (world.placement, False),
        (world.bar_placement, True),
    ]


def test_the_end_is_recorded_as_decided_and_open_alarms_stay_open(world: World, at: Clock) -> None:
    at.now += timedelta(hours=4)  # the case was set up four hours ago
    open_alarm = world.new_alarm("open")
    back = at.now - timedelta(hours=3)
    answer = end(world, LIFTED | {"ended_at": iso(back)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["open_alarms"] == 1
    ended = placement(world)
    assert ended.status == "ended" and ended.ended_at == back
    assert (ended.end_reason, ended.end_ref) == ("lifted", "JAP-2026-0107")
    assert ended.end_note == "mainlevée à l'audience" and ended.ended_by == "supervisor1"
    with world.centre.db.session() as session:
        assert session.get_one(Alarm, open_alarm).status == "open"
        closed = session.scalars(
            select(DeviceAssignment.until).where(DeviceAssignment.placement_id == world.placement)
        ).all()
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "end_measure"))
    assert closed == [back, back]
    assert entry.actor == "supervisor1" and entry.target == f"placement:{world.placement}"
    assert entry.detail["released"] == ["B1", "H1"] and entry.detail["open_alarms"] == 1
    # Read back by any reader of the case, the judge among them.
    read = world.centre.client.get(
        f"/api/placements/{world.placement}", headers=world.centre.headers("judge")
    )
    assert read.status_code == 200 and read.json()["ended"]["reason"] == "lifted"


def test_an_ended_measure_refuses_every_change(world: World, at: Clock) -> None:
    drawn = world.new_zone()
    assert end(world, {"reason": "term"}).status_code == 200
    client, supervisor = world.centre.client, world.centre.headers("supervisor")
    base = f"/api/placements/{world.placement}"
    zone = {"id": "Z9", "type": "exclusion", "geometry": make.square(45.0, 5.0, 0.01)}
    spare = world.new_device()
    absence = {
        "reason": "hospital",
        "note": "urgences",
        "starts_at": iso(at.now),
        "ends_at": iso(at.now + timedelta(hours=2)),
    }
    refused = {
        "end again": client.post(f"{base}/end", json=LIFTED, headers=supervisor),
        "change": client.patch(base, json={"grace_s": 60}, headers=supervisor),
        "renew": client.post(f"{base}/renew", json={}, headers=supervisor),
        "delete zone": client.delete(f"{base}/zones/{drawn}", headers=supervisor),
        "assign": client.post(
            f"{base}/devices", json={"device_id": spare, "role": "wearer"}, headers=supervisor
        ),
        "suspend": client.post(f"{base}/suspensions", json=absence, headers=supervisor),
        "put zone": client.put(f"{base}/zones/Z9", json=zone, headers=supervisor),
    }
    for what, answer in refused.items():
        assert answer.status_code == 409, (what, answer.text)
        assert answer.json()["error"] == "measure_ended", what
    after = placement(world)
    assert after.status == "ended" and after.grace_s == 0 and after.end_reason == "term"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "lifted"}, "decision_ref"),
        ({"reason": "other", "decision_ref": "x"}, "note"),
        ({"reason": "escaped", "decision_ref": "x"}, "reason"),
        (LIFTED | {"ended_at": "2026-12-04T10:00:00"}, "ended_at"),  # no offset
        (LIFTED | {"extra": 1}, "extra"),
    ],
)
def test_a_bad_end_is_refused_naming_its_field_and_changes_nothing(
    world: World, body: dict[str, Any], field: str
) -> None:
    answer = end(world, body)
    assert answer.status_code == 422, answer.text
    assert field in (answer.json().get("field") or ""), answer.json()
    after = placement(world)
    assert after.status == "active" and after.ended_at is None


def test_an_end_is_not_dated_ahead_of_now_nor_far_back(world: World, at: Clock) -> None:
    for when in (at.now + timedelta(minutes=5), at.now - timedelta(days=8)):
        answer = end(world, LIFTED | {"ended_at": iso(when)})
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "ended_at"
    assert placement(world).status == "active"
    with world.centre.db.session() as session:
        assert not session.scalars(
            select(AuditEntry).where(AuditEntry.action == "end_measure")
        ).all()


@pytest.mark.parametrize("role", ["operator", "admin", "judge", "spip", "integration"])
def test_only_a_supervisor_ends_a_measure(world: World, role: str) -> None:
    assert end(world, LIFTED, role).status_code in (403, 404)
    assert placement(world).status == "active"


def test_supervision_lists_the_measures_watched_past_their_end_date(
    world: World, at: Clock
) -> None:
    with world.centre.db.session() as session:
        session.get_one(Placement, world.placement).end_date = (at.now - timedelta(days=2)).date()
        session.get_one(Placement, world.bar_placement).end_date = (
            at.now + timedelta(days=30)
        ).date()

    def past_end() -> list[str]:
        figures = world.centre.client.get(
            "/api/console/supervision", headers=world.centre.headers("supervisor")
        )
        assert figures.status_code == 200, figures.text
        return [p["case"] for p in figures.json()["past_end"]]

    assert past_end() == ["C1"]
    assert end(world, {"reason": "term"}).status_code == 200
    assert past_end() == []


def test_an_end_is_not_dated_before_a_device_it_closes_was_fitted(world: World, at: Clock) -> None:
    at.now += timedelta(hours=2)
    spare = world.new_device()
    fitted = world.centre.client.post(
        f"/api/placements/{world.placement}/devices",
        json={"device_id": spare, "role": "wearer"},
        headers=world.centre.headers("supervisor"),
    )
    assert fitted.status_code == 201, fitted.text
    answer = end(world, LIFTED | {"ended_at": iso(at.now - timedelta(hours=1))})
    assert answer.status_code == 422 and answer.json()["field"] == "ended_at"
    assert spare in answer.json()["message"]
    assert placement(world).status == "active"


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (
            "/api/placements/{id}/end",
            LIFTED | {"ended_at": "9999-12-31T23:59:59Z"},
            422,
            "ended_at",
        ),
        ("/api/placements/{id}/end", LIFTED | {"ended_at": "0001-01-01T00:30:00+01:00"}, 422, None),
        ("/api/placements/{id}/end", LIFTED | {"ended_at": 1733300000}, 422, "ended_at"),
        ("/api/placements/{id}/end", LIFTED | {"decision_ref": "JAP\x00-1"}, 422, "decision_ref"),
        ("/api/placements/{id}/end", LIFTED | {"decision_ref": "x" * 81}, 422, "decision_ref"),
        ("/api/placements/{id}/end", LIFTED | {"note": "n" * 2001}, 422, "note"),
        ("/api/placements/{id}/end", {"reason": ["lifted"]}, 422, "reason"),
        ("/api/placements/{id}/end", [LIFTED], 422, None),
        ("/api/placements/2147483648/end", LIFTED, 422, "placement_id"),
        ("/api/placements/999999/end", LIFTED, 404, None),
    ],
)
def test_hostile_ends_are_refused_and_change_nothing(
    world: World, path: str, body: Any, status: int, field: str | None
) -> None:
    answer = world.centre.client.post(
        path.format(id=world.placement), json=body, headers=world.centre.headers("supervisor")
    )
    assert answer.status_code == status, answer.text
    if field is not None:
        assert field in (answer.json().get("field") or ""), answer.json()
    after = placement(world)
    assert after.status == "active" and after.ended_at is None


def test_the_queue_refuses_an_imported_flag_that_is_not_one(world: World) -> None:
    answer = world.centre.client.get(
        "/api/alarms", params={"imported": "perhaps"}, headers=world.centre.headers("operator")
    )
    assert answer.status_code == 422 and "imported" in answer.json()["field"]

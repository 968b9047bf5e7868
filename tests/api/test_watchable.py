"""A placement that detection would refuse whatever devices it is given is refused when it is
saved, naming the field: the API saved a DDSE or an ARSE with no hours, and every LSC, which
detection then refused (nothing of the case watched, not even the strap). An LSC is watched for
the hours and zones it carries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from tests.api.world import World, build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie.cases.detection import placement_record
from vigie.detect import Engine
from vigie.settings import Settings
from vigie.store.models import Placement

HOURS = [{"days": "mon-fri", "from": "20:00", "to": "07:00"}]
LSC_LAW = {
    "as_of": "2026-06-01",
    "committal_date": "2025-01-10",
    "sentences": [{"quantum": "P3Y", "category": "delit", "recidivism": False, "offences": []}],
    "facts": {
        "refused_lsc": False,
        "adjustment_request_pending": False,
        "disciplinary_violence": False,
        "has_accommodation": True,
    },
}


def _form(world: World, measure: str, law: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "person_id": world.person,
        "measure": measure,
        "court_order_ref": "JAP-2026-0042",
        "court_order_date": "2026-11-20",
        "start_date": "2026-11-23",
        "law": law,
        "judge_id": world.contacts["judge"],
        "prosecutor_id": world.contacts["prosecutor"],
        "spip_id": world.contacts["spip"],
        **fields,
    }


def _count(centre: Centre) -> int:
    with centre.db.session() as session:
        return session.scalar(select(func.count()).select_from(Placement)) or 0


def test_a_home_detention_without_hours_is_refused_when_saved(centre: Centre) -> None:
    world = build(centre)
    before = _count(centre)
    for measure, law in (("ddse", make.ddse_law()), ("arse", make.arse_law())):
        answer = centre.client.post(
            "/api/placements",
            json=_form(world, measure, law, schedule=[]),
            headers=centre.headers("supervisor"),
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "schedule"
        assert answer.json()["message"].endswith(f"{measure.upper()}: the hours are needed")
    assert _count(centre) == before  # nothing saved
    # With its hours, the same form is saved.
    saved = centre.client.post(
        "/api/placements",
        json=_form(world, "ddse", make.ddse_law(), schedule=HOURS),
        headers=centre.headers("supervisor"),
    )
    assert saved.status_code == 201, saved.text


def test_a_change_that_drops_the_hours_is_refused_and_changes_nothing(centre: Centre) -> None:
    world = build(centre)
    with centre.db.session() as session:
        revision = session.get_one(Placement, world.placement).revision
    answer = centre.client.patch(
        f"/api/placements/{world.placement}",
        json={"schedule": []},
        headers=centre.headers("supervisor"),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "schedule"
    with centre.db.session() as session:
        placement = session.get_one(Placement, world.placement)
        assert placement.revision == revision
        record = placement_record(placement)
    assert record is not None and record["schedule"]
    Engine().add_placement(record)  # still watched as it was


def test_an_lsc_is_saved_and_watched_for_its_hours(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    made = centre.client.post(
        "/api/placements", json=_form(world, "lsc", LSC_LAW, schedule=HOURS), headers=supervisor
    )
    assert made.status_code == 201, made.text
    placement_id = made.json()["id"]
    for device, kind, role in (("LB1", "bracelet", "wearer"), ("LH1", "home_unit", "home_unit")):
        created = centre.client.post(
            "/api/devices", json={"id": device, "kind": kind}, headers=supervisor
        )
        assert created.status_code == 201, created.text
        assigned = centre.client.post(
            f"/api/placements/{placement_id}/devices",
            json={"device_id": device, "role": role},
            headers=supervisor,
        )
        assert assigned.status_code == 201, assigned.text
    # The centre's default bounds (the tests' environment sets none).
    bounds = Settings.model_fields["breach_confirm_s"].get_default(call_default_factory=True)
    config = Settings(breach_confirm_s=bounds)
    with centre.db.session() as session:
        record = placement_record(session.get_one(Placement, placement_id), config)
        ddse = placement_record(session.get_one(Placement, world.placement), config)
    assert record is not None and record["measure"] == "lsc"
    # Its zone breaches are confirmed by a second fix as a DDSE's are (it had no bound at all).
    assert ddse is not None and record["confirm_s"] == ddse["confirm_s"] > 0
    engine = Engine()
    engine.add_placement(record)  # refused before: "unknown measure 'lsc'"
    assert engine.case_of("LB1") == record["case"] and engine.case_of("LH1") == record["case"]


def test_the_zone_editors_check_refuses_what_its_save_refuses(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    zone = {"id": "parc", "type": "exclusion", "geometry": make.square(45.05, 5.0, 0.003)}
    check = f"/api/console/placements/{world.placement}/zones/check"
    assert centre.client.post(check, json=zone, headers=supervisor).status_code == 200
    ended = centre.client.post(
        f"/api/placements/{world.placement}/end",
        json={"reason": "lifted", "decision_ref": "JAP-2026-0099"},
        headers=supervisor,
    )
    assert ended.status_code == 200, ended.text
    saved = centre.client.put(
        f"/api/placements/{world.placement}/zones/parc", json=zone, headers=supervisor
    )
    checked = centre.client.post(check, json=zone, headers=supervisor)
    assert saved.status_code == checked.status_code != 200
    assert checked.json()["message"] == saved.json()["message"]


def test_her_device_is_assigned_to_a_bar_measure_only(centre: Centre) -> None:
    """Detection reads a protected person's device in a BAR measure only: given to another
    case, it was saved and then read by nothing."""
    world = build(centre)
    supervisor = centre.headers("supervisor")
    made = centre.client.post(
        "/api/devices", json={"id": "PX1", "kind": "protected_device"}, headers=supervisor
    )
    assert made.status_code == 201, made.text
    refused = centre.client.post(
        f"/api/placements/{world.placement}/devices",
        json={"device_id": "PX1", "role": "protected"},
        headers=supervisor,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "role" and "BAR" in refused.json()["message"]
    taken = centre.client.post(
        f"/api/placements/{world.bar_placement}/devices",
        json={"device_id": "PX1", "role": "protected"},
        headers=supervisor,
    )
    assert taken.status_code == 201, taken.text


def test_her_places_with_one_id_twice_are_refused_without_their_positions(
    centre: Centre,
) -> None:
    world = build(centre)
    places = [{"id": "home", "lat": 45.01, "lon": 4.01}, {"id": "home", "lat": 45.02, "lon": 4.02}]
    form = _form(
        world,
        "bar",
        make.bar_law(),
        protected_person_id=world.victim,
        alert_distance_km=2,
        protected_places=places,
    )
    answer = centre.client.post("/api/placements", json=form, headers=centre.headers("supervisor"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "protected_places"
    assert "45.0" not in answer.text and "4.0" not in answer.text


def test_a_circle_detection_cannot_read_is_refused_when_saved(centre: Centre) -> None:
    """The API's zone check read `"radius_m": true` as 1 m and `"lat": "45"` as a number, which
    detection refuses: the zone was saved, and the case then watched by nothing."""
    world = build(centre)
    supervisor = centre.headers("supervisor")
    for geometry, field in (
        ({"type": "circle", "lat": 45.0, "lon": 5.0, "radius_m": True}, "radius_m"),
        ({"type": "circle", "lat": "45", "lon": 5.0, "radius_m": 100}, "geometry"),
    ):
        answer = centre.client.put(
            f"/api/placements/{world.placement}/zones/Q",
            json={"id": "Q", "type": "exclusion", "geometry": geometry},
            headers=supervisor,
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"].startswith("zones[Q].geometry")
        assert answer.json()["field"].endswith(field)
    with centre.db.session() as session:
        assert [z.key for z in session.get_one(Placement, world.placement).zones] == []

"""One case cannot be made large enough to slow the watching of every other: the API took any
number of windows, zones, places and vertices the 8 MB body held (a PATCH with 5,000 windows
was 200; a zone of 200,000 vertices took a second to check and 1.6 ms of detection a fix).
Beyond bounds no order needs, it answers 422 naming the list, and writes nothing."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, select

from tests.api.world import build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie.cases import placements
from vigie.cases.forms import MAX_PLACES, MAX_WINDOWS, MAX_ZONES
from vigie.cases.geometry import MAX_CASE_VERTICES, MAX_ZONE_VERTICES, vertex_count
from vigie.store.models import Placement, Zone


def _windows(count: int) -> list[dict[str, str]]:
    """`count` ten-minute windows on Mondays, none overlapping (at most 144)."""
    out = []
    for k in range(count):
        start, end = 10 * k, 10 * k + 10
        out.append(
            {
                "days": "mon",
                "from": f"{start // 60:02d}:{start % 60:02d}",
                "to": f"{end // 60:02d}:{end % 60:02d}",
            }
        )
    return out


def _ring(vertices: int, lat: float = 45.05, lon: float = 5.0) -> dict[str, Any]:
    """A GeoJSON polygon of `vertices` positions (its closing one counted), 300 m across."""
    points = [
        [
            lon + 0.002 * math.cos(2 * math.pi * k / (vertices - 1)),
            lat + 0.0015 * math.sin(2 * math.pi * k / (vertices - 1)),
        ]
        for k in range(vertices - 1)
    ]
    return {"type": "Polygon", "coordinates": [[*points, points[0]]]}


def _revision(centre: Centre, placement_id: int) -> int:
    with centre.db.session() as session:
        return session.get_one(Placement, placement_id).revision


def test_too_many_windows_are_refused_on_create_and_change(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    with centre.db.session() as session:
        before = session.scalar(select(func.count()).select_from(Placement))
        form = make.placement_form(session.get_one(Placement, world.placement).person, _Who(world))
    body = form.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["case_ref"] = "SIZES1"
    made = centre.client.post(
        "/api/placements", json=body | {"schedule": _windows(MAX_WINDOWS + 1)}, headers=supervisor
    )
    assert made.status_code == 422, made.text
    assert made.json()["field"] == "schedule"
    assert f"at most {MAX_WINDOWS} items" in made.json()["message"]
    with centre.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Placement)) == before
    # At the bound, the same form is taken: the bound is not below what it says.
    made = centre.client.post(
        "/api/placements", json=body | {"schedule": _windows(MAX_WINDOWS)}, headers=supervisor
    )
    assert made.status_code == 201, made.text

    revision = _revision(centre, world.placement)
    for change in (
        {"schedule": _windows(MAX_WINDOWS + 1)},
        {"schedule": [{"days": "mon-fri", "from": "20:00", "to": "07:00"}] * 5000},
    ):
        answer = centre.client.patch(
            f"/api/placements/{world.placement}", json=change, headers=supervisor
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "schedule"
    assert _revision(centre, world.placement) == revision
    # A zone's own hours are bounded alike.
    zone = {"id": "Z1", "type": "exclusion", "geometry": make.square(45.05, 5.0, 0.003)}
    answer = centre.client.put(
        f"/api/placements/{world.placement}/zones/Z1",
        json=zone | {"schedule": _windows(MAX_WINDOWS + 1)},
        headers=supervisor,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "schedule"


def test_too_many_places_are_refused_without_a_position_in_the_answer(centre: Centre) -> None:
    world = build(centre)
    places = [
        {"id": f"P{k}", "lat": 45.123456 + k * 1e-3, "lon": 4.654321} for k in range(MAX_PLACES + 1)
    ]
    revision = _revision(centre, world.bar_placement)
    answer = centre.client.patch(
        f"/api/placements/{world.bar_placement}",
        json={"protected_places": places},
        headers=centre.headers("supervisor"),
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "protected_places"
    assert "45.12" not in answer.text and "4.65" not in answer.text
    assert _revision(centre, world.bar_placement) == revision


def test_a_zone_with_too_many_vertices_is_refused_before_it_is_read(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    url = f"/api/placements/{world.placement}/zones/Q"
    big = {"id": "Q", "type": "exclusion", "geometry": _ring(MAX_ZONE_VERTICES + 1)}
    for path in (url, f"/api/console/placements/{world.placement}/zones/check"):
        answer = centre.client.request(
            "PUT" if path == url else "POST", path, json=big, headers=supervisor
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "zones[Q].geometry"
        assert (
            f"at most {MAX_ZONE_VERTICES} vertices, not {MAX_ZONE_VERTICES + 1}"
            in (answer.json()["message"])
        )
    with centre.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Zone)) == 0
    at_bound = {"id": "Q", "type": "exclusion", "geometry": _ring(MAX_ZONE_VERTICES)}
    assert centre.client.put(url, json=at_bound, headers=supervisor).status_code == 200


def test_a_case_holds_a_bounded_number_of_zones_and_vertices(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    with centre.db.session() as session:
        wearer = session.get_one(Placement, world.placement).person
        zones = [
            {
                "id": f"Z{k}",
                "type": "exclusion",
                "geometry": make.square(45.0 + k * 0.01, 5.0, 0.002),
            }
            for k in range(MAX_ZONES)
        ]
        full = placements.create(
            session, make.placement_form(wearer, _Who(world), case_ref="FULL", zones=zones), "t"
        ).id
    # One more zone is refused, one put in place of another taken (the count is the case's).
    extra = {"id": "Z999", "type": "exclusion", "geometry": make.square(46.5, 5.0, 0.002)}
    answer = centre.client.put(f"/api/placements/{full}/zones/Z999", json=extra, headers=supervisor)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "zones"
    assert f"at most {MAX_ZONES} zones" in answer.json()["message"]
    replaced = centre.client.put(
        f"/api/placements/{full}/zones/Z0", json=extra | {"id": "Z0"}, headers=supervisor
    )
    assert replaced.status_code == 200, replaced.text

    # Zones each under the bound, together over the case's.
    each = MAX_ZONE_VERTICES - 1
    count = MAX_CASE_VERTICES // each + 1
    url = f"/api/placements/{world.placement}/zones"
    for k in range(count - 1):
        zone = {"id": f"R{k}", "type": "exclusion", "geometry": _ring(each, lat=45.0 + 0.01 * k)}
        answer = centre.client.put(f"{url}/R{k}", json=zone, headers=supervisor)
        assert answer.status_code == 200, answer.text
    last = {"id": "RX", "type": "exclusion", "geometry": _ring(each, lat=46.0)}
    answer = centre.client.put(f"{url}/RX", json=last, headers=supervisor)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "zones"
    assert f"at most {MAX_CASE_VERTICES} vertices in all" in answer.json()["message"]
    with centre.db.session() as session:
        keys = session.scalars(select(Zone.key).where(Zone.placement_id == world.placement)).all()
    assert "RX" not in keys and len(keys) == count - 1


def test_vertices_are_counted_in_every_ring_and_part() -> None:
    square = make.square(45.0, 5.0, 0.01)
    assert vertex_count(square) == 5
    holed = {"type": "Polygon", "coordinates": square["coordinates"] * 2}
    assert vertex_count(holed) == 10
    multi = {"type": "MultiPolygon", "coordinates": [holed["coordinates"], square["coordinates"]]}
    assert vertex_count(multi) == 15
    assert vertex_count({"type": "circle", "lat": 45.0, "lon": 5.0, "radius_m": 100}) == 0
    # What is not GeoJSON is left to the shape's own check, not a crash here.
    assert vertex_count({"type": "Polygon", "coordinates": "nope"}) == 0
    assert vertex_count({"type": "Polygon", "coordinates": [[], [[]]]}) == 0


class _Who:
    """The world's contacts as `make.placement_form` reads them."""

    def __init__(self, world: Any) -> None:
        self._ids = {f"{role}_id": world.contacts[role] for role in ("judge", "prosecutor", "spip")}

    def ids(self) -> dict[str, int]:
        return self._ids

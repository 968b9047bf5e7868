"""The zone editor's server side: a new zone may not take the id of an existing one (check and
save agree), and the BAR's alert distance changes only with the law facts that fix it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.api.world import World, build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie.store.models import Placement, Zone


def _zone(zone_id: str, lat_shift: float = 0.05) -> dict[str, Any]:
    geometry = make.square(make.HOME[0] + lat_shift, make.HOME[1], 0.003)
    return {"id": zone_id, "type": "exclusion", "geometry": geometry}


def test_a_new_zone_under_a_used_id_is_refused_by_check_and_save(centre: Centre) -> None:
    world = build(centre)
    base = f"/api/placements/{world.placement}/zones"
    check = f"/api/console/placements/{world.placement}/zones/check"
    supervisor = centre.headers("supervisor")
    create_only = supervisor | {"If-None-Match": "*"}
    first = centre.client.put(f"{base}/gare", json=_zone("gare"), headers=create_only)
    assert first.status_code == 200, first.text
    # The editor's check of a new zone, and its save, both refuse the id now in use.
    checked = centre.client.post(f"{check}?new=true", json=_zone("gare", 0.06), headers=supervisor)
    assert checked.status_code == 409
    assert checked.json()["error"] == "zone_exists" and checked.json()["field"] == "id"
    again = centre.client.put(f"{base}/gare", json=_zone("gare", 0.06), headers=create_only)
    assert again.status_code == 409 and again.json()["field"] == "id"
    with centre.db.session() as session:
        kept = session.scalars(select(Zone).where(Zone.key == "gare")).one()
        assert kept.geometry == _zone("gare")["geometry"]  # the first zone, untouched
    # Editing the zone (no create-only) still replaces it, and a check without `new` passes.
    assert (
        centre.client.post(check, json=_zone("gare", 0.06), headers=supervisor).status_code == 200
    )
    edited = centre.client.put(f"{base}/gare", json=_zone("gare", 0.06), headers=supervisor)
    assert edited.status_code == 200


def _bar(world: World) -> str:
    return f"/api/console/placements/{world.bar_placement}/bar"


def test_the_alert_distance_changes_with_its_law_facts(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    facts = centre.client.get(_bar(world), headers=supervisor).json()
    assert facts["alert_distance_km"] == 2 and facts["relationship"] == "spouse"
    changed = centre.client.post(
        _bar(world), json=facts | {"alert_distance_km": 3}, headers=supervisor
    )
    assert changed.status_code == 200, changed.text
    with centre.db.session() as session:
        placement = session.get_one(Placement, world.bar_placement)
        assert placement.alert_distance_km == 3
        assert placement.law_input["facts"]["alert_distance_km"] == 3  # one distance, not two
        assert placement.law_input["as_of"] == "2026-11-23"  # the rest of the case kept


def test_a_distance_the_law_refuses_changes_nothing(centre: Centre) -> None:
    world = build(centre)
    supervisor = centre.headers("supervisor")
    facts = centre.client.get(_bar(world), headers=supervisor).json()
    refused = centre.client.post(
        _bar(world), json=facts | {"alert_distance_km": 12}, headers=supervisor
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "alert_distance_km"  # as the form names it
    no_consent = centre.client.post(
        _bar(world), json=facts | {"victim_consent": False}, headers=supervisor
    )
    assert no_consent.status_code == 422, no_consent.text
    # Alone, through the placement's PATCH, the distance still may not leave its facts behind.
    alone = centre.client.patch(
        f"/api/placements/{world.bar_placement}", json={"alert_distance_km": 3}, headers=supervisor
    )
    assert alone.status_code == 422 and alone.json()["field"] == "alert_distance_km"
    with centre.db.session() as session:
        placement = session.get_one(Placement, world.bar_placement)
        assert placement.alert_distance_km == 2
        assert placement.law_input["facts"]["victim_consent"] is True


def test_only_who_sets_cases_up_uses_the_bar_form(centre: Centre) -> None:
    world = build(centre)
    for role in ("operator", "judge", "spip", "prosecutor"):
        assert centre.client.get(_bar(world), headers=centre.headers(role)).status_code == 403
    facts = centre.client.get(_bar(world), headers=centre.headers("supervisor")).json()
    missing = {k: v for k, v in facts.items() if k != "relationship"}
    answer = centre.client.post(_bar(world), json=missing, headers=centre.headers("supervisor"))
    assert answer.status_code == 422 and "relationship" in answer.text
    ddse = centre.client.get(
        f"/api/console/placements/{world.placement}/bar", headers=centre.headers("supervisor")
    )
    assert ddse.status_code == 422 and ddse.json()["field"] == "alert_distance_km"

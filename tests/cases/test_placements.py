"""Placements ask the law first; its refusals, dates and trace travel with the case."""

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.cases import factories as make
from vigie.cases import CaseRefused, placements
from vigie.cases.forms import PlacementChange, RenewalIn, ZoneIn
from vigie.store import Database
from vigie.store.models import LawAssessment, Placement


def test_create_stores_decision_trace_and_deadlines(db: Database) -> None:
    with db.session() as session:
        wearer, who = make.person(session), make.contacts(session)
        placement = placements.create(session, make.placement_form(wearer, who), "clerk")
        assert placement.case_ref == f"V{placement.id:06d}"
        assert placement.law_decision["outcome"] == "eligible"
        assert any(step["held"] for step in placement.law_decision["trace"])
        deadlines = {d.name: d.due for d in placement.deadlines}
        assert deadlines["sentence_end"] == date(2027, 5, 20)
        assert placement.end_date == date(2027, 5, 20)
        assert placement.schedule == [{"days": "mon-fri", "from": "20:00", "to": "07:00"}]


def test_law_refusal_is_reported_with_reasons_and_nothing_written(db: Database) -> None:
    with db.session() as session:
        wearer, victim, who = (
            make.person(session),
            make.person(session, "Durand"),
            make.contacts(session),
        )
    form = make.placement_form(
        wearer, who, "bar", protected_person_id=victim.id, law=make.bar_law(consent=False)
    )
    with pytest.raises(CaseRefused) as refused, db.session() as session:
        placements.create(session, form, "clerk")
    assert "the law refuses" in refused.value.message
    assert any("138-3" in reason for reason in refused.value.reasons)
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Placement)) == 0


def test_invalid_law_input_names_the_field(db: Database) -> None:
    with db.session() as session:
        wearer, victim, who = (
            make.person(session),
            make.person(session, "Durand"),
            make.contacts(session),
        )
        form = make.placement_form(
            wearer, who, "bar", protected_person_id=victim.id, law=make.bar_law(alert_km=12)
        )
        with pytest.raises(CaseRefused) as refused:
            placements.create(session, form, "clerk")
    assert refused.value.field == "law.facts.alert_distance_km"


def test_bar_alert_distance_feeds_law_and_detection(db: Database) -> None:
    with db.session() as session:
        wearer, victim, who = (
            make.person(session),
            make.person(session, "Durand"),
            make.contacts(session),
        )
        law = make.bar_law()
        del law["facts"]["alert_distance_km"]
        form = make.placement_form(
            wearer, who, "bar", protected_person_id=victim.id, law=law, alert_distance_km=3
        )
        placement = placements.create(session, form, "clerk")
        assert placement.law_decision["figures"]["pre_alert_distance_km"] == 6
        assert placement.alert_distance_km == 3.0


def test_zone_containing_home_is_refused_on_create(db: Database) -> None:
    zone = {"id": "Z1", "type": "exclusion", "geometry": make.square(*make.HOME, 0.01)}
    with db.session() as session:
        wearer, who = make.person(session), make.contacts(session)
        with pytest.raises(CaseRefused, match="home is inside his own exclusion zone") as refused:
            placements.create(session, make.placement_form(wearer, who, zones=[zone]), "clerk")
    assert refused.value.field == "zones[Z1]"


def test_renew_arse_counts_the_renewal_and_moves_the_term(db: Database) -> None:
    with db.session() as session:
        wearer, who = make.person(session), make.contacts(session)
        placement = placements.create(session, make.placement_form(wearer, who, "arse"), "clerk")
        assert placement.end_date == date(2026, 9, 10)
        law_input = dict(placement.law_input)
        law_input["as_of"] = "2026-09-01"
        placement.law_input = law_input
        renewed = placements.renew(session, placement, RenewalIn(), "clerk")
        assert renewed.law_input["facts"]["renewals_so_far"] == 1
        assert renewed.end_date == date(2027, 3, 10)
        reasons = session.scalars(
            select(LawAssessment.reason).where(LawAssessment.placement_id == placement.id)
        ).all()
        assert sorted(reasons) == ["create", "renew"]


def test_change_refused_by_law_leaves_placement_unchanged(db: Database) -> None:
    with db.session() as session:
        wearer, victim, who = (
            make.person(session),
            make.person(session, "Durand"),
            make.contacts(session),
        )
        form = make.placement_form(wearer, who, "bar", protected_person_id=victim.id)
        placement_id = placements.create(session, form, "clerk").id
    with pytest.raises(CaseRefused), db.session() as session:
        placement = session.get_one(Placement, placement_id)
        placements.change(session, placement, PlacementChange(alert_distance_km=11), "clerk")
    with db.session() as session:
        placement = session.get_one(Placement, placement_id)
        assert placement.alert_distance_km == 2.0 and placement.revision == 1


def test_protected_place_inside_inclusion_zone_is_refused(db: Database) -> None:
    with db.session() as session:
        wearer, victim, who = (
            make.person(session),
            make.person(session, "Durand"),
            make.contacts(session),
        )
        form = make.placement_form(
            wearer,
            who,
            "bar",
            protected_person_id=victim.id,
            protected_places=[{"id": "work", "lat": 45.76, "lon": 4.84}],
        )
        placement = placements.create(session, form, "clerk")
        inclusion = ZoneIn(id="city", type="inclusion", geometry=make.square(45.76, 4.84, 0.05))
        with pytest.raises(CaseRefused, match="protected place 'work' is inside"):
            placements.put_zone(session, placement, inclusion, "clerk")

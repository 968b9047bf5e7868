"""Placements: created, renewed and changed only with the law's decision, stored with its trace."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigie import clock
from vigie.cases import legal
from vigie.cases.access import placements_visible_to
from vigie.cases.detection import check_watchable, zone_record
from vigie.cases.ending import refuse_if_ended
from vigie.cases.errors import CaseNotFound, CaseRefused
from vigie.cases.forms import PlacementChange, PlacementIn, RenewalIn, ZoneIn, check_end
from vigie.cases.geometry import check_sizes, check_zones
from vigie.cases.people import contact_of_role
from vigie.cluster.partitions import partition_of
from vigie.settings import settings
from vigie.store import audit
from vigie.store.models import Deadline, LawAssessment, Person, Placement, User, Zone
from vigie.store.unique import refused_if_taken


def create(session: Session, form: PlacementIn, actor: str) -> Placement:
    """A new placement, if the law allows it and its obligations hold together."""
    person = _person(session, form.person_id, "person_id")
    protected = (
        _person(session, form.protected_person_id, "protected_person_id")
        if form.protected_person_id is not None
        else None
    )
    for field, role in (
        ("judge_id", "judge"),
        ("prosecutor_id", "prosecutor"),
        ("spip_id", "spip"),
    ):
        contact_of_role(session, getattr(form, field), role, field)
    if (
        form.case_ref
        and session.scalars(select(Placement.id).where(Placement.case_ref == form.case_ref)).first()
    ):
        raise CaseRefused(f"case {form.case_ref!r} already exists", "case_ref")
    law_input = dict(form.law)
    alert_km = _bar_obligations(form.measure, form.alert_distance_km, law_input, protected)
    places = [p.model_dump(exclude_none=True) for p in form.protected_places]
    zones = [_zone_dict(z) for z in form.zones]
    _check_unique_zone_ids(zones)
    check_sizes(zones)
    check_zones(zones, _home(person), places)
    decision = legal.assess(legal.law_case(form.measure, law_input, person))
    dates = legal.deadlines(decision)
    placement = Placement(
        case_ref=form.case_ref or f"pending-{clock.now().timestamp()}",
        person_id=person.id,
        protected_person_id=protected.id if protected else None,
        measure=form.measure,
        court_order_ref=form.court_order_ref,
        court_order_date=form.court_order_date,
        start_date=form.start_date,
        end_date=form.end_date or _default_end(dates),
        judge_id=form.judge_id,
        prosecutor_id=form.prosecutor_id,
        spip_id=form.spip_id,
        police_station=form.police_station,
        police_phone=form.police_phone,
        status="active",
        law_input=law_input,
        law_decision=decision,
        schedule=[w.record() for w in form.schedule],
        alert_distance_km=alert_km,
        protected_places=places,
        grace_s=form.grace_s,
        signal_timeout_s=form.signal_timeout_s,
        revision=1,
    )
    session.add(placement)
    taken = CaseRefused(f"case {form.case_ref!r} already exists", "case_ref")
    with refused_if_taken("uq_placements_case_ref", taken):
        session.flush()
    if not form.case_ref:
        placement.case_ref = _generated_ref(session, placement.id)
    placement.partition = partition_of(placement.case_ref, settings().partitions)
    check_watchable(placement, [_watched(z) for z in zones])
    for zone in zones:
        session.add(_zone_row(placement.id, zone))
    _record_decision(session, placement, "create", decision, dates)
    audit.record(
        session,
        actor,
        "create",
        f"placement:{placement.id}",
        {"case": placement.case_ref, "measure": form.measure, "outcome": decision["outcome"]},
    )
    session.flush()
    session.refresh(placement)
    return placement


def _generated_ref(session: Session, placement_id: int) -> str:
    """`V<id>`, unless a case imported before such references were refused at import holds it
    (every case opened after then failed on SQLite, which gives the same id again): `V<id>.2`."""
    base = ref = f"V{placement_id:06d}"
    taken = 1
    while session.scalars(select(Placement.id).where(Placement.case_ref == ref)).first():
        taken += 1
        ref = f"{base}.{taken}"
    return ref


def renew(session: Session, placement: Placement, form: RenewalIn, actor: str) -> Placement:
    """Renew a placement: the law is asked again with the facts of the renewal."""
    refuse_if_ended(placement)
    if form.end_date is not None:
        _check_end(placement, form.end_date)
    law_input = dict(placement.law_input)
    facts = dict(law_input.get("facts", {}))
    if placement.measure == "arse" and "renewals_so_far" not in form.law_facts:
        facts["renewals_so_far"] = int(facts.get("renewals_so_far", 0)) + 1
    facts.update(form.law_facts)
    law_input["facts"] = facts
    law_input.pop("as_of", None)  # a renewal is assessed on the day it is made
    decision = legal.assess(legal.law_case(placement.measure, law_input, placement.person))
    dates = legal.deadlines(decision)
    placement.law_input = law_input
    placement.law_decision = decision
    placement.end_date = form.end_date or _default_end(dates) or placement.end_date
    _bump(placement)
    _record_decision(session, placement, "renew", decision, dates)
    audit.record(
        session,
        actor,
        "renew",
        f"placement:{placement.id}",
        {"outcome": decision["outcome"], "end_date": str(placement.end_date)},
    )
    session.flush()
    session.refresh(placement)
    return placement


def change(session: Session, placement: Placement, form: PlacementChange, actor: str) -> Placement:
    """Change obligations; the law is asked again, zones are re-checked, nothing half-applied."""
    refuse_if_ended(placement)
    if form.end_date is not None:
        _check_end(placement, form.end_date)
    law_input = dict(form.law) if form.law is not None else dict(placement.law_input)
    alert_km = form.alert_distance_km if form.alert_distance_km is not None else None
    if placement.measure == "bar":
        alert_km = _bar_obligations(
            "bar", alert_km or placement.alert_distance_km, law_input, placement.protected_person
        )
    places = (
        [p.model_dump(exclude_none=True) for p in form.protected_places]
        if form.protected_places is not None
        else placement.protected_places
    )
    check_zones([_zone_of(z) for z in placement.zones], _home(placement.person), places)
    decision = legal.assess(legal.law_case(placement.measure, law_input, placement.person))
    dates = legal.deadlines(decision)
    placement.law_input = law_input
    placement.law_decision = decision
    placement.protected_places = places
    if alert_km is not None:
        placement.alert_distance_km = alert_km
    if form.schedule is not None:
        placement.schedule = [w.record() for w in form.schedule]
    if form.end_date is not None:
        placement.end_date = form.end_date
    for name in ("grace_s", "signal_timeout_s", "police_station", "police_phone"):
        if getattr(form, name) is not None:
            setattr(placement, name, getattr(form, name))
    check_watchable(placement, [_zone_of(z) for z in placement.zones])
    _bump(placement)
    _record_decision(session, placement, "change", decision, dates)
    audit.record(
        session,
        actor,
        "change",
        f"placement:{placement.id}",
        {"fields": sorted(form.model_dump(exclude_unset=True))},
    )
    session.flush()
    session.refresh(placement)
    return placement


def put_zone(session: Session, placement: Placement, form: ZoneIn, actor: str) -> Zone:
    """Add or replace one zone of a placement, checked against the case before it is saved."""
    zones = check_zone(placement, form)
    row = next((z for z in placement.zones if z.key == form.id), None)
    if row is None:
        row = _zone_row(placement.id, zones[form.id])
        session.add(row)
    else:
        row.type, row.geometry, row.schedule, row.label = (
            form.type,
            form.geometry,
            zones[form.id]["schedule"],
            form.label,
        )
    _bump(placement)
    session.flush()
    audit.record(session, actor, "put_zone", f"placement:{placement.id}", {"zone": form.id})
    return row


def check_zone(placement: Placement, form: ZoneIn) -> dict[str, dict[str, Any]]:
    """The case's zones with `form` put in, by id, or CaseRefused: what `put_zone` checks, which
    the zone editor's dry run asks too (so that its check and its save agree)."""
    refuse_if_ended(placement)
    zones = {z.key: _zone_of(z) for z in placement.zones}
    zones[form.id] = _zone_dict(form)
    check_sizes(list(zones.values()))
    check_zones(list(zones.values()), _home(placement.person), placement.protected_places)
    check_watchable(placement, [_watched(z) for z in zones.values()])
    return zones


def delete_zone(session: Session, placement: Placement, zone_key: str, actor: str) -> None:
    refuse_if_ended(placement)
    row = next((z for z in placement.zones if z.key == zone_key), None)
    if row is None:
        raise CaseNotFound("zone", zone_key)
    session.delete(row)
    _bump(placement)
    session.flush()
    audit.record(session, actor, "delete_zone", f"placement:{placement.id}", {"zone": zone_key})


def visible(session: Session, user: User) -> list[Placement]:
    return list(
        session.scalars(select(Placement).where(placements_visible_to(user)).order_by(Placement.id))
    )


def _person(session: Session, person_id: int, field: str) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise CaseRefused(f"person {person_id} does not exist", field)
    return person


def _bar_obligations(
    measure: str, alert_km: float | None, law_input: dict[str, Any], protected: Person | None
) -> float | None:
    """A BAR needs a protected person and one alert distance, the same for the law and detection."""
    if measure != "bar":
        if alert_km is not None:
            raise CaseRefused("an alert distance applies to a BAR only", "alert_distance_km")
        return None
    if protected is None:
        raise CaseRefused("a BAR needs the protected person", "protected_person_id")
    facts = dict(law_input.get("facts", {}))
    stated = facts.get("alert_distance_km")
    if stated is None:
        if alert_km is None:
            raise CaseRefused("a BAR needs its alert distance", "alert_distance_km")
        distance = float(alert_km)
        # The law reads the distance from its facts: give it the one the placement states.
        facts["alert_distance_km"] = int(distance) if distance.is_integer() else distance
        law_input["facts"] = facts
        return distance
    if alert_km is not None and float(stated) != float(alert_km):
        raise CaseRefused(
            f"alert distance {alert_km} km differs from the law facts' {stated} km",
            "alert_distance_km",
        )
    return float(stated)


def _check_end(placement: Placement, end: date) -> None:
    try:
        check_end(placement.start_date, end)
    except ValueError as exc:
        raise CaseRefused(str(exc), "end_date") from None


def _home(person: Person) -> tuple[float, float] | None:
    if person.home_lat is None or person.home_lon is None:
        return None
    return person.home_lat, person.home_lon


def _zone_dict(form: ZoneIn) -> dict[str, Any]:
    return {
        "id": form.id,
        "type": form.type,
        "geometry": form.geometry,
        "schedule": [w.record() for w in form.schedule] if form.schedule is not None else None,
        "label": form.label,
    }


def _zone_of(row: Zone) -> dict[str, Any]:
    return zone_record(row.key, row.type, row.geometry, row.schedule)


def _watched(zone: dict[str, Any]) -> dict[str, Any]:
    """A zone as saved (`_zone_dict`), as detection reads it (no label)."""
    return zone_record(zone["id"], zone["type"], zone["geometry"], zone["schedule"])


def _zone_row(placement_id: int, zone: dict[str, Any]) -> Zone:
    return Zone(
        placement_id=placement_id,
        key=zone["id"],
        type=zone["type"],
        geometry=zone["geometry"],
        schedule=zone["schedule"],
        label=zone.get("label"),
    )


def _check_unique_zone_ids(zones: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for zone in zones:
        if zone["id"] in seen:
            raise CaseRefused(f"zone id {zone['id']!r} is used twice", f"zones[{zone['id']}].id")
        seen.add(zone["id"])


def _default_end(dates: dict[str, date]) -> date | None:
    for name in ("term_end", "sentence_end", "max_end"):
        if name in dates:
            return dates[name]
    return None


def _bump(placement: Placement) -> None:
    # The live pipeline re-reads a placement whose revision moved.
    placement.revision += 1
    placement.updated_at = clock.now()


def _record_decision(
    session: Session,
    placement: Placement,
    reason: str,
    decision: dict[str, Any],
    dates: dict[str, date],
) -> None:
    session.add(
        LawAssessment(
            placement_id=placement.id,
            reason=reason,
            input=placement.law_input,
            decision=decision,
        )
    )
    session.execute(delete(Deadline).where(Deadline.placement_id == placement.id))
    for name, due in sorted(dates.items()):
        session.add(Deadline(placement_id=placement.id, name=name, due=due))

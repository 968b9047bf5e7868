"""Who the operator calls for an alarm, and for BAR how far the wearer is from whom.

The wearer's name, phone and address; the protected person's phone to the operator holding
her live BAR alarm only (`privacy.holds`; each showing and each withholding audited); the
SPIP officer, the judge and the police station of the case. For BAR, the nearest target and
its distance, rounded for anyone but the holder as every other BAR distance is (privacy).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from vigie.alarms import privacy
from vigie.alarms.obligations import BAR_KINDS
from vigie.store import audit
from vigie.store.models import Alarm, Contact, Person, Placement, User

# Why the protected person's phone is not shown (the console words each code).
NOT_BAR = "not_bar"
NOT_HOLDER = "not_holder"


def _name(person: Person) -> str:
    return f"{person.last_name.upper()} {person.first_name}"


def _contact(contact: Contact) -> dict[str, Any]:
    return {
        "name": contact.name,
        "service": contact.service,
        "phone": contact.phone,
        "email": contact.email,
    }


def nearest_target(alarm: Alarm) -> dict[str, Any] | None:
    """The BAR target nearest the wearer by each target's latest event (the raise if none)."""
    latest: dict[str, dict[str, Any]] = {}
    for event in alarm.events:
        target = event.detail.get("target")
        if isinstance(target, str) and isinstance(event.detail.get("distance_m"), int | float):
            latest[target] = event.detail
    if not latest and isinstance(alarm.detail.get("distance_m"), int | float):
        latest[str(alarm.detail.get("target", ""))] = alarm.detail
    if not latest:
        return None
    detail = min(latest.values(), key=lambda d: float(d["distance_m"]))
    return {
        "target": detail.get("target"),
        "target_kind": detail.get("target_kind", "device"),
        "distance_m": detail["distance_m"],
    }


def callsheet(session: Session, alarm: Alarm, user: User) -> dict[str, Any]:
    """The people to call for this alarm as `user` may read them; the reads are audited."""
    placement = session.get(Placement, alarm.placement_id) if alarm.placement_id else None
    held = privacy.holds(user, alarm)
    out: dict[str, Any] = {
        "alarm_id": alarm.id,
        "holding": held,
        "wearer": None,
        "protected": None,
        "spip": None,
        "judge": None,
        "police": None,
        "target": None,
    }
    if placement is not None:
        wearer = placement.person
        out |= {
            "wearer": {"name": _name(wearer), "phone": wearer.phone, "address": wearer.address},
            "spip": _contact(placement.spip),
            "judge": _contact(placement.judge),
            "police": {"station": placement.police_station, "phone": placement.police_phone}
            if placement.police_station or placement.police_phone
            else None,
        }
        victim = placement.protected_person
        if victim is not None:
            out["protected"] = _protected(session, alarm, user, victim, held)
    audit.record(session, user.username, "read_contacts", f"alarm:{alarm.id}")
    if alarm.kind in BAR_KINDS:
        out["target"] = _target(alarm, held)
    return out


def _protected(
    session: Session, alarm: Alarm, user: User, victim: Person, held: bool
) -> dict[str, Any]:
    """Her name for all; her phone to the holder of this live BAR alarm (audited either way)."""
    shown: dict[str, Any] = {"name": _name(victim), "phone": None, "withheld": None}
    target = f"person:{victim.id}"
    if held:
        shown["phone"] = victim.phone
        audit.record(session, user.username, "read_protected_phone", target, {"alarm": alarm.id})
        return shown
    shown["withheld"] = NOT_BAR if alarm.kind not in BAR_KINDS else NOT_HOLDER
    audit.record(
        session,
        user.username,
        "protected_phone_withheld",
        target,
        {"alarm": alarm.id, "why": shown["withheld"]},
    )
    return shown


def _target(alarm: Alarm, held: bool) -> dict[str, Any] | None:
    nearest = nearest_target(alarm)
    if nearest is None:
        return None
    if held:
        return nearest | {"rounded_to_m": None}
    shared = privacy.shared_detail(alarm.kind, nearest, located=False)
    return shared | {"rounded_to_m": shared.pop("distance_rounded_to_m", None)}

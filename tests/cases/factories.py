"""Small factories for case fixtures: a person, the three contacts, a placement form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from vigie.cases import people
from vigie.cases.forms import ContactIn, PersonIn, PlacementIn
from vigie.store.models import Contact, Person

HOME = (48.8566, 2.3522)  # lat, lon: Paris


@dataclass
class Contacts:
    judge: Contact
    prosecutor: Contact
    spip: Contact

    def ids(self) -> dict[str, int]:
        return {
            "judge_id": self.judge.id,
            "prosecutor_id": self.prosecutor.id,
            "spip_id": self.spip.id,
        }


def person(session: Session, last_name: str = "Martin", **fields: Any) -> Person:
    form = PersonIn(
        last_name=last_name,
        first_name=fields.pop("first_name", "Paul"),
        birth_date=fields.pop("birth_date", date(1990, 1, 1)),
        home_lat=fields.pop("home_lat", HOME[0]),
        home_lon=fields.pop("home_lon", HOME[1]),
        **fields,
    )
    return people.create_person(session, form, "test")


def contacts(session: Session, users: dict[str, int] | None = None) -> Contacts:
    users = users or {}
    made = {
        role: people.create_contact(
            session,
            ContactIn(
                role=role,
                name=f"{role.title()} Dupont",
                email=f"{role}@justice.test",
                user_id=users.get(role),
            ),
            "test",
        )
        for role in ("judge", "prosecutor", "spip")
    }
    return Contacts(**made)


def square(lat: float, lon: float, half_deg: float) -> dict[str, Any]:
    """A GeoJSON square around (lat, lon)."""
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def ddse_law(**facts: Any) -> dict[str, Any]:
    return {
        "as_of": "2026-11-23",
        "committal_date": "2026-11-20",
        "sentences": [{"quantum": "P6M", "category": "delit", "recidivism": False, "offences": []}],
        "facts": {"as_adjustment": True, **facts},
    }


def bar_law(alert_km: int = 2, consent: bool = True) -> dict[str, Any]:
    return {
        "as_of": "2026-11-23",
        "facts": {
            "under_judicial_supervision": True,
            "victim_consent": consent,
            "incurred_years": 5,
            "relationship": "spouse",
            "alert_distance_km": alert_km,
        },
    }


def arse_law() -> dict[str, Any]:
    return {
        "as_of": "2026-03-10",
        "facts": {
            "mis_en_examen": True,
            "consent_with_lawyer": True,
            "spip_check_done": True,
            "incurred_years": 3,
            "order_date": "2026-03-10",
            "renewals_so_far": 0,
            "mobile": False,
            "ssj_incurred": False,
        },
    }


def placement_form(
    wearer: Person, who: Contacts, measure: str = "ddse", **fields: Any
) -> PlacementIn:
    law = {"ddse": ddse_law, "bar": bar_law, "arse": arse_law}[measure]()
    data: dict[str, Any] = {
        "person_id": wearer.id,
        "measure": measure,
        "court_order_ref": "JAP-2026-0042",
        "court_order_date": "2026-11-20",
        "start_date": "2026-11-23",
        "law": law,
        **who.ids(),
    }
    if measure in ("ddse", "arse"):
        data["schedule"] = [{"days": "mon-fri", "from": "20:00", "to": "07:00"}]
    data.update(fields)
    return PlacementIn.model_validate(data)

"""The BAR's alert distance with the law facts that fix it, as one form (R24-18).

The distance is a term of the court order, checked by the law (bounds, pre-alert at twice the
distance): changing it alone would leave the law's facts saying another distance. The form
posts both; the case service asks the law again and refuses the change whole if it fails.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from vigie.alarms import privacy
from vigie.api.deps import DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.cases import CaseRefused, placements
from vigie.cases.access import visible_placement
from vigie.cases.forms import PlacementChange
from vigie.law.case import Relationship  # the law's own list: the form offers no other
from vigie.store.bounds import RowId
from vigie.store.models import Placement, User

router = APIRouter(
    prefix="/api/console", tags=["console"], include_in_schema=False, route_class=BoundedJsonRoute
)
CaseSetUp = Annotated[User, Depends(allow("supervisor", "admin"))]


class BarFacts(BaseModel):
    """What the law reads to allow a BAR and fix its distances (CPP 138-3, R24-14, R24-18)."""

    model_config = ConfigDict(extra="forbid")
    alert_distance_km: float = Field(gt=0, le=100)
    under_judicial_supervision: bool
    victim_consent: bool
    incurred_years: int = Field(ge=0, le=100)
    relationship: Relationship


def _facts(placement: Placement) -> dict[str, Any]:
    facts = dict(placement.law_input.get("facts", {}))
    return {name: facts.get(name) for name in BarFacts.model_fields} | {
        "alert_distance_km": placement.alert_distance_km
    }


def _bar(session: Any, user: User, placement_id: int, *, lock: bool = False) -> Placement:
    placement = visible_placement(session, user, placement_id, lock=lock)
    if placement.measure != "bar":
        raise CaseRefused("an alert distance applies to a BAR only", "alert_distance_km")
    return placement


@router.get("/placements/{placement_id}/bar")
def bar_facts(placement_id: RowId, db: DatabaseDep, user: CaseSetUp) -> dict[str, Any]:
    with db.session() as session:
        return _facts(_bar(session, user, placement_id))


@router.post("/placements/{placement_id}/bar")
def change_bar(
    placement_id: RowId, body: BarFacts, db: DatabaseDep, user: CaseSetUp
) -> dict[str, Any]:
    """The distance and the facts together; the law asked again, all or nothing."""
    target = f"placement:{placement_id}"
    with privacy.zone_probe_audited(db, user, target), db.session() as session:
        placement = _bar(session, user, placement_id, lock=True)
        law = dict(placement.law_input)
        facts = body.model_dump()
        distance = body.alert_distance_km
        facts["alert_distance_km"] = int(distance) if distance.is_integer() else distance
        law["facts"] = dict(law.get("facts", {})) | facts
        change = PlacementChange(law=law, alert_distance_km=body.alert_distance_km)
        try:
            placements.change(session, placement, change, user.username)
        except CaseRefused as exc:  # named as the form names it: `law.facts.x` is field `x`
            field = (exc.field or "").removeprefix("law.facts.")
            raise CaseRefused(exc.message, field, exc.reasons) from exc
        return _facts(placement)

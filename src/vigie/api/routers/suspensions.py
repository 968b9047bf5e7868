"""Alert suspensions for a known absence (see `vigie.alarms.suspensions` for what they do)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from vigie import clock
from vigie.alarms import suspensions
from vigie.api.deps import CASE_READERS, DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.cases import CaseNotFound
from vigie.cases.access import visible_placement
from vigie.store import audit
from vigie.store.bounds import Instant, Prose, RowId
from vigie.store.models import AlertSuspension, User

router = APIRouter(prefix="/api", tags=["cases"], route_class=BoundedJsonRoute)
Reader = Annotated[User, Depends(allow(*CASE_READERS, "admin"))]
# The supervisor decides that an absence is known (the court's or the hospital's word).
Supervisor = Annotated[User, Depends(allow("supervisor"))]


class SuspensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Literal["hospital", "hearing", "other"]
    note: Prose = Field(min_length=1, max_length=2000)
    starts_at: Instant
    ends_at: Instant


@router.get("/placements/{placement_id}/suspensions")
def list_suspensions(placement_id: RowId, db: DatabaseDep, user: Reader) -> list[dict[str, Any]]:
    now = clock.now()
    with db.session() as session:
        # Audited first (a write opening the transaction waits its turn; see web.activity).
        audit.record(session, user.username, "read_suspensions", f"placement:{placement_id}")
        placement = visible_placement(session, user, placement_id)
        return [suspensions.summary(s, now) for s in suspensions.of_case(session, placement.id)]


@router.post("/placements/{placement_id}/suspensions", status_code=201)
def add_suspension(
    placement_id: RowId, body: SuspensionIn, db: DatabaseDep, user: Supervisor
) -> dict[str, Any]:
    """Record a known absence (hospital, hearing) for a period; audited. Alarms raised within
    it are still raised and listed, marked `known_absence`, neither sounded nor escalated;
    never a BAR alert or pre-alert, an SOS or a tamper."""
    now = clock.now()
    with db.session() as session:
        placement = visible_placement(session, user, placement_id)
        made = suspensions.create(
            session,
            placement,
            body.reason,
            body.note,
            body.starts_at,
            body.ends_at,
            user.username,
            now,
        )
        return suspensions.summary(made, now)


@router.post("/suspensions/{suspension_id}/end")
def end_suspension(suspension_id: RowId, db: DatabaseDep, user: Supervisor) -> dict[str, Any]:
    """End a suspension before its end time (the wearer is back); audited."""
    now = clock.now()
    with db.session() as session:
        found = session.get(AlertSuspension, suspension_id)
        if found is None:
            raise CaseNotFound("suspension", suspension_id)
        suspensions.end(session, found, user.username, now)
        return suspensions.summary(found, now)

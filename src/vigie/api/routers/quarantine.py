"""The quarantine (admin): stored observations detection will not run, and why.

Nothing in it is deleted: the observation stays in the log as the device (or integration) sent
it, for the admin to find the faulty device or sender. Coordinates are left out of the list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from vigie.api.deps import DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit, quarantine
from vigie.store.bounds import Count
from vigie.store.models import User

router = APIRouter(prefix="/api/quarantine", tags=["quarantine"], route_class=BoundedJsonRoute)
Admin = Annotated[User, Depends(allow("admin"))]


class Quarantined(BaseModel):
    id: int
    device: str
    type: str
    t: datetime
    received_at: datetime
    field: str
    reason: str
    clock_fault: bool
    quarantined_at: datetime
    payload: dict[str, Any]


@router.get("")
def quarantined(
    db: DatabaseDep,
    user: Admin,
    after: Annotated[Count, Query(description="observation id to list after")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[Quarantined]:
    """Quarantined observations, oldest first (`after` pages on); the read is audited."""
    with db.session() as session:
        rows = [Quarantined(**row) for row in quarantine.listing(session, after, limit)]
        audit.record(session, user.username, "read", "quarantine", {"after": after})
    return rows

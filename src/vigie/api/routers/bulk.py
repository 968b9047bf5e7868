"""Acknowledging informational alarms together, with one note (see `vigie.alarms.bulk`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from vigie import clock
from vigie.alarms import AlarmNotFound, bulk
from vigie.api.deps import CENTRE, DatabaseDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.api.routers.alarms import alarm_out, shade_of, visible_alarm
from vigie.store.bounds import Prose, RowId
from vigie.store.models import User

router = APIRouter(prefix="/api/alarms", tags=["alarms"], route_class=BoundedJsonRoute)
Worker = Annotated[User, Depends(allow(*CENTRE))]


class BulkAcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[RowId] = Field(min_length=1, max_length=500)
    note: Prose = Field(min_length=1, max_length=4000)


@router.post("/acknowledge-many")
def acknowledge_many(
    body: BulkAcknowledgeIn, db: DatabaseDep, user: Worker
) -> list[dict[str, Any]]:
    """Acknowledge open signal-lost, low-battery and mains alarms together, each with the note.

    Any other kind, or an alarm no longer open, refuses the whole batch (422, in French,
    naming the alarm); nothing is acknowledged then."""
    ids = list(dict.fromkeys(body.ids))
    if not body.note.strip():
        raise ApiError(422, "refused", "la note est vide : dites ce qui a été vérifié", "note")
    with db.session() as session:
        found = {}
        for alarm_id in sorted(ids):  # locked in one order: two batches never wait on each other
            try:
                found[alarm_id] = visible_alarm(session, user, alarm_id, lock=True)
            except AlarmNotFound as missing:
                field = f"ids[{body.ids.index(alarm_id)}]"
                raise ApiError(404, "not_found", str(missing), field, alarm_id=alarm_id) from None
        alarms = [found[alarm_id] for alarm_id in ids]
        try:
            bulk.acknowledge(session, alarms, user, body.note.strip(), clock.now())
        except bulk.BulkRefused as refused:
            raise ApiError(
                422,
                "refused",
                refused.message,
                f"ids[{body.ids.index(refused.alarm_id)}]",
                alarm_id=refused.alarm_id,
            ) from refused
        shade = shade_of(session, alarms)
        return [alarm_out(a, user, shade) for a in alarms]

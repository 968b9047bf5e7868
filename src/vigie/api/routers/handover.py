"""The shift handover log (see `vigie.alarms.handover`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from vigie import clock
from vigie.alarms import handover
from vigie.api.deps import CENTRE, DatabaseDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.store import audit
from vigie.store.bounds import Prose, RowId
from vigie.store.models import HandoverNote, User

router = APIRouter(prefix="/api/handover", tags=["handover"], route_class=BoundedJsonRoute)
Worker = Annotated[User, Depends(allow(*CENTRE))]


class HandoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Prose = Field(min_length=1, max_length=8000)


@router.post("", status_code=201)
def write_note(body: HandoverIn, db: DatabaseDep, user: Worker) -> dict[str, Any]:
    """The outgoing operator's log for the next shift; audited."""
    if not body.text.strip():
        raise ApiError(422, "refused", "text is blank", "text")
    with db.session() as session:
        return handover.summary(session, handover.write(session, user, body.text, clock.now()))


@router.get("")
def recent_notes(db: DatabaseDep, user: Worker) -> list[dict[str, Any]]:
    """The last day's notes, newest first, with who has read each."""
    with db.session() as session:
        audit.record(session, user.username, "read", "handover")  # first: see web.activity
        return [handover.summary(session, n) for n in handover.recent(session, clock.now())]


@router.get("/pending")
def pending_notes(db: DatabaseDep, user: Worker) -> list[dict[str, Any]]:
    """Others' notes of the last day this user has not acknowledged: shown at login."""
    with db.reading() as session:
        found = handover.pending(session, user, clock.now())
        notes = [handover.summary(session, n) for n in found]
    if notes:
        with db.session() as session:
            ids = [n["id"] for n in notes]
            audit.record(session, user.username, "read", "handover", {"ids": ids})
    return notes


@router.post("/{note_id}/read")
def acknowledge_note(note_id: RowId, db: DatabaseDep, user: Worker) -> dict[str, Any]:
    """This user has read the note (recorded once, audited)."""
    with db.session() as session:
        try:
            handover.acknowledge(session, user, note_id, clock.now())
        except LookupError as missing:
            raise ApiError(404, "not_found", str(missing)) from missing
        except handover.OwnNote as own:
            raise ApiError(409, "conflict", str(own), "note_id") from own
        note = session.get_one(HandoverNote, note_id)
        return handover.summary(session, note)

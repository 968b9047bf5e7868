"""Reports the outbox could not deliver: listed for supervisors, with a resend (audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from vigie import clock
from vigie.alarms import outbox
from vigie.api.deps import DatabaseDep, SettingsDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.store.bounds import RowId
from vigie.store.models import OutboxMessage, User

router = APIRouter(prefix="/api/outbox", tags=["reports"], route_class=BoundedJsonRoute)
Supervisor = Annotated[User, Depends(allow("supervisor"))]


def _view(message: OutboxMessage, about: outbox.Undelivered | None = None) -> dict[str, Any]:
    """A message; with `about`, what its report is of: an alarm's incident report (`alarm_id`)
    or a measure's summary (`placement_id`), and the case."""
    return {
        "id": message.id,
        "report_id": message.report_id,
        "kind": None if about is None else ("incident" if about.alarm_id else "summary"),
        "alarm_id": about.alarm_id if about else None,
        "placement_id": about.placement_id if about else None,
        "case": about.case_ref if about else None,
        "recipient_role": message.recipient_role,
        "recipient": message.recipient,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "created_at": message.created_at,
        "next_attempt_at": message.next_attempt_at,
        "sent_at": message.sent_at,
    }


@router.get("/undelivered")
def undelivered(db: DatabaseDep, config: SettingsDep, _user: Supervisor) -> list[dict[str, Any]]:
    """Reports the outbox gave up on after its last attempt, oldest first."""
    with db.reading() as session:
        return [
            _view(u.message, u) for u in outbox.undelivered(session, config.outbox_max_attempts)
        ]


@router.post("/{message_id}/resend")
def resend(message_id: RowId, db: DatabaseDep, user: Supervisor) -> dict[str, Any]:
    """Try a report again now, with a fresh count of attempts; audited under the supervisor."""
    with db.session() as session:
        try:
            message = outbox.resend(session, message_id, user.username, clock.now())
        except outbox.AlreadyDelivered as exc:
            raise ApiError(409, "conflict", str(exc)) from exc
        if message is None:
            raise ApiError(404, "not_found", f"no outbox message {message_id}")
        return _view(message)

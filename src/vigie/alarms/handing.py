"""Handing a taken alarm to another operator: the end of a shift, a holder called away.

A taken alarm is held by one operator (`Alarm.held_by`), and on a BAR alarm or her SOS he alone
reads where the protected person is (`privacy.holds`). A holder who left in the middle of one
(his shift over, taken ill) left it in his name: the next operator could log actions and close
it but not become its holder, so during a long BAR alert nobody on duty could locate her.

Its holder hands it to an operator, or a supervisor does for a holder who has gone, giving the
reason. The new holder reads her position from then, the old one no longer. Logged on the alarm
(its report tells who handed it to whom, and why) and audited; a refused attempt is audited too.
The first take (`acknowledged_by`, `acknowledged_at`) stays what it was.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from vigie.alarms.errors import AlarmStateError
from vigie.alarms.imported import refuse_imported
from vigie.alarms.returned import HELD
from vigie.store import audit
from vigie.store.models import Alarm, AlarmAction, User

HANDED = "hand_over"  # logged on the alarm: the actor, the new holder (`to_user_id`), the reason
# Her position is the holding operator's alone (`privacy.holds`): an alarm goes to an operator.
TO_ROLE = "operator"


class HandOverRefused(Exception):
    """The caller may not hand this alarm over: neither its holder nor a supervisor (the
    caller audits the refusal, in a transaction of its own that this one's rollback spares)."""


def may_hand_over(user: User, alarm: Alarm) -> bool:
    """Its holder, or a supervisor (for a holder who has gone without handing it over)."""
    return user.role == "supervisor" or (user.role == TO_ROLE and alarm.held_by == user.id)


def _on_duty() -> Select[User]:
    """The active operators: whom an alarm may go to."""
    return select(User).where(User.role == TO_ROLE, User.active.is_(True))


def candidates(session: Session, alarm: Alarm) -> list[User]:
    """The operators it may go to: active, not its holder; by name."""
    query = _on_duty()
    if alarm.held_by is not None:
        query = query.where(User.id != alarm.held_by)
    return list(session.scalars(query.order_by(User.username)))


class NotAnOperator(ValueError):
    """The name given is not an active operator's (the API answers 422 naming the field)."""

    field = "to"


def hand_over(
    session: Session, alarm: Alarm, user: User, to_name: str, reason: str, now: datetime
) -> AlarmAction:
    """`user` hands the taken `alarm` to the active operator named `to_name`: its holder from
    now. Refused in this order: an imported or untaken alarm (409), a caller neither its
    holder nor a supervisor (`HandOverRefused`), a name not an active operator's, its holder's."""
    refuse_imported(alarm)
    if alarm.status not in HELD:
        raise AlarmStateError(
            f"alarm {alarm.id} is {alarm.status}; only a taken alarm is handed over "
            "(an open one is acknowledged by whoever answers)"
        )
    if not may_hand_over(user, alarm):
        raise HandOverRefused(
            "only the operator holding this alarm, or a supervisor, hands it over"
        )
    to = session.scalars(_on_duty().where(User.username == to_name)).one_or_none()
    if to is None:
        raise NotAnOperator(f"{to_name!r} is not an active operator: an alarm goes to one")
    if to.id == alarm.held_by:
        raise AlarmStateError(f"{to.username} holds alarm {alarm.id} already")
    holder_before = alarm.held_by
    alarm.held_by = to.id
    entry = AlarmAction(
        alarm_id=alarm.id, at=now, user_id=user.id, action=HANDED, note=reason, to_user_id=to.id
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        user.username,
        HANDED,
        f"alarm:{alarm.id}",
        {"to": to.username, "holder_before": holder_before, "reason": reason},
    )
    return entry

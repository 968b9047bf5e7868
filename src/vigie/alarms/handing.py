"""Handing a taken alarm to another operator: the end of a shift, a holder called away.

A taken alarm is held by one operator (`Alarm.held_by`), and on a BAR alarm or her SOS he alone
reads where the protected person is (`privacy.holds`). A holder who left in the middle of one
(his shift over, taken ill) left it in his name: the next operator could log actions and close
it but not become its holder, so during a long BAR alert nobody on duty could locate her.

Its holder hands it to an operator, or a supervisor does for a holder who has gone, giving the
reason. The new holder reads her position from then, the old one no longer. Logged on the alarm
(its report tells who handed it to whom, and why) and audited; a refused attempt is audited too.
The first take (`acknowledged_by`, `acknowledged_at`) stays what it was.

A hand-over must reach him wherever he is in the console: a taken alarm sounds nowhere, so one
handed to him on another page went unnoticed, a BAR alert included. Until he says he has it
(`take_over`, or any action of his on it), it is his to answer (`awaiting`): his alarm bar
shows and sounds it as an alarm to take. If he does not within its delay (the alarm's
escalation delay), it is released to whoever is on duty (`unanswered`, as for a holder gone:
`holder_gone`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from vigie.alarms import delays, holder_gone, returned
from vigie.alarms.errors import AlarmStateError
from vigie.alarms.imported import RAISED_HERE, refuse_imported
from vigie.alarms.returned import HELD, RETAKEN, RETAKEN_RELEASED
from vigie.store import audit
from vigie.store.models import Alarm, AlarmAction, User

HANDED = "hand_over"  # logged on the alarm: the actor, the new holder (`to_user_id`), the reason
TAKEN_OVER = "take_over"  # logged on the alarm: the new holder has it (the hand-over answered)
# The actions that change who holds a taken alarm. The latest of them, or of its holder's own
# actions (a call, a note: working it, he has it), tells whether a hand-over waits.
HOLDER_CHANGES = (HANDED, TAKEN_OVER, RETAKEN, RETAKEN_RELEASED, *holder_gone.WHY)
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


def waiting_hand_over(alarm: Alarm) -> AlarmAction | None:
    """The hand-over its holder has not answered yet (`take_over`, or any action of his on
    it), if any."""
    changes = [a for a in alarm.actions if a.action in HOLDER_CHANGES or a.user_id == alarm.held_by]
    last = changes[-1] if changes else None  # the actions are in id order
    if (
        alarm.status in HELD
        and alarm.imported_from is None
        and last is not None
        and last.action == HANDED
        and last.to_user_id == alarm.held_by
    ):
        return last
    return None


def _latest(column: Any) -> ScalarSelect[Any]:
    """`column` of the alarm's latest holder change or action of its holder (correlated to
    `Alarm`)."""
    return (
        select(column)
        .where(
            AlarmAction.alarm_id == Alarm.id,
            or_(AlarmAction.action.in_(HOLDER_CHANGES), AlarmAction.user_id == Alarm.held_by),
        )
        .order_by(AlarmAction.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def awaiting() -> ColumnElement[bool]:
    """`waiting_hand_over` in SQL: taken here, last handed to its holder, not answered."""
    return and_(
        RAISED_HERE,
        Alarm.status.in_(HELD),
        _latest(AlarmAction.action) == HANDED,
        _latest(AlarmAction.to_user_id) == Alarm.held_by,
    )


def take_over(session: Session, alarm: Alarm, user: User, now: datetime) -> AlarmAction:
    """`user`, its new holder, says he has the alarm handed to him: it stops sounding for him."""
    refuse_imported(alarm)
    handed = waiting_hand_over(alarm)
    if handed is None or alarm.held_by != user.id:
        raise AlarmStateError(
            f"alarm {alarm.id} waits for no take-over of yours: only the operator it was "
            "handed to, while it is his, takes it over"
        )
    if alarm.raised_again_at is not None:
        # Handed while to take again (its situation came back, or a supervisor gave a released
        # one to him): he has seen it, so his take-over is its take again, logged as one.
        returned.retake(session, alarm, user, now)
    entry = AlarmAction(alarm_id=alarm.id, at=now, user_id=user.id, action=TAKEN_OVER)
    session.add(entry)
    session.flush()
    audit.record(
        session,
        user.username,
        TAKEN_OVER,
        f"alarm:{alarm.id}",
        {"handed_by": handed.user_id, "waited_s": (now - handed.at).total_seconds()},
    )
    return entry


def unanswered(
    session: Session,
    now: datetime,
    after_s: float,
    factors: Mapping[int, float],
    partition: int | None,
) -> list[Alarm]:
    """Release to whoever is on duty the alarms handed over and not taken over within their
    delay (`escalate_overdue`'s): its new holder has not heard it, nobody else would have."""
    query = _unanswered_query(tuple(sorted(factors)), partition is not None)
    stale = list(session.scalars(query, delays.due_times(now, after_s, factors, partition)))
    for alarm in stale:
        holder_gone.release_one(session, alarm, holder_gone.UNANSWERED, "system", now)
    return stale


@functools.cache
def _unanswered_query(priorities: tuple[int, ...], by_partition: bool) -> Select[Alarm]:
    """Made once, run with the times bound (detection looks every second)."""
    query = select(Alarm).where(awaiting(), delays.past(_latest(AlarmAction.at), priorities))
    if by_partition:
        query = query.where(Alarm.partition == bindparam("partition"))
    # One being taken over at this moment (its row locked) is left to the next look.
    return query.order_by(Alarm.id).with_for_update(skip_locked=True)

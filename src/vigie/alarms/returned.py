"""A taken alarm whose situation comes back is to be taken again.

An alarm stays one episode from its raise until an operator closes it (`episodes.fold`): a
breach that ends and begins again before the close folds into it. Open, it sounds until it is
taken and escalates if it waits. Taken, it sounded nowhere: an operator who took a zone or BAR
alarm, saw the wearer leave and moved on (end of shift, another alarm) did not hear him come
back hours later, and nobody else did either: the queue row's figures changed, nothing more.

So the fold marks such a return (`mark`: a raise into a taken alarm after its condition ended,
or any new press of an SOS, which detection never ends): from then the alarm is to be taken
again (`to_take`): every console's alarm bar sounds for it as for an open one, and escalation
flags it to the supervisor if nobody takes it again within its delay (`escalate`, counted from
the return). Taking it again (`retake`, the same "acknowledge" request) makes the operator who
answers its holder (hers to locate, on a BAR alarm, from then on), and is logged on the alarm,
so the incident report tells the return, who took it again and when. A close is refused until
then: nobody closes a situation that came back without having seen that it did. A taken alarm
whose holder has gone (logged out, disabled, his console silent) comes back the same way
(`holder_gone`), its reason kept (`raised_again_why`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select
from sqlalchemy.orm import Session

from vigie.alarms import delays, suspensions
from vigie.alarms.errors import AlarmStateError
from vigie.alarms.imported import RAISED_HERE
from vigie.detect.sos import SOS_KINDS
from vigie.store import audit
from vigie.store.models import Alarm, AlarmAction, User

HELD = ("acknowledged", "in_progress")
# Logged on the alarm (its actions), so its report keeps them: the operator's take again, and
# the supervisor alerted when nobody took it again in time (a system entry: no user).
RETAKEN = "acknowledge_again"
ESCALATED = "escalate_again"
# The same two for an alarm released because its holder had gone (`holder_gone`).
RETAKEN_RELEASED = "acknowledge_released"
ESCALATED_RELEASED = "escalate_released"
SYSTEM_ACTIONS = frozenset({ESCALATED, ESCALATED_RELEASED})


def mark(alarm: Alarm, now: datetime) -> None:
    """Before a `raised` event folds into `alarm`: if it is taken and its condition had ended
    (or it is an SOS, pressed again), it is to be taken again, from `now` (the first return
    not yet taken again counts: escalation's delay runs from it)."""
    if alarm.status not in HELD or alarm.raised_again_at is not None:
        return
    if alarm.cleared_at is not None or alarm.kind in SOS_KINDS:
        alarm.raised_again_at = now


def to_take(alarm: Alarm) -> bool:
    """Waiting for an operator: open, or taken and come back since. Never another centre's
    alarm imported with its case (its record, never worked here)."""
    if alarm.imported_from is not None:
        return False
    return alarm.status == "open" or alarm.raised_again_at is not None


def waiting() -> ColumnElement[bool]:
    """`to_take` in SQL. The live statuses first: the alarms not closed (a few hundred) come
    from the status index, where the `or_` alone scanned every alarm ever raised (SQLite's
    plan), at every change, for every console."""
    return and_(
        RAISED_HERE,
        Alarm.status.in_(("open", *HELD)),
        or_(Alarm.status == "open", Alarm.raised_again_at.is_not(None)),
    )


def escalated() -> ColumnElement[bool]:
    """Flagged to the supervisor: left open past its delay, or come back and not taken again
    within it (the supervisor's queue lists both)."""
    return or_(Alarm.escalated_at.is_not(None), Alarm.raised_again_escalated_at.is_not(None))


def retake(session: Session, alarm: Alarm, user: User, now: datetime) -> Alarm:
    """`user` takes again an alarm come back: its holder from now (the first take's time and
    the time to acknowledge it stay: the report keeps both takes)."""
    came_back = alarm.raised_again_at
    assert came_back is not None  # `workflow.acknowledge`'s; only a taken alarm is ever marked
    holder_before, why = alarm.held_by, alarm.raised_again_why
    action = RETAKEN if why is None else RETAKEN_RELEASED
    alarm.held_by = user.id
    alarm.raised_again_at = None
    alarm.raised_again_escalated_at = None
    alarm.raised_again_why = None
    session.add(AlarmAction(alarm_id=alarm.id, at=now, user_id=user.id, action=action))
    audit.record(
        session,
        user.username,
        action,
        f"alarm:{alarm.id}",
        {
            "time_to_acknowledge_s": (now - came_back).total_seconds(),
            "holder_before": holder_before,
        }
        | ({} if why is None else {"why": why}),
    )
    return alarm


def refuse_close(alarm: Alarm) -> None:
    """A close before the return is taken again would end what nobody has seen come back."""
    if alarm.raised_again_at is not None and alarm.status in HELD:
        raise AlarmStateError(
            f"alarm {alarm.id} came back after its condition ended: acknowledge it again "
            "before closing it"
        )


@functools.cache
def _late_query(priorities: tuple[int, ...], by_partition: bool) -> Select[Alarm]:
    """Returns not taken again past their priority's delay, not yet escalated (made once)."""
    query = select(Alarm).where(
        and_(
            Alarm.raised_again_at.is_not(None),
            Alarm.raised_again_escalated_at.is_(None),
            Alarm.status.in_(HELD),
            delays.past(Alarm.raised_again_at, priorities),
            RAISED_HERE,
        )
    )
    if by_partition:
        query = query.where(Alarm.partition == bindparam("partition"))
    # As escalation of the open ones: an alarm being taken again now is left to the next look.
    return query.order_by(Alarm.id).with_for_update(skip_locked=True)


def escalate(
    session: Session,
    now: datetime,
    after_s: float,
    factors: Mapping[int, float],
    partition: int | None,
) -> list[Alarm]:
    """Flag to the supervisor the returns nobody took again within their delay (never an
    alarm raised within a known absence, as for the open ones: `suspensions`)."""
    due = delays.due_times(now, after_s, factors, partition)
    query = _late_query(tuple(sorted(factors)), partition is not None)
    late = list(session.scalars(query, due))
    known = suspensions.known_absences(session, late)
    flagged = [a for a in late if a.id not in known]
    for alarm in flagged:
        assert alarm.raised_again_at is not None  # the query's
        alarm.raised_again_escalated_at = now
        action = ESCALATED if alarm.raised_again_why is None else ESCALATED_RELEASED
        session.add(AlarmAction(alarm_id=alarm.id, at=now, user_id=None, action=action))
        audit.record(
            session,
            "system",
            action,
            f"alarm:{alarm.id}",
            {"not_taken_again_for_s": (now - alarm.raised_again_at).total_seconds()},
        )
    return flagged


def summary(alarm: Alarm) -> dict[str, Any]:
    """What every reader of an alarm gets about a return."""
    return {
        # Taken, it came back (this time): to take again. None once taken again.
        "raised_again_at": alarm.raised_again_at,
        "raised_again_escalated": alarm.raised_again_escalated_at is not None,
        # Why: None, its situation came back; else its holder had gone (`holder_gone.WHY`).
        "raised_again_why": alarm.raised_again_why,
        "to_take": to_take(alarm),
    }

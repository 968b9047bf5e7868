"""A taken alarm whose holder has gone comes back to the queue, for whoever is on duty.

A taken alarm sounds nowhere: its holder works it. One who logged out at the end of his shift
without handing it over (`handing`), whose account was disabled, or whose console fell silent
(closed, crashed, his network lost) left it in his name: nobody was told, and on a BAR alert or
her SOS nobody on duty could locate her (her position is its holder's alone, `privacy.holds`).

So such an alarm is released: it has no holder any more and is to be taken again, as a taken
alarm whose situation came back (`returned`): every console's alarm bar sounds for it, escalation
flags it to the supervisor if nobody takes it within its delay, and the operator who takes it
becomes its holder. At once when he logs out or is disabled; when his console has said nothing
for `ABSENT_AFTER` while another one has (a server that nobody could reach releases nothing).
A holder who never opened a console (a program on the API) is never taken for absent.
Logged on the alarm (its report tells whose it was and why it came back) and audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.alarms.imported import RAISED_HERE
from vigie.alarms.returned import HELD
from vigie.store import audit
from vigie.store.models import Alarm, AlarmAction, User
from vigie.store.write_lock import hold_writer

LOGGED_OUT = "holder_logged_out"
DISABLED = "holder_disabled"
ABSENT = "holder_absent"
# Handed to him, and he did not say he had it within its delay (`handing.unanswered`).
UNANSWERED = "hand_over_unanswered"
# Why a taken alarm is to take again, other than its situation: `Alarm.raised_again_why`, and the
# action logged on it (a system entry: `to_user_id` is the holder who has gone).
WHY = (LOGGED_OUT, DISABLED, ABSENT, UNANSWERED)
# An open console says so every PRESENCE_S (`web.live`); silent this long, it has gone. Long
# enough for a console that reconnects (a server restarted, a network that dropped a while).
PRESENCE_S = 60.0
ABSENT_AFTER = timedelta(minutes=5)
# Another console heard within this: the centre was reachable, so a silent one has gone.
REACHABLE_WITHIN = timedelta(seconds=2 * PRESENCE_S)


def seen(session: Session, user_id: int, now: datetime) -> None:
    """The user's console is open now (its alarm stream)."""
    user = session.get(User, user_id)
    if user is not None:
        user.console_seen_at = now


def online(user: User, now: datetime) -> bool:
    """His console is open (heard within `ABSENT_AFTER`): one to hand an alarm to."""
    return user.console_seen_at is not None and user.console_seen_at >= now - ABSENT_AFTER


def release(
    session: Session,
    holder_id: int,
    why: str,
    actor: str,
    now: datetime,
    partition: int | None = None,
) -> list[Alarm]:
    """Release the alarms `holder_id` holds (of one detection partition, if given), for `why`:
    without a holder, to take again from `now` (a return of its situation not yet taken again
    keeps its time). `actor` is who is audited: the holder logging out, the admin, "system"."""
    assert why in WHY
    hold_writer(session)  # a take again or a hand-over at the same moment waits, then finds it
    query = select(Alarm).where(Alarm.held_by == holder_id, Alarm.status.in_(HELD), RAISED_HERE)
    if partition is not None:
        query = query.where(Alarm.partition == partition)
    released = list(session.scalars(query.order_by(Alarm.id).with_for_update()))
    for alarm in released:
        release_one(session, alarm, why, actor, now)
    return released


def release_one(session: Session, alarm: Alarm, why: str, actor: str, now: datetime) -> None:
    """`release` for one alarm (its row locked by the caller)."""
    assert why in WHY and alarm.held_by is not None
    holder = session.get(User, alarm.held_by)
    session.add(
        AlarmAction(alarm_id=alarm.id, at=now, user_id=None, to_user_id=alarm.held_by, action=why)
    )
    alarm.held_by = None
    if alarm.raised_again_at is None:
        alarm.raised_again_at = now
        alarm.raised_again_why = why
    name = holder.username if holder is not None else None
    audit.record(session, actor, "holder_gone", f"alarm:{alarm.id}", {"holder": name, "why": why})


def sweep(session: Session, now: datetime, partition: int | None = None) -> list[Alarm]:
    """Release the taken alarms whose holder has gone without a request saying so: his account
    disabled (any way), or his console silent for `ABSENT_AFTER` while another was heard."""
    holders = (
        select(Alarm.held_by, User.active)
        .join(User, User.id == Alarm.held_by)
        .where(Alarm.status.in_(HELD), RAISED_HERE)
        .distinct()
    )
    if partition is not None:
        holders = holders.where(Alarm.partition == partition)
    reachable = select(User.id).where(User.console_seen_at >= now - REACHABLE_WITHIN).limit(1)
    absent = User.console_seen_at < now - ABSENT_AFTER
    if session.scalar(reachable) is None:
        holders = holders.where(User.active.is_(False))
    else:
        holders = holders.where(User.active.is_(False) | absent)
    released: list[Alarm] = []
    for holder_id, active in session.execute(holders.order_by(Alarm.held_by)).all():
        assert holder_id is not None  # the join's
        why = ABSENT if active else DISABLED
        released += release(session, holder_id, why, "system", now, partition)
    return released

"""An alarm closed while its condition goes on is raised again.

Detection raises a condition once, when it begins, and clears it when it ends. An operator may
close its alarm before then (the police are on their way, the wearer says he is leaving): until
this module, nothing more came while the condition lasted, so a wearer who stayed in an
exclusion zone, or within the alert distance of the person he must not approach, was unseen
after that close.

The close marks such an alarm (`mark`: its kind is one detection clears, and it has not). Once
`VIGIE_ONGOING_REMIND_S` (times its priority's escalation factor) has passed since the close, a
detection step raises it again (`reminders`) as a new alarm saying since when it goes on and
which alarm was closed. Detection clearing the condition meanwhile, or raising it again itself,
unmarks it (`episodes.fold`). Made by the detection step in its transaction; not the engine's
own (`vigie replay` never makes it). The table, not memory, holds what is due, so a restarted
detector raises it on time, once.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session

from vigie.alarms import delays
from vigie.alarms.imported import RAISED_HERE
from vigie.detect.events import iso_of, ms_of
from vigie.store.listed import listed_in
from vigie.store.models import Alarm

# What detection raises and clears: its SOS is cleared by the close itself, the `unmonitored`
# alarm has its own reminder, the centre's and the clock's are the pipeline's own.
KINDS = frozenset(
    {
        "alert",
        "pre_alert",
        "tamper",
        "zone_entry",
        "zone_exit",
        "absence",
        "signal_lost",
        "power",
        "low_battery",
    }
)

Key = tuple[str, str, str]  # case, kind, device


def goes_on(alarm: Alarm) -> bool:
    """Whether closing it leaves a reminder due (live), or left one not yet raised (closed).
    Never for another centre's alarm imported with its case: its record, not watched here."""
    if alarm.imported_from is not None:
        return False
    if alarm.status == "closed":
        return bool(alarm.ongoing_when_closed)
    return alarm.kind in KINDS and alarm.cleared_at is None


def mark(alarm: Alarm) -> None:
    """At its close: whether its condition goes on (detection has not cleared it)."""
    alarm.ongoing_when_closed = goes_on(alarm)


def unmark(session: Session, keys: Iterable[Key]) -> None:
    """Detection cleared these conditions or raised them again itself: no reminder is due for
    an alarm of theirs closed before."""
    keys = sorted(set(keys))
    if not keys:
        return
    marked = session.execute(
        select(Alarm.id, Alarm.case_ref, Alarm.kind, Alarm.device).where(
            Alarm.ongoing_when_closed,
            listed_in(session, Alarm.case_ref, (case for case, _, _ in keys)),
        )
    ).all()
    wanted = set(keys)
    ids = [row.id for row in marked if (row.case_ref, row.kind, row.device) in wanted]
    if ids:
        session.execute(
            update(Alarm).where(listed_in(session, Alarm.id, ids)).values(ongoing_when_closed=False)
        )


@functools.cache
def _due_query(priorities: tuple[int, ...], by_partition: bool) -> Select[Alarm]:
    """Marked alarms closed before their priority's delay (made once: run every second)."""
    late_enough = delays.past(Alarm.closed_at, priorities)
    query = select(Alarm).where(Alarm.ongoing_when_closed, late_enough, RAISED_HERE)
    if by_partition:
        query = query.where(Alarm.partition == bindparam("partition"))
    return query.order_by(Alarm.id)


def reminders(
    session: Session,
    now: datetime,
    after_s: float,
    factors: Mapping[int, float],
    partition: int | None,
    step_events: Iterable[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The `raised` events of the marked alarms past their delay, unmarked. A condition this
    step's own events speak of is left to them (a clear ends it, a raise opens its alarm)."""
    due = delays.due_times(now, after_s, factors, partition)
    spoken = {(e["case"], e["kind"], e["device"]) for e in step_events}
    events: list[dict[str, Any]] = []
    reminded: list[int] = []
    for alarm in session.scalars(_due_query(tuple(sorted(factors)), partition is not None), due):
        if (alarm.case_ref, alarm.kind, alarm.device) in spoken:
            continue
        reminded.append(alarm.id)
        # Uncleared, its latest event is the raise the condition goes on from; a reminder's
        # own alarm carries the first one's start on.
        since = alarm.detail.get("ongoing_since") or iso_of(ms_of(alarm.last_event_at))
        detail = dict(alarm.detail) | {"ongoing_since": since, "closed_alarm": alarm.id}
        events.append(
            {
                "t": now,
                "case": alarm.case_ref,
                "kind": alarm.kind,
                "state": "raised",
                "device": alarm.device,
                "detail": detail,
            }
        )
    if reminded:
        session.execute(
            update(Alarm)
            .where(listed_in(session, Alarm.id, reminded))
            .values(ongoing_when_closed=False)
        )
    return events

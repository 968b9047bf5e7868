"""The end of a measure: the case stops being watched, its devices go free, its record stays.

A measure ends at its term or by the court's decision (lifted early, revoked, replaced by another
measure) or with the person. Until it is recorded, the centre goes on tracking someone with no
order behind it, and the bracelet taken off at the end raises a tamper and a loss of signal.
Recording it (a supervisor, audited) sets the status `ended` (an imported case keeps `imported`,
with its end); detection drops the case at its next step (it follows every change of status);
the devices' assignments close at the time the end took effect, so another case may take them.
Nothing else is removed or rewritten: the case's readings, alarms and reports stay, and an ended
placement refuses further changes (a new measure is a new placement). Alarms still open stay
open: an operator closes each (the answer counts them). The measure's summary is then owed to
the case's judge, prosecutor and SPIP (`vigie.alarms.summaries_owed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigie.alarms.imported import RAISED_HERE
from vigie.cases.errors import CaseRefused, MeasureEnded
from vigie.cases.forms import MeasureEndIn
from vigie.store import audit
from vigie.store.models import Alarm, DeviceAssignment, Placement, SummaryOwed

ENDED = "ended"
# What may end: a watched case, or one imported from another centre (not watched here, but its
# devices' open assignments keep them from any case here until it ends).
ENDABLE = ("active", "imported")
# How far back an end may take effect: the decision came in on Friday, recorded on Monday.
MAX_BACKDATE = timedelta(days=7)


@dataclass(frozen=True)
class Ended:
    released: list[str]  # the devices whose assignment it closed
    open_alarms: int  # its alarms not yet closed, each still an operator's to close
    summary_owed: bool  # its summary is to go to the judge, prosecutor and SPIP (ended here)


def refuse_if_ended(placement: Placement) -> None:
    """Refuse a change to a placement whose measure has ended (here, or in the centre that
    exported it: an imported case keeps its end)."""
    if placement.ended_at is not None:
        raise MeasureEnded(
            f"the measure of case {placement.case_ref} ended on "
            f"{placement.ended_at:%Y-%m-%d %H:%M} UTC: it is kept as it was; a new measure is "
            "a new placement",
            "placement",
        )


def end(
    session: Session, placement: Placement, form: MeasureEndIn, actor: str, now: datetime
) -> Ended:
    """Record the end of a placement's measure (checked first: nothing is half-written)."""
    refuse_if_ended(placement)
    if placement.status not in ENDABLE:
        raise CaseRefused(
            f"case {placement.case_ref} is {placement.status}: finish its import first", "placement"
        )
    if form.reason != "term" and not form.decision_ref:
        raise CaseRefused("decision_ref: name the decision that ends the measure", "decision_ref")
    if form.reason == "other" and not (form.note or "").strip():
        raise CaseRefused("note: say why the measure ends", "note")
    at = form.ended_at or now
    if at > now:
        raise CaseRefused(
            "ended_at is ahead of now: record the end once it has taken effect", "ended_at"
        )
    if at < now - MAX_BACKDATE:
        raise CaseRefused(f"ended_at may be at most {MAX_BACKDATE.days} days back", "ended_at")
    if at < placement.created_at:
        raise CaseRefused("ended_at is before the placement was created", "ended_at")
    open_assignments = list(
        session.scalars(
            select(DeviceAssignment)
            .where(DeviceAssignment.placement_id == placement.id, DeviceAssignment.until.is_(None))
            .order_by(DeviceAssignment.id)
        )
    )
    for assignment in open_assignments:
        if at < assignment.since:
            raise CaseRefused(
                f"ended_at is before device {assignment.device_id} was assigned "
                f"({assignment.since:%Y-%m-%d %H:%M} UTC)",
                "ended_at",
            )
    for assignment in open_assignments:
        assignment.until = at
    summary_owed = placement.status == "active"
    if summary_owed:  # an imported case stays `imported`: never watched here
        placement.status = ENDED
        # Its summary goes to the judge, the prosecutor and the SPIP (`summaries_owed`).
        session.add(SummaryOwed(placement_id=placement.id, since=now, next_attempt_at=now))
    placement.ended_at = at
    placement.end_reason = form.reason
    placement.end_ref = form.decision_ref
    placement.end_note = form.note.strip() if form.note else None
    placement.ended_by = actor
    placement.revision += 1
    placement.updated_at = now
    released = [a.device_id for a in open_assignments]
    open_alarms = session.scalar(
        select(func.count())
        .select_from(Alarm)
        .where(
            Alarm.placement_id == placement.id,
            Alarm.status != "closed",
            RAISED_HERE,  # this centre's to close, not another centre's record
        )
    )
    audit.record(
        session,
        actor,
        "end_measure",
        f"placement:{placement.id}",
        {
            "case": placement.case_ref,
            "reason": form.reason,
            "decision_ref": form.decision_ref,
            "ended_at": at.isoformat(),
            "released": released,
            "open_alarms": open_alarms,
        },
    )
    session.flush()
    return Ended(released, int(open_alarms or 0), summary_owed)

"""The measure's summary (bilan de la mesure): what a judge or an SPIP officer reads before a
hearing, at the end of a measure or on any day of it.

One page per case, in French like the incident reports: the order and its dates, how it ended
(when, why, on which decision), the devices worn and when, the alarms the centre raised on it
counted by kind and by how operators qualified them, and each incident with its report. Made
from the store when asked, never kept (the day's figures are the store's); the PDF as the
incident reports are made (WeasyPrint). Nothing in it locates anyone: no position, no zone, no
address, and of a BAR measure's protected person only that she exists.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigie.alarms.imported import RAISED_HERE
from vigie.alarms.narrative import KIND_LABELS, QUALIFICATION_LABELS, local_date, local_time
from vigie.alarms.report import render_pdf
from vigie.alarms.report import template as report_template
from vigie.law.decision import applied_articles
from vigie.law.params import french_citation
from vigie.store.models import Alarm, AlertSuspension, DeviceAssignment, Placement

END_REASONS = {
    "term": "terme de la mesure",
    "lifted": "mainlevée anticipée par le juge",
    "revoked": "retrait ou révocation",
    "converted": "remplacée par une autre mesure",
    "deceased": "décès de la personne",
    "other": "autre motif",
}
ROLES = {
    "wearer": "bracelet",
    "home_unit": "boîtier de domicile",
    "protected": "dispositif protégé",
}
MAX_INCIDENTS = 500  # listed one by one; beyond, the counts still hold them all


@dataclass(frozen=True, slots=True)
class Summary:
    html: str
    filename: str

    def pdf(self) -> bytes:
        return render_pdf(self.html)


def summarise(session: Session, placement: Placement, now: datetime) -> Summary:
    """The summary of `placement` as the store holds it at `now`."""
    alarms = list(
        session.scalars(
            select(Alarm)
            .where(Alarm.placement_id == placement.id, RAISED_HERE)
            .order_by(Alarm.raised_at, Alarm.id)
        )
    )
    imported = session.scalar(
        select(func.count())
        .select_from(Alarm)
        .where(Alarm.placement_id == placement.id, Alarm.imported_from.is_not(None))
    )
    by_kind: dict[str, Counter[str]] = {}
    for alarm in alarms:
        counts = by_kind.setdefault(alarm.kind, Counter())
        counts["raised"] += 1
        counts[(alarm.qualification or "") if alarm.status == "closed" else "open"] += 1
    kinds = [
        {"label": KIND_LABELS.get(kind, kind), "counts": counts}
        for kind, counts in sorted(by_kind.items(), key=lambda item: -item[1]["raised"])
    ]
    devices = [
        {
            "device": a.device_id,
            "role": ROLES.get(a.role, a.role),
            "since": a.since,
            "until": a.until,
        }
        for a in session.scalars(
            select(DeviceAssignment)
            .where(DeviceAssignment.placement_id == placement.id)
            .order_by(DeviceAssignment.since, DeviceAssignment.id)
        )
    ]
    absences = session.scalar(
        select(func.count())
        .select_from(AlertSuspension)
        .where(AlertSuspension.placement_id == placement.id)
    )
    html = report_template("measure_summary.html").render(
        placement=placement,
        person=placement.person,
        end_reason=END_REASONS.get(placement.end_reason or "", placement.end_reason),
        articles=[french_citation(a) for a in applied_articles(placement.law_decision)],
        devices=devices,
        kinds=kinds,
        qualifications=QUALIFICATION_LABELS,
        total=len(alarms),
        open_now=sum(1 for a in alarms if a.status != "closed"),
        incidents=[_incident(a) for a in alarms[-MAX_INCIDENTS:]],
        incidents_left_out=max(0, len(alarms) - MAX_INCIDENTS),
        imported=imported or 0,
        absences=absences or 0,
        local_time=local_time,
        local_date=local_date,
        generated_at=local_time(now),
    )
    return Summary(html, f"{file_stem(placement.case_ref)}.pdf")


def file_stem(case_ref: str) -> str:
    """The summary's file name, without extension, in a download or a mail's attachments: a
    reference from another centre's archive may hold what a header's filename cannot."""
    return f"bilan-{re.sub(r'[^A-Za-z0-9_.-]', '_', case_ref)}"


def _incident(alarm: Alarm) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "kind": KIND_LABELS.get(alarm.kind, alarm.kind),
        "raised_at": alarm.raised_at,
        "closed_at": alarm.closed_at,
        "qualification": QUALIFICATION_LABELS.get(alarm.qualification or "", "")
        if alarm.status == "closed"
        else "en cours de traitement",
    }

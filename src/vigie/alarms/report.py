"""The incident report on close: HTML (Jinja2) and PDF (WeasyPrint), kept in the store."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, Template, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.alarms import handing, holder_gone, ongoing, privacy, returned
from vigie.alarms.narrative import (
    KIND_LABELS,
    QUALIFICATION_LABELS,
    event_sentence,
    lapse,
    local_date,
    local_time,
)
from vigie.alarms.obligations import obligation_for
from vigie.alarms.workflow import time_to_acknowledge
from vigie.law.decision import applied_articles
from vigie.law.params import french_citation
from vigie.store import observations as log
from vigie.store.models import (
    Alarm,
    AlarmAction,
    AlarmEventRow,
    Placement,
    Report,
    User,
)

logger = logging.getLogger(__name__)
_env = Environment(
    loader=PackageLoader("vigie.alarms", "templates"), autoescape=select_autoescape(["html"])
)


def template(name: str) -> Template:
    """One of the centre's document templates (`vigie/alarms/templates`), autoescaped."""
    return _env.get_template(name)


ACTION_LABELS = {
    "call_wearer": "Appel de la personne placée",
    "call_protected": "Appel de la personne protégée",
    "police_alerted": "Forces de l'ordre alertées",
    "spip_informed": "SPIP informé",
    "note": "Note",
    "warn_wearer": "Avertissement de la personne placée (vibration du bracelet)",
    # A taken alarm whose situation came back (`returned`): taken again, or nobody did in time.
    returned.RETAKEN: "Reprise en compte de l'alarme, la situation étant revenue",
    returned.ESCALATED: "Faute de reprise en compte de la situation revenue, le superviseur est "
    "alerté",
    # A taken alarm whose holder had gone (`holder_gone`): taken up, or nobody did in time.
    returned.RETAKEN_RELEASED: "Prise en charge de l'alarme laissée par son opérateur",
    returned.ESCALATED_RELEASED: "Faute de prise en charge de l'alarme laissée par son "
    "opérateur, le superviseur est alerté",
    # The operator an alarm was handed to says he has it (`handing.take_over`).
    handing.TAKEN_OVER: "Prise en charge de l'alarme confiée",
}
# The system's entry when a holder has gone: whose it was (`to_user_id`), then why.
RELEASED_LABELS = {
    holder_gone.LOGGED_OUT: "{holder} s'est déconnecté sans confier l'alarme",
    holder_gone.DISABLED: "Le compte de {holder} est désactivé",
    holder_gone.ABSENT: "La console de {holder} ne répond plus",
    holder_gone.UNANSWERED: "{holder} n'a pas pris la suite de l'alarme qui lui était confiée",
}
RELEASED_THEN = " : elle est remise en attente d'un opérateur"
SYSTEM = "le centre (automatique)"  # an entry no operator made
# A call for help: the report says who called and when, never where she was (privacy).
SOS_CALLERS = {"sos": "La personne protégée", "wearer_sos": "La personne placée"}
# Positions reported: from a little before the alarm was raised until it was closed.
POSITION_MARGIN = timedelta(minutes=15)
MAX_POSITIONS = 200


def _by_system(action: AlarmAction) -> bool:
    return action.action in returned.SYSTEM_ACTIONS or action.action in holder_gone.WHY


def _label(action: AlarmAction, users: dict[int, str]) -> str:
    """An action's words in the report; a hand-over and a release name the operator concerned."""
    concerned = users.get(action.to_user_id or -1, "?")
    if action.action == handing.HANDED:
        return f"Alarme confiée à {concerned}"
    if action.action in RELEASED_LABELS:
        return RELEASED_LABELS[action.action].format(holder=concerned) + RELEASED_THEN
    return ACTION_LABELS.get(action.action, action.action)


def render_html(
    session: Session,
    alarm: Alarm,
    now: datetime,
    draft: tuple[str, str | None] | None = None,
) -> str:
    """The report's HTML; with `draft` (qualification, closing note), the preview an operator reads
    before closing: the alarm is left untouched, so a preview writes nothing."""
    qualification = draft[0] if draft else alarm.qualification
    closing_note = draft[1] if draft else alarm.closing_note
    placement = session.get(Placement, alarm.placement_id) if alarm.placement_id else None
    obligation, article = obligation_for(alarm.kind, placement.measure if placement else None)
    users = {u.id: u.username for u in session.scalars(select(User))}
    # A report goes to the judge, the prosecutor, the SPIP and by mail: never the holder's view.
    shade = privacy.blackout(session, [alarm.case_ref], now)
    # The chronology a judge reads: one French sentence per step, in Paris time.
    events = list(
        session.scalars(
            select(AlarmEventRow)
            .where(AlarmEventRow.alarm_id == alarm.id)
            .order_by(AlarmEventRow.t)
        )
    )
    timeline: list[dict[str, Any]] = [
        {
            "at": e.t,
            "what": event_sentence(
                e.kind,
                e.state,
                privacy.shared_detail(
                    e.kind, e.detail, not shade.hides(alarm.case_ref, alarm.device, e.t)
                ),
            ),
        }
        for e in events
    ]
    label = QUALIFICATION_LABELS.get(qualification or "", "?")
    timeline += [
        {"at": alarm.opened_at, "what": "L'alarme est ouverte au centre de surveillance."},
        {"at": alarm.escalated_at, "what": "Faute de prise en compte, le superviseur est alerté."},
        {"at": alarm.closed_at, "what": f"L'alarme est close, qualifiée « {label} »."},
    ]
    if alarm.acknowledged_at is not None:
        who = users.get(alarm.acknowledged_by or -1, "?")
        timeline.append({"at": alarm.acknowledged_at, "what": f"{who} prend l'alarme en compte."})
    actions = [
        {
            "at": a.at,
            "label": _label(a, users),
            "user": SYSTEM if _by_system(a) else users.get(a.user_id or -1, "?"),
            "system": _by_system(a),
            "note": a.note,
        }
        for a in session.scalars(
            select(AlarmAction).where(AlarmAction.alarm_id == alarm.id).order_by(AlarmAction.at)
        )
    ]
    timeline += [
        {
            "at": a["at"],
            "what": (f"{a['label']}" if a["system"] else f"{a['user']} : {a['label']}")
            + (f" — « {a['note']} »." if a["note"] else "."),
        }
        for a in actions
    ]
    # A step not taken yet (no acknowledgement, or not closed in a preview) is not in the timeline.
    timeline = sorted((row for row in timeline if row["at"] is not None), key=lambda r: r["at"])
    # Only a fix has a place: the device's fixes of the window, found by its minutes' spans.
    fixes = log.fixes(
        session,
        alarm.device,
        alarm.raised_at - POSITION_MARGIN,
        alarm.closed_at or now,
        limit=MAX_POSITIONS,
    )
    positions = [] if alarm.device in shade.devices else shade.visible(alarm.case_ref, fixes)
    presses = [local_time(e.t) for e in events if e.state == "raised"]
    return template("incident_report.html").render(
        sos_caller=SOS_CALLERS.get(alarm.kind),
        sos_presses=presses,
        alarm=alarm,
        placement=placement,
        person=placement.person if placement else None,
        obligation=obligation,
        article=article,
        case_articles=(
            [french_citation(a) for a in applied_articles(placement.law_decision)]
            if placement
            else []
        ),
        qualification_label=label,
        kind_label=KIND_LABELS.get(alarm.kind, alarm.kind),
        local_time=local_time,
        local_date=local_date,
        lapse=lapse,
        closing_note=closing_note,
        draft=draft is not None,
        ongoing=ongoing.goes_on(alarm),  # not ended: raised again if it lasts
        tta=time_to_acknowledge(alarm),
        timeline=timeline,
        positions=positions,
        positions_withheld=len(fixes) - len(positions),
        actions=actions,
        generated_at=local_time(now),
    )


def render_pdf(html: str) -> bytes:
    # Imported here: WeasyPrint loads Pango at import, which the API does not need until a close.
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf


@dataclass(frozen=True, slots=True)
class Prepared:
    """A report made before its alarm's close (the HTML of `workflow.as_closed`, rendered in a
    read, and its PDF): rendering the PDF takes a third of a second or more, and inside the
    close's transaction it held the audit chain's head (every audited request of the centre,
    the consoles' alarm lists among them, waited) and, on SQLite, the writer (every ingest and
    detection step waited)."""

    html: str
    pdf: bytes


def produce(
    session: Session, alarm: Alarm, now: datetime, prepared: Prepared | None = None
) -> Report:
    """Render and store the report of a closed alarm (kept downloadable). With `prepared`, its
    PDF is taken when the HTML rendered now is the same; else (the alarm changed meanwhile: an
    action, an event) the PDF is made again here."""
    html = render_html(session, alarm, now)
    if prepared is not None and prepared.html == html:
        pdf = prepared.pdf
    else:
        if prepared is not None:
            logger.info("alarm %s: its report changed since it was prepared", alarm.id)
        pdf = render_pdf(html)
    report = Report(alarm_id=alarm.id, created_at=now, html=html, pdf=pdf)
    session.add(report)
    session.flush()
    return report

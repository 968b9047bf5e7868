"""Alarms: the live queue, one alarm, the operator's workflow, the protected person's position."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from vigie import clock
from vigie.alarms import (
    AlarmNotFound,
    callsheet,
    handing,
    holder_gone,
    live_positions,
    outbox,
    privacy,
    queue_view,
    report,
    returned,
    suspensions,
    workflow,
)
from vigie.alarms.errors import AlarmStateError
from vigie.alarms.imported import RAISED_HERE
from vigie.alarms.obligations import is_centre_alarm
from vigie.alarms.privacy import Blackout, holds, protected_detail, public_detail, shared_detail
from vigie.api.deps import CASE_READERS, CENTRE, DatabaseDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.cases.access import visible_case_refs
from vigie.gateway import command_queue
from vigie.store import audit
from vigie.store.bounds import Count, Line, Prose, RowCursor, RowId
from vigie.store.models import Alarm, Report, User
from vigie.store.write_lock import hold_writer

router = APIRouter(prefix="/api/alarms", tags=["alarms"], route_class=BoundedJsonRoute)
Reader = Annotated[User, Depends(allow(*CASE_READERS))]
Worker = Annotated[User, Depends(allow(*CENTRE))]
HandedTo = Annotated[User, Depends(allow(handing.TO_ROLE))]  # whom an alarm is handed to
Status = Literal["open", "acknowledged", "in_progress", "closed"]


class ActionIn(BaseModel):
    action: Literal[
        "call_wearer", "call_protected", "police_alerted", "spip_informed", "note", "warn_wearer"
    ]
    note: Prose | None = Field(default=None, max_length=4000)


class HandOverIn(BaseModel):
    to: Line = Field(min_length=1, max_length=80, description="the operator's username")
    reason: Prose = Field(min_length=1, max_length=1000, description="why (told in the report)")

    @field_validator("reason")
    @classmethod
    def _said(cls, reason: str) -> str:
        if not reason.strip():
            raise ValueError("say why the alarm is handed over")
        return reason.strip()


class CloseIn(BaseModel):
    qualification: Literal["breach", "technical_fault", "false_alarm", "authorised_absence"]
    note: Prose | None = Field(default=None, max_length=4000)


def alarm_out(
    alarm: Alarm,
    user: User,
    shade: Blackout,
    names: Mapping[int, str] | None = None,
    extra: dict[str, Any] | None = None,
    known: Collection[int] = (),
) -> dict[str, Any]:
    """The alarm as `user` may read it: whole (but her position) for the holder of this live
    BAR alarm; for anyone else, distances rounded and no position that could locate her."""
    held = holds(user, alarm)

    def detail(kind: str, t: Any, raw: dict[str, Any]) -> dict[str, Any]:
        if held:
            return public_detail(raw)
        return shared_detail(kind, raw, not shade.hides(alarm.case_ref, alarm.device, t))

    out = workflow.summary(alarm) | {
        "detail": detail(alarm.kind, alarm.raised_at, alarm.detail),
        "holding": held,  # the caller holds this live BAR alarm or SOS: hers to locate, audited
        # Taken here, and the caller is its holder or a supervisor: he may hand it over.
        "may_hand_over": alarm.status in returned.HELD
        and alarm.imported_from is None
        and handing.may_hand_over(user, alarm),
        # Raised within a known absence (alarms.suspensions): shown, not sounded nor escalated.
        "known_absence": alarm.id in known,
        "qualifications": workflow.qualifications_for(alarm.kind),  # what closing may say
        # Raised by another centre and imported with its case: its record, never worked here.
        "imported_from": alarm.imported_from,
    }
    if extra is not None:
        out |= extra  # holder, wearer, measure, incident (queue_view)
    if names is not None:  # the whole alarm: its log, commands and events
        out["actions"] = [
            {
                "at": a.at,
                "action": a.action,
                "note": a.note,
                "user_id": a.user_id,
                "user": names.get(a.user_id or -1),  # None: the centre's own entry
                # A hand-over's new holder; the holder gone, for a release (`holder_gone`).
                "to_user": names.get(a.to_user_id or -1),
            }
            for a in alarm.actions
        ]
        # Commands sent for this alarm (a warned wearer, a raised rate) with the device's answer.
        out["commands"] = [command_queue.summary(c) for c in alarm.commands]
        out["events"] = [
            {"t": e.t, "state": e.state, "detail": detail(alarm.kind, e.t, e.detail)}
            for e in alarm.events
        ]
    return out


def no_report(alarm: Alarm) -> str:
    return (
        f"alarm {alarm.id} is the centre's own (a detection partition unwatched): it concerns "
        "no case, so no incident report is made for a judge"
    )


def shade_of(session: Session, alarms: list[Alarm]) -> Blackout:
    return privacy.blackout(
        session, {a.case_ref for a in alarms}, clock.now(), {a.device for a in alarms}
    )


def visible_alarm(session: Session, user: User, alarm_id: int, *, lock: bool = False) -> Alarm:
    """The alarm if the user may see it (AlarmNotFound otherwise). `lock`, for a change of its
    state: its row is locked to the transaction's end (PostgreSQL), so a
    second operator's concurrent take or close waits and finds it taken or closed (two closes at
    once ended one on the report's unique key, a 500; two takes, the second holder overwrote
    the first, both told they held it). On SQLite, `lock` takes the write lock first, so the
    detector's process cannot change it between this read and its write (`hold_writer`)."""
    if lock:
        hold_writer(session)
    alarm = session.get(Alarm, alarm_id, with_for_update=lock)
    refs = visible_case_refs(session, user)
    if alarm is None or (refs is not None and alarm.case_ref not in refs):
        raise AlarmNotFound(alarm_id)
    return alarm


def handed_to_you(session: Session, user: User, alarm: Alarm) -> dict[str, Any] | None:
    """The hand-over `user` has not answered yet, if this alarm was handed to him: by whom,
    when, why (his console sounds for it until he takes it over)."""
    if alarm.held_by != user.id:
        return None
    handed = handing.waiting_hand_over(alarm)
    if handed is None:
        return None
    by = session.get(User, handed.user_id) if handed.user_id is not None else None
    return {"by": by.username if by else None, "at": handed.at, "reason": handed.note}


def with_extras(session: Session, user: User, alarms: list[Alarm]) -> list[dict[str, Any]]:
    if not alarms:  # a queue followed by `after`, nothing new: no blackout or extras to read
        return []
    shade, extra = shade_of(session, alarms), queue_view.extras(session, alarms)
    known = suspensions.known_absences(session, alarms)
    return [
        alarm_out(a, user, shade, extra=extra[a.id], known=known)
        | {"handed_to_you": handed_to_you(session, user, a)}
        for a in alarms
    ]


@router.get("")
def list_alarms(
    db: DatabaseDep,
    user: Reader,
    response: Response,
    status: Annotated[list[Status] | None, Query()] = None,
    kind: Annotated[Line | None, Query(max_length=40)] = None,
    case: Annotated[Line | None, Query(max_length=40)] = None,
    escalated: bool | None = None,
    to_take: Annotated[
        bool,
        Query(
            description="only the alarms waiting for an operator, whatever `status` says: the "
            "open ones, the taken ones whose situation came back since (`raised_again_at`), and "
            "those handed to you that you have not taken over yet (`handed_to_you`)"
        ),
    ] = False,
    handed_to_me: Annotated[
        bool,
        Query(
            description="only the alarms handed to you that you have not taken over yet "
            "(`POST /api/alarms/{id}/take-over`): yours to answer, your console sounds for them"
        ),
    ] = False,
    after: Annotated[
        RowCursor | None,
        Query(description="only alarms opened after this alarm id (to follow the queue)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[Count, Query(description="rows skipped (the queue's next pages)")] = 0,
    imported: Annotated[
        bool,
        Query(
            description="the alarms imported with their cases from another centre (their "
            "record, never worked here) instead of this centre's"
        ),
    ] = False,
) -> list[dict[str, Any]]:
    """The queue, most urgent first (priority, then oldest); closed ones only when asked.

    One page of `limit` rows from `offset`; the `X-Total-Count` header counts every alarm
    the filters match, so that the console can say "200 sur 253" and page on.
    """
    query = select(Alarm).where(Alarm.imported_from.is_not(None) if imported else RAISED_HERE)
    if after is not None:
        query = query.where(Alarm.id > after)
    handed = and_(handing.awaiting(), Alarm.held_by == user.id)
    if handed_to_me:
        query = query.where(handed)
    elif to_take:
        query = query.where(or_(returned.waiting(), handed))
    else:
        query = query.where(Alarm.status.in_(status or ["open", "acknowledged", "in_progress"]))
    if kind:
        query = query.where(Alarm.kind == kind)
    if case:
        query = query.where(Alarm.case_ref == case)
    if escalated is not None:
        query = query.where(returned.escalated() if escalated else ~returned.escalated())
    # Read without the write lock (the console polls the queue); the read is audited before
    # anything is answered, so a failed audit answers nothing.
    with db.reading() as session:
        refs = visible_case_refs(session, user)
        if refs is not None:
            query = query.where(Alarm.case_ref.in_(refs))
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        page = query.order_by(Alarm.priority, Alarm.raised_at, Alarm.id).offset(offset)
        found = with_extras(session, user, list(session.scalars(page.limit(limit))))
    response.headers["X-Total-Count"] = str(total or 0)
    with db.session() as session:
        audit.record(session, user.username, "read", "alarms", {"ids": [a["id"] for a in found]})
    return found


@router.get("/{alarm_id}")
def get_alarm(alarm_id: RowId, db: DatabaseDep, user: Reader) -> dict[str, Any]:
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id)
        audit.record(session, user.username, "read", f"alarm:{alarm.id}")
        extra = queue_view.extras(session, [alarm])[alarm.id]
        known = suspensions.known_absences(session, [alarm])
        shade = shade_of(session, [alarm])
        ids = {i for a in alarm.actions for i in (a.user_id, a.to_user_id) if i is not None}
        names = dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())
        return alarm_out(alarm, user, shade, names=names, extra=extra, known=known) | {
            "handed_to_you": handed_to_you(session, user, alarm)
        }


@router.get("/{alarm_id}/contacts")
def alarm_contacts(alarm_id: RowId, db: DatabaseDep, user: Reader) -> dict[str, Any]:
    """Who to call: the wearer, the protected person (her phone to the holder of her live BAR
    alarm only), the SPIP, the judge, the police station; for BAR the nearest target and its
    distance (rounded for all but the holder). Every read, showing and withholding audited."""
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id)
        return callsheet.callsheet(session, alarm, user)


@router.post("/{alarm_id}/acknowledge")
def acknowledge(alarm_id: RowId, db: DatabaseDep, user: Worker) -> dict[str, Any]:
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id, lock=True)
        workflow.acknowledge(session, alarm, user, clock.now())
        return alarm_out(alarm, user, shade_of(session, [alarm]))


@router.post("/{alarm_id}/actions", status_code=201)
def add_action(alarm_id: RowId, body: ActionIn, db: DatabaseDep, user: Worker) -> dict[str, Any]:
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id, lock=True)
        entry = workflow.act(session, alarm, user, body.action, body.note, clock.now())
        return {"id": entry.id, "at": entry.at, "action": entry.action, "status": alarm.status}


@router.get("/{alarm_id}/hand-over")
def hand_over_to(alarm_id: RowId, db: DatabaseDep, user: Worker) -> list[dict[str, Any]]:
    """The operators this alarm may be handed to (active, not its holder), by name, each with
    whether his console is open now (`online`: one on duty, not one gone home)."""
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id)
        found = handing.candidates(session, alarm)
        now = clock.now()
        return [
            {
                "id": u.id,
                "username": u.username,
                "full_name": u.full_name,
                "online": holder_gone.online(u, now),
            }
            for u in found
        ]


@router.post("/{alarm_id}/hand-over")
def hand_over(alarm_id: RowId, body: HandOverIn, db: DatabaseDep, user: Worker) -> dict[str, Any]:
    """Hand a taken alarm to another operator (`vigie.alarms.handing`): its holder, or a
    supervisor, does; the new holder reads her position from then, the old one no longer."""
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id, lock=True)
        try:
            handing.hand_over(session, alarm, user, body.to, body.reason, clock.now())
        except handing.NotAnOperator as exc:
            raise ApiError(422, "invalid_input", str(exc), exc.field) from exc
        except handing.HandOverRefused as exc:
            refused = exc  # audited, and committed: the refusal is raised past this transaction
            audit.record(
                session,
                user.username,
                "hand_over_denied",
                f"alarm:{alarm.id}",
                {"role": user.role, "holder_id": alarm.held_by, "to": body.to},
            )
        else:
            extra = queue_view.extras(session, [alarm])[alarm.id]
            return alarm_out(alarm, user, shade_of(session, [alarm]), extra=extra)
    raise ApiError(403, "forbidden", str(refused))


@router.post("/{alarm_id}/take-over")
def take_over(alarm_id: RowId, db: DatabaseDep, user: HandedTo) -> dict[str, Any]:
    """The operator an alarm was handed to says he has it (`vigie.alarms.handing`): his console
    stops sounding for it, and it is no longer released to others when its delay runs out."""
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id, lock=True)
        try:
            handing.take_over(session, alarm, user, clock.now())
        except AlarmStateError as exc:
            refused = exc  # audited, and committed: the refusal is raised past this transaction
            audit.record(
                session,
                user.username,
                "take_over_denied",
                f"alarm:{alarm.id}",
                {"holder_id": alarm.held_by, "status": alarm.status},
            )
        else:
            extra = queue_view.extras(session, [alarm])[alarm.id]
            return alarm_out(alarm, user, shade_of(session, [alarm]), extra=extra) | {
                "handed_to_you": None
            }
    raise refused


@router.post("/{alarm_id}/close")
def close(alarm_id: RowId, body: CloseIn, db: DatabaseDep, user: Worker) -> dict[str, Any]:
    """Close with a qualification; the report is made and queued to the case's recipients.
    The centre's own alarm (a partition unwatched) concerns no case: no report, no recipient
    (its closing, note and events stay in the alarm and the audit log)."""
    now = clock.now()
    # The report first, in a read, its PDF made outside any transaction (`report.Prepared`).
    with db.reading() as session:
        alarm = visible_alarm(session, user, alarm_id)
        workflow.check_close(alarm, body.qualification)
        closed = workflow.as_closed(alarm, user, body.qualification, body.note, now)
        html = None if is_centre_alarm(alarm.case_ref) else report.render_html(session, closed, now)
    prepared = None if html is None else report.Prepared(html, report.render_pdf(html))
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id, lock=True)
        workflow.close(session, alarm, user, body.qualification, body.note, now)
        if is_centre_alarm(alarm.case_ref):
            return alarm_out(alarm, user, shade_of(session, [alarm])) | {
                "report_id": None,
                "report_recipients": [],
            }
        made = report.produce(session, alarm, now, prepared)
        queued = outbox.enqueue(session, made, alarm)
        return alarm_out(alarm, user, shade_of(session, [alarm])) | {
            "report_id": made.id,
            "report_recipients": [m.recipient for m in queued],
        }


@router.post("/{alarm_id}/report/preview")
def preview_report(alarm_id: RowId, body: CloseIn, db: DatabaseDep, user: Worker) -> Response:
    """The incident report as closing with `body` would make it; nothing is saved or sent."""
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id)
        if alarm.status == "closed":
            raise ApiError(
                409, "conflict", f"alarm {alarm.id} is closed: download its report instead"
            )
        if is_centre_alarm(alarm.case_ref):
            raise ApiError(409, "conflict", no_report(alarm))
        workflow.check_qualification(alarm.kind, body.qualification)
        html = report.render_html(
            session, alarm, clock.now(), draft=(body.qualification, body.note)
        )
        audit.record(session, user.username, "preview_report", f"alarm:{alarm.id}")
        return Response(html, media_type="text/html; charset=utf-8")


@router.get("/{alarm_id}/protected-position")
def protected_position(alarm_id: RowId, db: DatabaseDep, user: Reader) -> dict[str, Any]:
    """The protected person's position: the operator holding this live BAR alarm or SOS only.

    Her position in the alarm's latest event (`protected`), and where she is now (`live`: her
    latest fix, as she keeps reporting, the wearer's and their distance, as the police need
    them; not for a BAR alarm about a protected place, whose position is fixed). Every read and
    every refusal is audited (an alarm that does not exist or is not the caller's to see too: a
    probe); a refusal is committed even though it answers 403 or 404.
    """
    missing: AlarmNotFound | None = None
    with db.session() as session:
        try:
            alarm = visible_alarm(session, user, alarm_id)
        except AlarmNotFound as exc:
            missing, status = exc, "not_found"
        else:
            if holds(user, alarm):
                target = f"alarm:{alarm.id}"
                audit.record(session, user.username, "read_protected_position", target)
                out = {
                    "alarm_id": alarm.id,
                    "kind": alarm.kind,
                    "protected": protected_detail(alarm.detail),
                }
                # Where she is now (her SOS, or a BAR alarm on her phone), not only when it was
                # raised; a BAR alarm about a protected place has the place's, fixed.
                if alarm.detail.get("target_kind") != "place":
                    out["live"] = live_positions.live_positions(session, alarm)
                return out
            status = alarm.status
        audit.record(
            session,
            user.username,
            "protected_position_denied",
            f"alarm:{alarm_id}",
            {"role": user.role, "status": status}
            | ({} if missing else {"holder_id": alarm.held_by}),
        )
    if missing is not None:
        raise missing
    raise ApiError(
        403,
        "forbidden",
        "the protected person's position is shown only to the operator holding this live "
        "(acknowledged or in progress) BAR alert or pre-alert, or her SOS",
    )


@router.get("/{alarm_id}/report.{fmt}")
def download_report(
    alarm_id: RowId, fmt: Literal["html", "pdf"], db: DatabaseDep, user: Reader
) -> Response:
    with db.session() as session:
        alarm = visible_alarm(session, user, alarm_id)
        if is_centre_alarm(alarm.case_ref):
            raise ApiError(404, "not_found", no_report(alarm))
        made = session.scalars(select(Report).where(Report.alarm_id == alarm.id)).one_or_none()
        if made is None:
            raise ApiError(404, "not_found", f"alarm {alarm.id} has no report (is it closed?)")
        audit.record(session, user.username, "read_report", f"alarm:{alarm.id}", {"format": fmt})
        if fmt == "pdf":
            return Response(
                made.pdf,
                media_type="application/pdf",
                headers={"Content-Disposition": f'attachment; filename="incident-{alarm.id}.pdf"'},
            )
        return Response(made.html, media_type="text/html; charset=utf-8")

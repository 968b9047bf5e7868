"""Exporting one case: the case file, zones, every observation, the track, alarms with their
events, actions, reports and deliveries, and the audit entries that concern it.

What would locate the protected person (her person record's address and home, her protected
places, her phone's observations, the wearer's fixes near a BAR alarm, and the exact BAR
distances) goes to the sealed member only, under the same rules as `vigie.alarms.privacy`: the
plain members show what a judge may read. With no recipient it is left out.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy import RowMapping, or_, select
from sqlalchemy.orm import Session

from vigie import clock
from vigie.alarms import privacy
from vigie.export import layout
from vigie.export.keys import fingerprint
from vigie.export.records import (
    GPX_HEAD,
    GPX_TAIL,
    GPX_TRACK_CLOSE,
    columns,
    gpx_points,
    gpx_track_open,
    zone_feature,
)
from vigie.export.sealing import SCHEME
from vigie.export.writer import ArchiveWriter, Member
from vigie.store import Database, audit, spans
from vigie.store import observations as log
from vigie.store.models import (
    Alarm,
    AlarmAction,
    AlarmEventRow,
    AuditEntry,
    AuditHead,
    Contact,
    Deadline,
    Device,
    DeviceAssignment,
    LawAssessment,
    Observation,
    OutboxMessage,
    Person,
    Placement,
    Report,
    User,
    Zone,
)

BATCH = 5000
PERSON_LOCATION = ("address", "home_lat", "home_lon", "phone")
# A device's login hashes are no evidence, and an archive goes to a court: offline, a hash can be
# guessed at leisure. An imported case is not watched, so its devices need no login; a device
# put back in service is issued a new secret.
CREDENTIALS = ("secret_hash", "nats_hash")


class CaseNotExported(LookupError):
    """No case under that reference."""


@dataclass(frozen=True)
class ExportRequest:
    case_ref: str
    actor: str
    evidence: bool = False  # a judge's evidence export: never the protected person's data
    recipient: X25519PublicKey | None = None


@dataclass
class _Case:
    placement: Placement
    assignments: list[DeviceAssignment]
    protected_devices: set[str]
    blackout: privacy.Blackout


def export_case(
    db: Database, request: ExportRequest, key: Ed25519PrivateKey, out: Path
) -> dict[str, Any]:
    """Write the archive of one case to `out` and audit the export; returns the manifest."""
    if request.evidence and request.recipient is not None:
        raise ValueError("an evidence export never carries the protected person's data")
    now = clock.now()
    writer = ArchiveWriter(out, now)
    try:
        with db.reading() as session:
            if not db.is_sqlite:
                # One snapshot for the whole archive, so members agree with each other while
                # the centre goes on storing observations.
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            manifest = _write(session, writer, request, key, now)
    except BaseException:
        writer.abort()
        out.unlink(missing_ok=True)
        raise
    with db.session() as session:
        audit.record(
            session,
            request.actor,
            "export_evidence" if request.evidence else "export_case",
            f"placement:{manifest['placement_id']}",
            {
                "case_ref": request.case_ref,
                "protected_data": manifest["protected_data"]["status"],
                "members": {m["name"]: m.get("records", m["bytes"]) for m in manifest["members"]},
            },
        )
    return manifest


def _load(session: Session, case_ref: str) -> _Case:
    placement = session.scalars(select(Placement).where(Placement.case_ref == case_ref)).first()
    if placement is None:
        raise CaseNotExported(f"no case {case_ref!r}")
    assignments = list(
        session.scalars(
            select(DeviceAssignment)
            .where(DeviceAssignment.placement_id == placement.id)
            .order_by(DeviceAssignment.id)
        )
    )
    protected = {a.device_id for a in assignments if a.role == "protected"}
    blackout = privacy.blackout(session, [case_ref], clock.now())
    blackout.devices &= {a.device_id for a in assignments}
    blackout.devices |= protected
    return _Case(placement, assignments, protected, blackout)


def _write(
    session: Session,
    writer: ArchiveWriter,
    request: ExportRequest,
    key: Ed25519PrivateKey,
    now: datetime,
) -> dict[str, Any]:
    case = _load(session, request.case_ref)
    alarm_ids = list(session.scalars(select(Alarm.id).where(_alarms_of(case)).order_by(Alarm.id)))
    with writer.member(layout.README, "text/plain; charset=utf-8") as member:
        member.text(README_TEXT)
    with writer.member(layout.CASE, "application/json") as member:
        member.text(layout.dumps(_case_file(session, case)) + "\n")
    with writer.member(layout.ZONES, "application/geo+json") as member:
        _zones(session, case, member)
    with writer.member(layout.OBSERVATIONS, "application/jsonl") as member:
        for obs, role in _observations(session, case):
            if not _hidden(case, obs):
                member.record(_observation(obs, role))
    with writer.member(layout.TRACK, "application/gpx+xml") as member:
        _track(session, case, member)
    with writer.member(layout.ALARMS, "application/jsonl") as member:
        for alarm_id in alarm_ids:
            member.record(_alarm(session, case, alarm_id, shared=True))
    with writer.member(layout.EVENTS, "application/jsonl") as member:
        for event in _unattached_events(session, case):
            shared = _detail(event.kind, event.detail, shared=True)
            member.record(columns(event) | {"detail": shared})
    for alarm_id in alarm_ids:
        report = session.scalars(select(Report).where(Report.alarm_id == alarm_id)).first()
        if report is not None:
            with writer.member(layout.report_member(alarm_id, "html"), "text/html") as member:
                member.text(report.html)
            with writer.member(layout.report_member(alarm_id, "pdf"), "application/pdf") as m:
                m.write(report.pdf)
    summary = _summary_report(session, case.placement.id)
    if summary is not None:
        with writer.member(layout.summary_member("html"), "text/html") as member:
            member.text(summary.html)
        with writer.member(layout.summary_member("pdf"), "application/pdf") as member:
            member.write(summary.pdf)
    with writer.member(layout.AUDIT, "application/jsonl") as member:
        for entry in _audit_entries(session, case, alarm_ids):
            member.record(columns(entry))
    protected = _protected_data(request)
    if request.recipient is not None:
        with writer.sealed_member(layout.PROTECTED, request.recipient) as member:
            _protected(session, case, alarm_ids, member)
    head = session.execute(select(AuditHead.last_hash).where(AuditHead.id == 1)).scalar()
    return writer.finish(
        {
            "kind": "evidence" if request.evidence else "case",
            "case_ref": request.case_ref,
            "placement_id": case.placement.id,
            "exported_at": now,
            "exported_by": request.actor,
            "audit_chain_head": head or audit.GENESIS,
            "protected_data": protected,
        },
        key,
    )


def _protected_data(request: ExportRequest) -> dict[str, Any]:
    if request.recipient is None:
        reason = "evidence export" if request.evidence else "no recipient key given"
        return {"status": "omitted", "reason": reason}
    return {
        "status": "sealed",
        "member": layout.PROTECTED,
        "scheme": SCHEME,
        "recipient": fingerprint(request.recipient),
    }


def _alarms_of(case: _Case) -> Any:
    return or_(Alarm.placement_id == case.placement.id, Alarm.case_ref == case.placement.case_ref)


def _person(session: Session, person_id: int | None, located: bool) -> dict[str, Any] | None:
    if person_id is None:
        return None
    person = session.get_one(Person, person_id)
    if located:
        return columns(person)
    return columns(person, *PERSON_LOCATION) | {"location_withheld": True}


def _case_file(session: Session, case: _Case) -> dict[str, Any]:
    p = case.placement
    placement = columns(p, "protected_places", "changed")  # changed: this store's watermark
    placement["protected_places_withheld"] = bool(p.protected_places)
    device_ids = sorted({a.device_id for a in case.assignments})
    return {
        "format": f"{layout.FORMAT}/case",
        "format_version": layout.FORMAT_VERSION,
        "placement": placement,
        "wearer": _person(session, p.person_id, located=True),
        "protected_person": _person(session, p.protected_person_id, located=False),
        "contacts": {
            role: columns(session.get_one(Contact, getattr(p, f"{role}_id")))
            for role in ("judge", "prosecutor", "spip")
        },
        "law_assessments": [
            columns(a)
            for a in session.scalars(
                select(LawAssessment)
                .where(LawAssessment.placement_id == p.id)
                .order_by(LawAssessment.id)
            )
        ],
        "deadlines": [
            columns(d)
            for d in session.scalars(
                select(Deadline).where(Deadline.placement_id == p.id).order_by(Deadline.id)
            )
        ],
        "devices": [columns(session.get_one(Device, d), *CREDENTIALS) for d in device_ids],
        "assignments": [columns(a) for a in case.assignments],
        "zones": layout.ZONES,
        "summary_report": _report(
            session,
            _summary_report(session, p.id),
            layout.summary_member("html"),
            layout.summary_member("pdf"),
        ),
    }


def _zones(session: Session, case: _Case, member: Member) -> None:
    zones = session.scalars(
        select(Zone).where(Zone.placement_id == case.placement.id).order_by(Zone.id)
    )
    features = [zone_feature(columns(z)) for z in zones]
    member.text(layout.dumps({"type": "FeatureCollection", "features": features}) + "\n")


def _observations(
    session: Session, case: _Case, fixes_only: bool = False
) -> Iterator[tuple[RowMapping, str]]:
    """Every observation of the case's devices while assigned to it, in the order stored
    (`fixes_only`: positions, without their payload, for the track): one stream per assignment,
    merged by id."""
    streams = [_assigned(session, a, fixes_only) for a in case.assignments]
    yield from heapq.merge(*streams, key=lambda pair: pair[0]["id"])


def _assigned(
    session: Session, assignment: DeviceAssignment, fixes_only: bool
) -> Iterator[tuple[RowMapping, str]]:
    """One assignment's observations by id: their ids found by the spans of its minutes
    (`vigie.store.spans.located`, arrays: a year of fixes is a million ids, 8 MB), then the rows
    by primary key in batches, with the assignment's own bounds (a span is a whole minute)."""
    table = Observation.__table__
    wanted = (
        [table.c.id, table.c.device, table.c.t, table.c.lat, table.c.lon]
        if fixes_only
        else list(table.c)
    )
    where = [table.c.t >= assignment.since]
    if assignment.until is not None:
        where.append(table.c.t < assignment.until)
    types = ["position"] if fixes_only else log.TYPES
    role = assignment.role
    connection = session.connection()  # plain rows: a year of fixes is a million of them
    found = spans.located(
        session, [assignment.device_id], types, assignment.since, assignment.until
    )
    ids = np.sort(found.ids)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH].tolist()
        # Fetched whole: the other streams share the connection.
        batch = (
            connection.execute(
                select(*wanted).where(table.c.id.in_(chunk), *where).order_by(table.c.id)
            )
            .mappings()
            .all()
        )
        for obs in batch:
            yield obs, role


def _hidden(case: _Case, obs: RowMapping) -> bool:
    """Whether this observation would help locate her (her device, or a fix near a BAR alarm)."""
    device = obs["device"]
    if device in case.protected_devices:
        return True
    return obs["lat"] is not None and case.blackout.hides(case.placement.case_ref, device, obs["t"])


def _observation(obs: RowMapping, role: str) -> dict[str, Any]:
    """The row as exported: its record whole (a fix's payload is stored without its columns')."""
    return dict(obs) | {"payload": log.record(obs), "role": role}


def _track(session: Session, case: _Case, member: Member) -> None:
    member.text(GPX_HEAD)
    for assignment in case.assignments:
        if assignment.role != "wearer":
            continue
        member.text(gpx_track_open(f"{case.placement.case_ref} {assignment.device_id}"))
        single = _Case(case.placement, [assignment], case.protected_devices, case.blackout)
        fixes: list[RowMapping] = []
        for obs, _ in _observations(session, single, fixes_only=True):
            if obs["lat"] is not None and obs["lon"] is not None and not _hidden(case, obs):
                fixes.append(obs)
            if len(fixes) >= BATCH:
                member.text(gpx_points(fixes))
                fixes = []
        member.text(gpx_points(fixes))
        member.text(GPX_TRACK_CLOSE)
    member.text(GPX_TAIL)


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user.username if user is not None else None


def _detail(kind: str, detail: dict[str, Any], shared: bool) -> dict[str, Any]:
    return privacy.shared_detail(kind, detail, located=True) if shared else detail


def _alarm(session: Session, case: _Case, alarm_id: int, shared: bool) -> dict[str, Any]:
    alarm = session.get_one(Alarm, alarm_id)
    out = columns(alarm)
    out["detail"] = _detail(alarm.kind, alarm.detail, shared)
    out["acknowledged_by_user"] = _username(session, alarm.acknowledged_by)
    out["held_by_user"] = _username(session, alarm.held_by)
    out["closed_by_user"] = _username(session, alarm.closed_by)
    out["events"] = [
        columns(e) | {"detail": _detail(e.kind, e.detail, shared)}
        for e in session.scalars(
            select(AlarmEventRow)
            .where(AlarmEventRow.alarm_id == alarm_id)
            .order_by(AlarmEventRow.id)
        )
    ]
    out["actions"] = [
        columns(a)
        | {"user": _username(session, a.user_id), "to_user": _username(session, a.to_user_id)}
        for a in session.scalars(
            select(AlarmAction).where(AlarmAction.alarm_id == alarm_id).order_by(AlarmAction.id)
        )
    ]
    report = session.scalars(select(Report).where(Report.alarm_id == alarm_id)).first()
    out["report"] = _report(
        session,
        report,
        layout.report_member(alarm_id, "html"),
        layout.report_member(alarm_id, "pdf"),
    )
    session.expunge_all()
    return out


def _summary_report(session: Session, placement_id: int) -> Report | None:
    return session.scalars(select(Report).where(Report.placement_id == placement_id)).first()


def _report(session: Session, report: Report | None, html: str, pdf: str) -> dict[str, Any] | None:
    """A report as sent (its members named) with its delivery records, or None."""
    if report is None:
        return None
    return {
        "id": report.id,
        "created_at": report.created_at,
        "html": html,
        "pdf": pdf,
        "deliveries": [
            columns(m)
            for m in session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.report_id == report.id)
                .order_by(OutboxMessage.id)
            )
        ],
    }


def _unattached_events(session: Session, case: _Case) -> list[AlarmEventRow]:
    """Events of the case in no episode: a clear that came after an operator closed it."""
    return list(
        session.scalars(
            select(AlarmEventRow)
            .where(
                AlarmEventRow.case_ref == case.placement.case_ref,
                AlarmEventRow.alarm_id.is_(None),
            )
            .order_by(AlarmEventRow.id)
        )
    )


def _audit_entries(session: Session, case: _Case, alarm_ids: list[int]) -> Iterator[AuditEntry]:
    p = case.placement
    targets = {f"placement:{p.id}", f"person:{p.person_id}"}
    targets |= {f"alarm:{i}" for i in alarm_ids}
    targets |= {f"device:{a.device_id}" for a in case.assignments}
    if p.protected_person_id is not None:
        targets.add(f"person:{p.protected_person_id}")
    last = 0
    while True:
        batch = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.id > last, AuditEntry.target.in_(sorted(targets)))
                .order_by(AuditEntry.id)
                .limit(BATCH)
            )
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def _protected(session: Session, case: _Case, alarm_ids: list[int], member: Member) -> None:
    """What the plain members withhold, whole, so an import gets back exactly what was."""
    p = case.placement
    person = _person(session, p.protected_person_id, located=True)
    if person is not None:
        member.record({"record": "person", "person": person})
    member.record({"record": "protected_places", "places": p.protected_places})
    for obs, role in _observations(session, case):
        if _hidden(case, obs):
            member.record({"record": "observation", "observation": _observation(obs, role)})
    for event in _unattached_events(session, case):
        member.record({"record": "event_detail", "event": event.id, "detail": event.detail})
    for alarm_id in alarm_ids:
        full = _alarm(session, case, alarm_id, shared=False)
        member.record(
            {
                "record": "alarm_detail",
                "alarm": alarm_id,
                "detail": full["detail"],
                "events": {str(e["id"]): e["detail"] for e in full["events"]},
            }
        )


README_TEXT = """\
Vigie case export (format vigie-export, version 1)
=================================================

This archive holds one case of a Vigie monitoring centre in open formats; no Vigie is needed
to read it. Times are UTC, ISO 8601 with a Z. The JSON Schema of every file is in the
src/vigie/export/schemas/ folder of Vigie's source (docs/export/ describes them).

manifest.json   what is inside: format version, each member's size, SHA-256 and record count,
                the centre's audit chain head at export time, and whether the protected
                person's data is inside (sealed) or left out. Signed: manifest.sig is the
                base64 Ed25519 signature of manifest.json's exact bytes by the key whose raw
                public key is in manifest.json "centre" (check it against the centre's
                published key). `vigie export verify FILE` checks all of this.
case.json       the case: placement (court order, measure, dates, obligations, schedule), the
                wearer, the protected person (without address or home), the judge, prosecutor
                and SPIP contacts, every decision of the legal engine with its trace, deadlines,
                devices and their assignments over time (since/until).
zones.geojson   the zones as a GeoJSON FeatureCollection (open it in any map program); a
                circle zone is a Point with its radius_m in the properties.
observations.jsonl  every observation as it was received, one JSON object a line: event time
                t, receipt time received_at, device, role, and the raw payload.
track.gpx       the wearer's fixes as a GPX 1.1 track, one per bracelet.
alarms.jsonl    one alarm a line: the episode, its events, the operators' actions and notes,
                the qualification, the incident report and its delivery records.
events.jsonl    alarm events in no episode (a clear reported after an operator closed it).
reports/        each incident report, and the measure's summary as sent at its end
                (summary.html, .pdf), HTML and PDF.
audit.jsonl     the audit entries that concern the case, with their hash-chain links
                (hash = SHA-256 of the canonical JSON of prev, at, actor, action, target,
                detail).
protected.jsonl.sealed  (only when the manifest says "sealed") the protected person's data:
                her address and home, protected places, her phone's observations, the
                wearer's fixes near a BAR alarm and the exact BAR distances, as JSON Lines
                sealed to the recipient key named in the manifest (X25519, HKDF-SHA256,
                ChaCha20-Poly1305 in 64 KiB chunks). Elsewhere these are withheld or rounded,
                as the centre's privacy rules show them to a judge.
"""

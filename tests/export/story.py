"""A centre with two cases lived through the real pipeline: a home detention (DDSE) with a zone,
absences and a closed alarm with its report and delivery records, and an anti-approach (BAR)
case where the wearer comes near the protected person, whose phone reports too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.cases import factories as make
from vigie import clock
from vigie.alarms import outbox, report, workflow
from vigie.alarms.pipeline import Pipeline
from vigie.api.security import create_user
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import Alarm, User

HER = (45.0, 4.0)  # the protected person's home (the factory's victim lives there)


@dataclass
class Story:
    start: datetime
    end: datetime
    steps: list[datetime]  # when detection stepped (and so ticked)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def fix(device: str, t: datetime, lat: float, lon: float, seq: int) -> dict[str, Any]:
    return {"kind": "obs", "device": device, "t": iso(t), "type": "position", "seq": seq} | {
        "lat": lat,
        "lon": lon,
        "accuracy_m": 10.0,
    }


def presence(t: datetime, present: bool) -> dict[str, Any]:
    return {"kind": "obs", "device": "H1", "t": iso(t), "type": "presence", "present": present}


def live(db: Database, monkeypatch: pytest.MonkeyPatch) -> Story:
    """Set the centre up an hour before the story, then run it minute by minute."""
    # A Monday 21:30 Paris (inside the DDSE home window) a week or so from now: any day holds.
    today = clock.now()
    monday = (today + timedelta(days=7 - today.weekday())).replace(
        hour=20, minute=30, second=0, microsecond=0
    )
    start = monday
    monkeypatch.setattr(clock, "now", lambda: start - timedelta(hours=1))
    with db.session() as session:
        for role in ("admin", "operator", "judge", "prosecutor", "spip"):
            create_user(session, f"{role}1", "correct horse battery", role, role.title())
        users = {u.role: u.id for u in session.scalars(select(User))}
        wearer = make.person(session)
        victim = make.person(session, "Durand", home_lat=HER[0], home_lon=HER[1])
        who = make.contacts(session, {r: users[r] for r in ("judge", "prosecutor", "spip")})
        zone = {"id": "Z1", "type": "exclusion", "geometry": make.square(48.90, 2.40, 0.005)}
        circle = {"id": "Z2", "type": "exclusion"} | {
            "geometry": {"type": "circle", "lat": 48.80, "lon": 2.30, "radius_m": 300}
        }
        ddse = placements.create(
            session, make.placement_form(wearer, who, case_ref="C1", zones=[zone, circle]), "admin1"
        )
        bar = placements.create(
            session,
            make.placement_form(
                wearer,
                who,
                "bar",
                case_ref="C2",
                protected_person_id=victim.id,
                protected_places=[
                    {"id": "home", "label": "Domicile", "lat": HER[0], "lon": HER[1]}
                ],
            ),
            "admin1",
        )
        for placement, device, kind, role in (
            (ddse, "B1", "bracelet", "wearer"),
            (ddse, "H1", "home_unit", "home_unit"),
            (bar, "B2", "bracelet", "wearer"),
            (bar, "P2", "protected_device", "protected"),
        ):
            devices.create_device(session, DeviceIn(id=device, kind=kind), "admin1")
            devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "admin1")

    now = {"t": start}
    monkeypatch.setattr(clock, "now", lambda: now["t"])
    pipeline = Pipeline(db, Settings(escalation_after_s=10**6), lambda: now["t"])
    seq = iter(range(1, 10**6))
    steps: list[datetime] = []
    for minute in range(180):
        t = start + timedelta(minutes=minute)
        now["t"] = t
        records = [fix("B1", t, 48.85, 2.35, next(seq))]
        if minute == 10:
            records.append(presence(t, False))
        if minute == 25:
            records.append(presence(t, True))
        if 30 <= minute < 34:
            records[0] = fix("B1", t, 48.90, 2.40, records[0]["seq"])  # inside zone Z1
        # The BAR wearer drives to 600 m from her and back between minutes 90 and 110: his
        # fixes more than an hour away from that stay plain in an export.
        distance = min(abs(minute - 100) * 0.01, 0.10) if 90 <= minute < 110 else 0.10
        records.append(fix("B2", t, HER[0] + 0.0055 + distance, HER[1], next(seq)))
        if minute % 5 == 0:
            records.append(fix("P2", t, HER[0], HER[1], next(seq)))
        with db.session() as session:
            log.append(
                session,
                [log.row_for(r, _t(r), t + timedelta(seconds=2), source="test") for r in records],
            )
        if minute % 10 == 9:
            pipeline.step()
            steps.append(t)
    pipeline.step()
    steps.append(now["t"])
    end = now["t"] + timedelta(minutes=5)
    now["t"] = end
    with db.session() as session:
        operator = session.scalars(select(User).where(User.username == "operator1")).one()
        alarm = session.scalars(
            select(Alarm).where(Alarm.case_ref == "C1", Alarm.kind == "absence")
        ).one()
        workflow.acknowledge(session, alarm, operator, end)
        workflow.act(session, alarm, operator, "call_wearer", "no answer", end)
        workflow.close(session, alarm, operator, "breach", "came home late", end)
        outbox.enqueue(session, report.produce(session, alarm, end), alarm)
        # The home unit's silence, closed; then it speaks: a clear in no episode.
        silent = session.scalars(
            select(Alarm).where(Alarm.case_ref == "C1", Alarm.kind == "signal_lost")
        ).one()
        workflow.acknowledge(session, silent, operator, end)
        workflow.close(session, silent, operator, "technical_fault", "unit unplugged", end)
    back = end + timedelta(minutes=1)
    with db.session() as session:
        log.append(session, [log.row_for(presence(back, True), back, back, source="test")])
    now["t"] = back + timedelta(minutes=1)
    pipeline.step()
    steps.append(now["t"])
    return Story(start, end, steps)


def _t(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["t"])

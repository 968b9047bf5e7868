"""A seeded centre for API tests: one user per role, one case of theirs, alarms in every state."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.cases import factories as make
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import episodes, outbox, report, workflow
from vigie.cases import devices, placements
from vigie.cases.forms import AssignmentIn, DeviceIn, ZoneIn
from vigie.store.models import Alarm, User

# The numbers an operator dials, seeded so that the alarm page has them to show.
WEARER_PHONE, VICTIM_PHONE = "06 11 22 33 44", "06 99 88 77 66"
SPIP_PHONE, POLICE_PHONE = "01 40 00 00 01", "01 40 00 00 17"
ROLES = ("operator", "supervisor", "spip", "judge", "prosecutor", "admin", "integration")
_serial = itertools.count(1)


@dataclass
class World:
    centre: Centre
    person: int
    victim: int
    placement: int
    bar_placement: int
    case_ref: str
    bar_case_ref: str
    contacts: dict[str, int]
    made: dict[str, Any] = field(default_factory=dict)

    def user(self, role: str) -> User:
        with self.centre.db.session() as session:
            return session.scalars(select(User).where(User.username == f"{role}1")).one()

    def new_alarm(
        self,
        state: str = "open",
        kind: str = "absence",
        bar: bool = False,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """A fresh alarm episode in the given state (its own device, so it never folds), with
        `detail` if given (else a BAR distance, or none).

        Its times are the centre's clock's: an open alarm was raised just now (not yet overdue,
        so not escalated); one already worked was raised five minutes ago, so that its
        acknowledgement and closing are in the past as well.
        """
        case = self.bar_case_ref if bar else self.case_ref
        operator = self.user("operator")
        t0 = clock.now() - (timedelta(0) if state == "open" else timedelta(minutes=5))
        with self.centre.db.session() as session:
            (alarm,) = episodes.fold(
                session,
                [
                    {
                        "t": t0,
                        "case": case,
                        "kind": kind,
                        "state": "raised",
                        "device": f"X{next(_serial)}",
                        "detail": detail
                        if detail is not None
                        else {"distance_m": 800, "protected_lat": 48.85, "protected_lon": 2.35}
                        if bar
                        else {},
                    }
                ],
                t0,
            )
            if state in ("acknowledged", "in_progress", "closed"):
                workflow.acknowledge(session, alarm, operator, t0 + timedelta(seconds=5))
            if state in ("in_progress", "closed"):
                workflow.act(session, alarm, operator, "call_wearer", None, t0)
            if state == "closed":
                workflow.close(session, alarm, operator, "breach", None, t0 + timedelta(minutes=1))
                outbox.enqueue(session, report.produce(session, alarm, t0), alarm)
            return alarm.id

    def end_alarm(self, alarm_id: int, reason: str, **detail: Any) -> None:
        """The engine's clear of an alarm's condition, for `reason` (its ``detail.reason``)."""
        with self.centre.db.session() as session:
            alarm = session.get_one(Alarm, alarm_id)
            now = clock.now()
            clear = {"t": now, "case": alarm.case_ref, "kind": alarm.kind, "state": "cleared"}
            clear |= {"device": alarm.device, "detail": {"reason": reason, **detail}}
            episodes.fold(session, [clear], now)

    def raise_again(self, alarm_id: int, **detail: Any) -> None:
        """The engine's raise of an alarm's condition again (after `end_alarm`), with `detail`
        over the alarm's own."""
        with self.centre.db.session() as session:
            alarm = session.get_one(Alarm, alarm_id)
            now = clock.now()
            again = {"t": now, "case": alarm.case_ref, "kind": alarm.kind, "state": "raised"}
            again |= {"device": alarm.device, "detail": dict(alarm.detail) | detail}
            episodes.fold(session, [again], now)

    def new_zone(self) -> str:
        key = f"Z{next(_serial)}"
        with self.centre.db.session() as session:
            from vigie.store.models import Placement

            placement = session.get_one(Placement, self.placement)
            zone = ZoneIn(id=key, type="exclusion", geometry=make.square(45.0, 5.0, 0.01))
            placements.put_zone(session, placement, zone, "test")
        return key

    def new_device(self, kind: str = "bracelet") -> str:
        key = f"D{next(_serial)}"
        with self.centre.db.session() as session:
            devices.create_device(session, DeviceIn(id=key, kind=kind), "test")
        return key


def build(centre: Centre) -> World:
    for role in ROLES:
        centre.headers(role)
    with centre.db.session() as session:
        users = {u.role: u.id for u in session.scalars(select(User))}
        wearer = make.person(session, phone=WEARER_PHONE, address="12 rue des Lilas, 75011 Paris")
        victim = make.person(session, "Durand", home_lat=45.0, home_lon=4.0, phone=VICTIM_PHONE)
        who = make.contacts(session, {r: users[r] for r in ("judge", "prosecutor", "spip")})
        who.spip.phone = SPIP_PHONE
        ddse = placements.create(session, make.placement_form(wearer, who, case_ref="C1"), "t")
        police = {"police_station": "Commissariat du 11e", "police_phone": POLICE_PHONE}
        bar = placements.create(
            session,
            make.placement_form(
                wearer, who, "bar", case_ref="C2", protected_person_id=victim.id, **police
            ),
            "t",
        )
        devices.create_device(session, DeviceIn(id="B1", kind="bracelet"), "t")
        devices.create_device(session, DeviceIn(id="H1", kind="home_unit"), "t")
        devices.assign(session, ddse, AssignmentIn(device_id="B1", role="wearer"), "t")
        devices.assign(session, ddse, AssignmentIn(device_id="H1", role="home_unit"), "t")
        return World(
            centre=centre,
            person=wearer.id,
            victim=victim.id,
            placement=ddse.id,
            bar_placement=bar.id,
            case_ref="C1",
            bar_case_ref="C2",
            contacts={"judge": who.judge.id, "prosecutor": who.prosecutor.id, "spip": who.spip.id},
        )


def equip(centre: Centre, wearer: str = "WB", protected: str = "PP") -> World:
    """The world, its BAR case given his bracelet and her phone through the API (as the
    supervisor does), so that both report into the real pipeline."""
    world = build(centre)
    supervisor = centre.headers("supervisor")
    for device, kind, role in (
        (wearer, "bracelet", "wearer"),
        (protected, "protected_device", "protected"),
    ):
        made = centre.client.post(
            "/api/devices", json={"id": device, "kind": kind}, headers=supervisor
        )
        assert made.status_code == 201, made.text
        assigned = centre.client.post(
            f"/api/placements/{world.bar_placement}/devices",
            json={"device_id": device, "role": role},
            headers=supervisor,
        )
        assert assigned.status_code == 201, assigned.text
    return world

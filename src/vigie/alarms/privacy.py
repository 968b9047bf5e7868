"""The protected person's whereabouts: only the operator holding her live BAR alert sees them.

Her own SOS (kind `sos`) is held the same way: the operator who acknowledged it, while it is
live, reads her latest position, the wearer's and their distance (to send the police), and no
one else does; a SOS is a BAR window for the wearer's fixes too (from an hour before her call
to an hour after it was closed).

Her position is in the BAR events' details (`protected_*` keys), in her own phone's fixes, and
implicitly wherever the wearer's position is paired with his distance to her: a few such pairs
locate her by trilateration. So everyone but the holder (the operator who acknowledged a live
alert or pre-alert on her case, while it is live) reads BAR distances rounded to
`DISTANCE_STEP_M`, never the wearer's position of the same time: the wearer's fixes within
`BLACKOUT_MARGIN` of a BAR alarm of the case, and every fix of her device, are withheld from
them (tracks, alarm details, events, reports). See README, "Privacy".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vigie.alarms.imported import RAISED_HERE
from vigie.alarms.obligations import BAR_KINDS, SOS_KIND
from vigie.cases.errors import ProtectedPlaceInZone
from vigie.store import Database, audit
from vigie.store.models import Alarm, Device, DeviceAssignment, Placement, User

LIVE = ("acknowledged", "in_progress")
# The kinds whose live holder may locate her: the BAR alerts and her own call for help.
HELD_KINDS = (*BAR_KINDS, SOS_KIND)
# Distances given to anyone but the holder are rounded to this step (README, "Privacy").
DISTANCE_STEP_M = 500
# The wearer's fixes this long before a BAR alarm is raised and after it clears are withheld.
BLACKOUT_MARGIN = timedelta(hours=1)
# Detail keys that carry a position or what would let one be worked back (a precise radius).
POSITION_KEYS = frozenset(
    {"wearer_position", "last_position", "lat", "lon", "fix_t", "uncertainty_m"}
)


def is_protected_key(key: str) -> bool:
    """Detail keys that carry the protected person's whereabouts (detection names them so)."""
    return key.startswith("protected")


def public_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """The alarm detail without the protected person's position (the holder's view)."""
    return {k: v for k, v in detail.items() if not is_protected_key(k)}


def protected_detail(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if is_protected_key(k)}


def holds(user: User, alarm: Alarm) -> bool:
    """Whether `user` is the operator holding this live BAR alert or pre-alert, or her SOS."""
    return (
        user.role == "operator"
        and alarm.kind in HELD_KINDS
        and alarm.status in LIVE
        and alarm.held_by == user.id
    )


def rounded_distance(distance_m: float) -> int:
    return int(DISTANCE_STEP_M * round(distance_m / DISTANCE_STEP_M))


def shared_detail(kind: str, detail: dict[str, Any], located: bool) -> dict[str, Any]:
    """An alarm's (or event's) detail for anyone but the holder.

    Never her position; for a BAR kind or her SOS, the distance rounded and no wearer position;
    positions dropped as well when `located` is False (her device, or a time near a BAR alarm).
    """
    out = public_detail(detail)
    if kind in HELD_KINDS or not located:
        out = {k: v for k, v in out.items() if k not in POSITION_KEYS}
    distance = out.get("distance_m")
    if kind in HELD_KINDS and isinstance(distance, int | float):
        out["distance_m"] = rounded_distance(distance)
        out["distance_rounded_to_m"] = DISTANCE_STEP_M
    return out


@dataclass
class Blackout:
    """What would locate the protected persons, per case: her devices and the BAR windows."""

    devices: set[str] = field(default_factory=set)
    windows: dict[str, list[tuple[datetime, datetime]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # The devices looked up, when only some were (`blackout`'s `asked`); None: all of them.
    asked: frozenset[str] | None = None

    def hides(self, case_ref: str | None, device: str, t: datetime) -> bool:
        """Whether a position of `device` at `t` on this case would help locate her (a device
        not looked up is hidden: never shown for want of a look)."""
        if device in self.devices or (self.asked is not None and device not in self.asked):
            return True
        return any(start <= t <= end for start, end in self.windows.get(case_ref or "", []))

    def visible(self, case_ref: str, fixes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The fixes (dicts with "t") of a wearer of this case outside every BAR window."""
        spans = self.windows.get(case_ref, [])
        return [f for f in fixes if not any(a <= f["t"] <= b for a, b in spans)]


def blackout(
    session: Session,
    case_refs: Iterable[str] | None,
    now: datetime,
    asked: Iterable[str] | None = None,
) -> Blackout:
    """The blackout of these cases (all when None): one query for windows, one for devices.

    With `asked`, only those devices are looked up (`hides` then hides any other): a page of
    alarms asks about its alarms' devices, not about every protected device of the centre."""
    found = Blackout()
    devices = (
        select(Device.id)
        .outerjoin(DeviceAssignment, DeviceAssignment.device_id == Device.id)
        .where(or_(Device.kind == "protected_device", DeviceAssignment.role == "protected"))
    )
    if asked is not None:
        found.asked = frozenset(asked)
        devices = devices.where(Device.id.in_(sorted(found.asked)))
    found.devices = set(session.scalars(devices))
    query = select(
        Alarm.case_ref, Alarm.kind, Alarm.raised_at, Alarm.cleared_at, Alarm.closed_at
    ).where(Alarm.kind.in_(HELD_KINDS))
    if case_refs is not None:
        query = query.where(Alarm.case_ref.in_(list(case_refs)))
    for case_ref, kind, raised, cleared, closed in session.execute(query):
        # Not cleared: the wearer may still be near her, so the window runs to now. Her SOS is
        # never cleared: its window ends when an operator closed it.
        if kind == SOS_KIND and closed is not None:
            cleared = closed
        end = cleared if cleared is not None else now
        found.windows[case_ref].append((raised - BLACKOUT_MARGIN, end + BLACKOUT_MARGIN))
    return found


def holds_case(session: Session, user: User, case_ref: str) -> bool:
    """Whether `user` holds a live BAR alarm or SOS on this case (the case's track is theirs)."""
    if user.role != "operator":
        return False
    held = select(Alarm.id).where(
        Alarm.case_ref == case_ref,
        Alarm.kind.in_(HELD_KINDS),
        Alarm.status.in_(LIVE),
        Alarm.held_by == user.id,
        RAISED_HERE,
    )
    return session.scalars(held.limit(1)).first() is not None


def may_locate_person(session: Session, user: User, person_id: int) -> bool:
    """Her address and home: the admin who sets the case up, or the holder of her live alert."""
    if user.role == "admin":
        return True
    if user.role != "operator":
        return False
    held = (
        select(Alarm.id)
        .join(Placement, Placement.case_ref == Alarm.case_ref)
        .where(
            Placement.protected_person_id == person_id,
            Alarm.kind.in_(HELD_KINDS),
            Alarm.status.in_(LIVE),
            Alarm.held_by == user.id,
            RAISED_HERE,
        )
    )
    return session.scalars(held.limit(1)).first() is not None


def may_see_places(session: Session, user: User, case_ref: str) -> bool:
    """Her protected places: the admin who sets the case up, or the holder of her live alert."""
    return user.role == "admin" or holds_case(session, user, case_ref)


@contextmanager
def zone_probe_audited(db: Database, user: User, target: str) -> Iterator[None]:
    """A zone refused for covering a protected place tells that she is inside what was drawn:
    the refusal is audited (in its own transaction, since the request's rolls back)."""
    try:
        yield
    except ProtectedPlaceInZone as refused:
        with db.session() as session:
            audit.record(
                session,
                user.username,
                "protected_place_in_zone_refused",
                target,
                {"field": refused.field},
            )
        raise

"""Where she is now: what the operator holding her SOS, or a live BAR alert or pre-alert on her,
reads to send the police.

An alarm's detail says where she and the wearer were when it was raised (the engine's latest
fixes then). While it is live both phones report fast (at the alarm rate, see `reporting`), and
she may have moved since: a BAR alert lasting ten minutes showed the police where she had been.
So the holder reads her *latest* fix, the wearer's and their distance from the store. Her device
is the SOS's own; for a BAR alarm, the case's current protected device (the endpoint asks none
for an alarm about a protected place: its position is fixed, in the detail). Who may read it is
`privacy.holds`; the endpoint audits every read and refusal.

The report to the judge never says where she was (`report`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.detect.geodesy import distance_m
from vigie.store import observations as log
from vigie.store.models import Alarm, DeviceAssignment


def latest_fix(session: Session, device: str) -> dict[str, Any] | None:
    """The device's newest stored fix (by its time), or None."""
    row = log.newest_of_type(session, [device], "position").get(device)
    if row is None:
        return None
    return {"t": row.at, "lat": row.lat, "lon": row.lon, "accuracy_m": row.accuracy_m}


def _assigned(session: Session, alarm: Alarm, role: str) -> str | None:
    """The case's current device in `role`."""
    return session.scalars(
        select(DeviceAssignment.device_id).where(
            DeviceAssignment.placement_id == alarm.placement_id,
            DeviceAssignment.role == role,
            DeviceAssignment.until.is_(None),
        )
    ).first()


def live_positions(session: Session, alarm: Alarm) -> dict[str, Any]:
    """Her latest fix, the wearer's (the case's current bracelet) and their distance in metres.

    Keys start with "protected" where they locate her (`privacy.is_protected_key`)."""
    # Her SOS comes from her device; a BAR alarm is the wearer's bracelet's.
    her_device = alarm.device if alarm.kind == "sos" else _assigned(session, alarm, "protected")
    her = latest_fix(session, her_device) if her_device is not None else None
    wearer_device = _assigned(session, alarm, "wearer")
    his = latest_fix(session, wearer_device) if wearer_device is not None else None
    apart = None
    if her is not None and his is not None:
        apart = round(float(distance_m(her["lat"], her["lon"], his["lat"], his["lon"])), 1)
    return {
        "protected_position": her,
        "protected_wearer_position": his,  # with the distance, it would locate her
        "protected_distance_m": apart,
        "wearer_device": wearer_device,
    }

"""Her call for help: what the operator holding her SOS reads to send the police.

The alarm's detail says where she and the wearer were when she pressed (the engine's latest
fixes); while it is live, her phone keeps reporting (at the alarm rate, see `reporting`), so
the holder reads her *latest* fix, the wearer's and their distance from the store. Who may
read it is `privacy.holds`; the endpoint audits every read and refusal.

The procedure (the console's guided steps for kind `sos`): call her back, alert the police
with her position and the wearer's last position and their distance, call the wearer, record
the outcome (a note), then close. The report to the judge says that she called for help, when,
and what was done, never where she was (`report`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.detect.geodesy import distance_m
from vigie.store import observations as log
from vigie.store.models import Alarm, DeviceAssignment

PROCEDURE = ("call_protected", "police_alerted", "call_wearer", "note")


def latest_fix(session: Session, device: str) -> dict[str, Any] | None:
    """The device's newest stored fix (by its time), or None."""
    row = log.newest_of_type(session, [device], "position").get(device)
    if row is None:
        return None
    return {"t": row.at, "lat": row.lat, "lon": row.lon, "accuracy_m": row.accuracy_m}


def live_positions(session: Session, alarm: Alarm) -> dict[str, Any]:
    """Her latest fix, the wearer's (the case's current bracelet) and their distance in metres.

    Keys start with "protected" where they locate her (`privacy.is_protected_key`)."""
    her = latest_fix(session, alarm.device)
    wearer_device = session.scalars(
        select(DeviceAssignment.device_id).where(
            DeviceAssignment.placement_id == alarm.placement_id,
            DeviceAssignment.role == "wearer",
            DeviceAssignment.until.is_(None),
        )
    ).first()
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

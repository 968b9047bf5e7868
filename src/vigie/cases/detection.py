"""A placement's obligations as the detection engine's `placement` record (see spec/replay.md)."""

from __future__ import annotations

from typing import Any

from vigie.observation import iso_ms
from vigie.settings import Settings
from vigie.settings import settings as current_settings
from vigie.store.models import Placement


def confirm_bounds(measure: str, config: Settings) -> dict[str, float]:
    """The confirmation bounds of a measure's breaches (``detect.persistence``), if set."""
    bounds = {}
    if measure in config.breach_confirm_s:
        bounds["confirm_s"] = config.breach_confirm_s[measure]
    if measure == "bar":
        bounds["alert_confirm_s"] = config.alert_confirm_s
    return bounds


def placement_record(placement: Placement, config: Settings | None = None) -> dict[str, Any] | None:
    """The replay-format record, or None while no bracelet is assigned (nothing to watch yet).

    The confirmation bounds of breaches come from ``config`` (the centre's settings).
    """
    current = [a for a in placement.assignments if a.until is None]
    devices = {a.role: a.device_id for a in current}
    if "wearer" not in devices:
        return None
    record: dict[str, Any] = {
        "kind": "placement",
        "case": placement.case_ref,
        "measure": placement.measure,
        "wearer": devices["wearer"],
        "tz": "Europe/Paris",
        "grace_s": placement.grace_s,
        "signal_timeout_s": placement.signal_timeout_s,
        **confirm_bounds(placement.measure, config or current_settings()),
        # A device's silence counts for this case from its fitting (`fitted`, spec/replay.md's
        # placement as the engine reads it): one from the shelf raises no loss at once.
        "fitted": {a.device_id: iso_ms(a.since) for a in current},
    }
    if "home_unit" in devices:
        record["home_unit"] = devices["home_unit"]
    if placement.schedule:
        record["schedule"] = placement.schedule
    if placement.zones:
        record["zones"] = [
            {"id": z.key, "type": z.type, "geometry": z.geometry, "schedule": z.schedule}
            for z in placement.zones
        ]
    if placement.measure == "bar":
        if "protected" in devices:
            record["protected"] = devices["protected"]
        record["alert_distance_km"] = placement.alert_distance_km
        record["protected_places"] = [
            {"id": p["id"], "lat": p["lat"], "lon": p["lon"]} for p in placement.protected_places
        ]
    return record

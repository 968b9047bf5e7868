"""Small factories for replay records and a helper to run them through the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pyproj import Geod

from vigie.detect import AlarmEvent, Engine

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday, 13:00 in Paris


def at(minutes: float = 0, base: datetime = T0) -> str:
    """ISO-8601 UTC of ``base`` plus some minutes."""
    moment = base + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ddse(
    case: str = "C1",
    wearer: str = "B1",
    home: str = "H1",
    days: str = "daily",
    start: str = "20:00",
    end: str = "07:00",
    **settings: Any,
) -> dict[str, Any]:
    """A home-detention placement with one window."""
    return {
        "kind": "placement",
        "case": case,
        "measure": "ddse",
        "wearer": wearer,
        "home_unit": home,
        "schedule": [{"days": days, "from": start, "to": end}],
        **settings,
    }


def circle(lat: float, lon: float, radius_m: float) -> dict[str, Any]:
    """A circle zone geometry."""
    return {"type": "circle", "center": [lon, lat], "radius_m": radius_m}


def square(lat: float, lon: float, half_deg: float) -> dict[str, Any]:
    """A GeoJSON square polygon around a point."""
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def psem(
    case: str = "C2", wearer: str = "B2", zones: list[dict[str, Any]] | None = None, **settings: Any
) -> dict[str, Any]:
    """A mobile-surveillance placement with zones."""
    return {
        "kind": "placement",
        "case": case,
        "measure": "psem",
        "wearer": wearer,
        "zones": zones or [],
        **settings,
    }


def zone(
    zone_id: str, kind: str, geometry: dict[str, Any], schedule: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """A zone of a PSEM placement."""
    return {"id": zone_id, "type": kind, "geometry": geometry, "schedule": schedule}


def bar(
    case: str = "C3",
    wearer: str = "B3",
    protected: str | None = "P3",
    km: float = 1.0,
    places: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """An anti-approach placement."""
    return {
        "kind": "placement",
        "case": case,
        "measure": "bar",
        "wearer": wearer,
        "protected": protected,
        "alert_distance_km": km,
        "protected_places": places or [],
        **settings,
    }


def fix(device: str, minutes: float, lat: float, lon: float, acc: float = 10.0) -> dict[str, Any]:
    """A GPS fix."""
    return {
        "kind": "obs",
        "device": device,
        "t": at(minutes),
        "type": "position",
        "lat": lat,
        "lon": lon,
        "accuracy_m": acc,
    }


def obs(device: str, minutes: float, kind: str, **values: Any) -> dict[str, Any]:
    """A non-position observation (presence, tamper, battery, power)."""
    return {"kind": "obs", "device": device, "t": at(minutes), "type": kind, **values}


def tick(minutes: float) -> dict[str, Any]:
    """A tick moving time forward."""
    return {"kind": "tick", "t": at(minutes)}


def run(placements: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[AlarmEvent]:
    """Alarm events of records given in one batch to a fresh engine."""
    engine = Engine()
    for placement in placements:
        engine.add_placement(placement)
    return engine.process(records)


def summary(events: list[AlarmEvent], kind: str | None = None) -> list[tuple[str, str, str]]:
    """(time, kind, state) of events, optionally of one kind, for readable assertions."""
    return [(e.to_dict()["t"], e.kind, e.state) for e in events if kind in (None, e.kind)]


def minutes_of(event: AlarmEvent) -> float:
    """Minutes since T0 of an event."""
    return (event.t - T0).total_seconds() / 60


def offset(lat: float, lon: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lat, lon) along a bearing, on the WGS84 geodesic."""
    lon2, lat2, _ = _GEOD.fwd(lon, lat, bearing_deg, metres)
    return float(lat2), float(lon2)


_GEOD = Geod(ellps="WGS84")

"""Stored rows as plain dicts (every column, by name), and the open-format pieces: GeoJSON zones
and GPX tracks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import RowMapping

from vigie.export.layout import iso
from vigie.store.models import Base


def columns(row: Base, *leave_out: str) -> dict[str, Any]:
    """Every column of a row under its name: the archive mirrors the store field by field."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in leave_out}


def zone_feature(zone: dict[str, Any]) -> dict[str, Any]:
    """A zone as a GeoJSON Feature; a circle (not a GeoJSON type) as its centre Point with
    `radius_m` among the properties, so a map program still shows where it is."""
    geometry = zone["geometry"]
    if geometry.get("type") == "circle":
        shape = {"type": "Point", "coordinates": [geometry["lon"], geometry["lat"]]}
        radius = geometry["radius_m"]
    else:
        shape, radius = geometry, None
    properties = {
        "id": zone["id"],
        "key": zone["key"],
        "zone_type": zone["type"],
        "label": zone["label"],
        "schedule": zone["schedule"],
        "radius_m": radius,
        "vigie_geometry": geometry,
    }
    return {"type": "Feature", "geometry": shape, "properties": properties}


GPX_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gpx version="1.1" creator="Vigie" xmlns="http://www.topografix.com/GPX/1/1">\n'
)


def gpx_track_open(name: str) -> str:
    return f"<trk><name>{escape(name)}</name><trkseg>\n"


def gpx_points(fixes: Iterable[Mapping[str, Any] | RowMapping]) -> str:
    return "".join(
        f"<trkpt lat={quoteattr(repr(f['lat']))} lon={quoteattr(repr(f['lon']))}>"
        f"<time>{iso(f['t'])}</time></trkpt>\n"
        for f in fixes
    )


GPX_TRACK_CLOSE = "</trkseg></trk>\n"
GPX_TAIL = "</gpx>\n"

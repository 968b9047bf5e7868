"""Zone checks when a zone is saved: valid polygons, and no contradiction with the case's places."""

from __future__ import annotations

from typing import Any

from shapely import Point, is_valid_reason
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from vigie.cases.errors import CaseRefused


def zone_shape(zone_id: str, geometry: dict[str, Any]) -> BaseGeometry:
    """The shapely polygon of a GeoJSON zone, or CaseRefused saying what is wrong with it."""
    field = f"zones[{zone_id}].geometry"
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise CaseRefused(
            f"zone {zone_id}: geometry must be a GeoJSON Polygon or MultiPolygon, "
            f"not {geometry.get('type')!r}",
            field,
        )
    try:
        polygon = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise CaseRefused(f"zone {zone_id}: unreadable GeoJSON geometry ({exc})", field) from exc
    if polygon.is_empty:
        raise CaseRefused(f"zone {zone_id}: the geometry is empty", field)
    if not polygon.is_valid:
        raise CaseRefused(
            f"zone {zone_id}: invalid geometry ({is_valid_reason(polygon)}); "
            "a zone's outline must not cross itself",
            field,
        )
    minx, miny, maxx, maxy = polygon.bounds
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise CaseRefused(f"zone {zone_id}: coordinates must be [lon, lat] in degrees", field)
    return polygon


def check_zones(
    zones: list[dict[str, Any]],
    home: tuple[float, float] | None,
    protected_places: list[dict[str, Any]],
) -> None:
    """Refuse zones that are invalid, or that contradict the wearer's home or a protected place.

    `home` is (lat, lon); GeoJSON is (lon, lat), hence the swaps below.
    """
    for zone in zones:
        polygon = zone_shape(zone["id"], zone["geometry"])
        field = f"zones[{zone['id']}]"
        if (
            zone["type"] == "exclusion"
            and home is not None
            and polygon.covers(Point(home[1], home[0]))
        ):
            raise CaseRefused(
                f"zone {zone['id']}: the wearer's home is inside his own exclusion zone; "
                "he could never be at home without breaching it",
                field,
            )
        if zone["type"] == "inclusion":
            for place in protected_places:
                if polygon.covers(Point(place["lon"], place["lat"])):
                    raise CaseRefused(
                        f"zone {zone['id']}: protected place {place['id']!r} is inside this "
                        "inclusion zone; the wearer would be allowed where the victim is protected",
                        field,
                    )

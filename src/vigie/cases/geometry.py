"""Zone checks when a zone is saved: valid polygons, and no contradiction with the case's places."""

from __future__ import annotations

from typing import Any

from pyproj import Geod
from shapely import Point, is_valid_reason
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from vigie.cases.errors import CaseRefused, ProtectedPlaceInZone
from vigie.cases.forms import MAX_ZONES

_WGS84 = Geod(ellps="WGS84")
MAX_CIRCLE_M = 100_000
# More than any order needs or the zone editor draws (a commune's outline holds a few thousand
# vertices): each vertex is work for detection on every fix near the zone's edge and at each
# start, so one case saved with millions could slow the watching of every other.
MAX_ZONE_VERTICES = 20_000
MAX_CASE_VERTICES = 100_000


class Circle:
    """A circular zone (detection's `{"type": "circle", lat, lon, radius_m}`), on the ellipsoid."""

    def __init__(self, lat: float, lon: float, radius_m: float) -> None:
        self.lat, self.lon, self.radius_m = lat, lon, radius_m

    def covers(self, point: Point) -> bool:
        return bool(_WGS84.inv(self.lon, self.lat, point.x, point.y)[2] <= self.radius_m)


def zone_shape(zone_id: str, geometry: dict[str, Any]) -> BaseGeometry | Circle:
    """The shape of a zone (GeoJSON polygon or circle), or CaseRefused saying what is wrong."""
    field = f"zones[{zone_id}].geometry"
    if geometry.get("type") == "circle":
        return _circle(zone_id, geometry, field)
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise CaseRefused(
            f"zone {zone_id}: geometry must be a GeoJSON Polygon or MultiPolygon, or a circle, "
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


def _circle(zone_id: str, geometry: dict[str, Any], field: str) -> Circle:
    try:
        lat, lon, radius = (float(geometry[k]) for k in ("lat", "lon", "radius_m"))
    except (KeyError, TypeError, ValueError) as exc:
        raise CaseRefused(
            f"zone {zone_id}: a circle needs numeric lat, lon and radius_m ({exc})", field
        ) from exc
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CaseRefused(f"zone {zone_id}: circle centre out of range", field)
    if not 0 < radius <= MAX_CIRCLE_M:
        raise CaseRefused(f"zone {zone_id}: radius_m must be in (0, {MAX_CIRCLE_M}] m", field)
    return Circle(lat, lon, radius)


def check_sizes(zones: list[dict[str, Any]]) -> None:
    """Refuse a case's zones beyond the bounds above, before their geometry is read."""
    if len(zones) > MAX_ZONES:
        raise CaseRefused(f"a case has at most {MAX_ZONES} zones, not {len(zones)}", "zones")
    total = 0
    for zone in zones:
        count = vertex_count(zone["geometry"])
        if count > MAX_ZONE_VERTICES:
            raise CaseRefused(
                f"zone {zone['id']}: at most {MAX_ZONE_VERTICES} vertices, not {count}",
                f"zones[{zone['id']}].geometry",
            )
        total += count
    if total > MAX_CASE_VERTICES:
        raise CaseRefused(
            f"a case's zones hold at most {MAX_CASE_VERTICES} vertices in all, not {total}",
            "zones",
        )


def vertex_count(geometry: dict[str, Any]) -> int:
    """The positions in a GeoJSON geometry's coordinates (a circle has none), however nested;
    what is not a list of positions is left to `zone_shape` to refuse."""
    count = 0
    stack = [geometry.get("coordinates")]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            if item and not isinstance(item[0], list):
                count += 1  # a position: [lon, lat]
            else:
                stack.extend(item)
    return count


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
                    raise ProtectedPlaceInZone(
                        f"zone {zone['id']}: protected place {place['id']!r} is inside this "
                        "inclusion zone; the wearer would be allowed where the victim is protected",
                        field,
                    )

"""The simulated ground: Lambert-93 metres, a grid of streets, zones as GeoJSON polygons.

People live and move in Lambert-93 (EPSG:2154), the official plane projection of metropolitan
France, so "200 m east" means metres; everything written out is WGS84 longitude/latitude and all
ground truth is computed on those written coordinates (shapely for containment, pyproj geodesics
for distances), the same values a detector sees.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Transformer

STREET_SPACING_M = 150.0
WALK_M_S = 1.35
CITY_DRIVE_M_S = 9.0
ROAD_DRIVE_M_S = 18.0

# Town centres (lat, lon) the populations are spread around.
TOWNS = (
    (48.8566, 2.3522),  # Paris
    (45.7640, 4.8357),  # Lyon
    (43.2965, 5.3698),  # Marseille
    (43.6047, 1.4442),  # Toulouse
    (50.6292, 3.0573),  # Lille
    (47.2184, -1.5536),  # Nantes
    (48.5734, 7.7521),  # Strasbourg
    (44.8378, -0.5792),  # Bordeaux
    (48.1173, -1.6778),  # Rennes
    (43.6108, 3.8767),  # Montpellier
)

GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True, slots=True)
class Place:
    """A point people stay at; `indoor` decides whether GPS fixes are likely there."""

    x: float
    y: float
    indoor: bool = True


@cache
def _to_lonlat() -> Transformer:
    return Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)


@cache
def _to_plane() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


def lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 longitude and latitude (degrees) of Lambert-93 points."""
    lon, lat = _to_lonlat().transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)


def plane(lon: float, lat: float) -> tuple[float, float]:
    """Lambert-93 metres of a WGS84 point."""
    x, y = _to_plane().transform(lon, lat)
    return float(x), float(y)


def town_origin(rng: np.random.Generator) -> tuple[float, float]:
    """A random point within about 15 km of one of the towns, in Lambert-93."""
    lat, lon = TOWNS[int(rng.integers(len(TOWNS)))]
    x, y = plane(lon, lat)
    return x + float(rng.uniform(-15_000, 15_000)), y + float(rng.uniform(-15_000, 15_000))


def snap(x: float, y: float) -> tuple[float, float]:
    """The street crossing nearest to a point: homes and workplaces sit on the street grid."""
    return (
        round(x / STREET_SPACING_M) * STREET_SPACING_M,
        round(y / STREET_SPACING_M) * STREET_SPACING_M,
    )


def street_place(x: float, y: float, indoor: bool = True) -> Place:
    """A place on the street grid near a point."""
    sx, sy = snap(x, y)
    return Place(sx, sy, indoor)


def route(a: Place, b: Place, x_first: bool) -> list[tuple[float, float]]:
    """Corners of a street route from `a` to `b`: along one axis, then the other.

    Such a route never leaves the bounding box of its two ends, which is how the simulator keeps
    everyday trips clear of zones it places outside that box.
    """
    corner = (b.x, a.y) if x_first else (a.x, b.y)
    return [(a.x, a.y), corner, (b.x, b.y)]


def speed_for(length_m: float) -> float:
    """Travel speed for a trip of this length: walking, driving in town, on the road."""
    if length_m < 1_500:
        return WALK_M_S
    if length_m < 8_000:
        return CITY_DRIVE_M_S
    return ROAD_DRIVE_M_S


def circle_ring(cx: float, cy: float, radius: float, n: int = 48) -> np.ndarray:
    """A circle as an `n`-gon (the replay format carries polygons)."""
    a = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.column_stack((cx + radius * np.cos(a), cy + radius * np.sin(a)))


def rectangle_ring(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """An axis-aligned block, as zones drawn along streets are."""
    return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], dtype=float)


def blob_ring(rng: np.random.Generator, cx: float, cy: float, radius: float) -> np.ndarray:
    """An irregular star-shaped outline, like a commune, with radii in [0.85, 1.15] x radius."""
    n = 32
    a = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    r = radius * rng.uniform(0.85, 1.15, n)
    return np.column_stack((cx + r * np.cos(a), cy + r * np.sin(a)))


def geojson_polygon(ring_xy: np.ndarray) -> tuple[dict[str, Any], shapely.Polygon]:
    """The GeoJSON Polygon written to the scenario, and the same polygon (as written) for truth."""
    lon, lat = lonlat(ring_xy[:, 0], ring_xy[:, 1])
    coords = [[round(float(o), 6), round(float(a), 6)] for o, a in zip(lon, lat, strict=True)]
    coords.append(coords[0])
    polygon = shapely.Polygon(coords)
    shapely.prepare(polygon)
    return {"type": "Polygon", "coordinates": [coords]}, polygon


def distance_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> np.ndarray:
    """WGS84 geodesic distances in metres, element-wise (scalars broadcast)."""
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (lon1, lat1, lon2, lat2)))
    a, b, c, d = (np.ascontiguousarray(v) for v in arrays)
    _, _, dist = GEOD.inv(a, b, c, d)
    return np.asarray(dist, dtype=float)

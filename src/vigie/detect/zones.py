"""Zones (PSEM): inclusion and exclusion areas, each with an optional weekly schedule.

Geometry is GeoJSON ``Polygon`` or ``MultiPolygon`` in ``[lon, lat]`` order, or a circle::

    {"type": "circle", "center": [lon, lat], "radius_m": 300}
    {"type": "circle", "lat": 48.85, "lon": 2.35, "radius_m": 300}

(``center`` follows GeoJSON's longitude-first order; the named form avoids the ambiguity.)
Each zone is projected once into its own local east/north plane in metres (see
``geodesy.to_local``) and kept as a prepared shapely geometry there; a circle becomes a
128-sided polygon (within 0.03 % of the radius). Invalid or self-intersecting polygons are
refused with a ScenarioError naming the field.

The signed *depth* of a fix is its distance to the zone boundary, positive inside. The rule
uses depth on the forbidden side (see ``certainty``): inside for an exclusion zone, outside
for an inclusion zone. For many fixes at once, cheap bounds decide most of them without
shapely: first a screen (``ZoneTable.may_raise``) against the inscribed disc and the disc
around it that holds the zone drops the fixes that surely cannot raise; then the inscribed
circle gives a lower bound of the depth and the bounding box an upper bound; only fixes near
a boundary get an exact ``contains_xy`` and ``distance``. The compiled geometry depends on the
GeoJSON alone and is shared by every zone that has the same (``shape_of``).
"""

from __future__ import annotations

import hashlib
import pickle
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import Point, shape

from vigie.detect import certainty, sectors
from vigie.detect.geodesy import metres_per_degree, to_local, wrap_degrees
from vigie.detect.scenario import ScenarioError, ZoneSpec
from vigie.detect.schedule import WeeklySchedule

Floats = NDArray[np.float64]
CIRCLE_QUAD_SEGS = 32
_SCREEN_SLACK_M = 0.01  # far above the rounding of degrees versus plane metres (~1e-10 m)


@dataclass(slots=True)
class Zone:
    """One compiled zone rule of a case, with its alarm state."""

    case: str
    device: str
    zone_id: str
    exclusion: bool
    schedule: WeeklySchedule | None
    shape: Shape  # compiled geometry, shared by every zone with the same GeoJSON
    raised: bool = False
    raised_t: int = 0
    active: bool = True
    active_known: bool = field(default=False)

    @property
    def kind(self) -> str:
        """The alarm kind this zone raises."""
        return "zone_entry" if self.exclusion else "zone_exit"


def _circle_centre(geometry: dict[str, Any], field: str) -> tuple[float, float]:
    if "center" in geometry:
        centre = geometry["center"]
        if not (isinstance(centre, list) and len(centre) == 2):
            raise ScenarioError("circle 'center' must be [lon, lat]", field=f"{field}.center")
        lon, lat = centre
    else:
        lon, lat = geometry.get("lon"), geometry.get("lat")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)):
        raise ScenarioError("circle needs numeric 'center' [lon, lat] or 'lat'/'lon'", field=field)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ScenarioError("circle centre out of range", field=f"{field}.center")
    return float(lat), float(lon)


def _local_geometry(geometry: dict[str, Any], field: str) -> tuple[Any, float, float]:
    kind = geometry.get("type")
    if kind == "circle":
        lat0, lon0 = _circle_centre(geometry, field)
        radius = geometry.get("radius_m")
        if not isinstance(radius, int | float) or isinstance(radius, bool) or not radius > 0:
            raise ScenarioError("circle needs a positive 'radius_m'", field=f"{field}.radius_m")
        if radius > MAX_RADIUS_M:
            raise ScenarioError(
                f"a circle's radius is at most {MAX_RADIUS_M:.0f} m", field=f"{field}.radius_m"
            )
        return Point(0.0, 0.0).buffer(float(radius), quad_segs=CIRCLE_QUAD_SEGS), lat0, lon0
    if kind not in ("Polygon", "MultiPolygon"):
        raise ScenarioError(
            f"geometry type {kind!r} not supported; use Polygon, MultiPolygon or circle",
            field=f"{field}.type",
        )
    try:
        lonlat = shape(geometry)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ScenarioError(
            f"malformed {kind} coordinates ({exc})", field=f"{field}.coordinates"
        ) from exc
    if lonlat.is_empty:
        raise ScenarioError("empty geometry", field=f"{field}.coordinates")
    if not lonlat.is_valid:
        reason = shapely.is_valid_reason(lonlat)
        raise ScenarioError(f"invalid {kind}: {reason}", field=f"{field}.coordinates")
    minx, miny, maxx, maxy = lonlat.bounds
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise ScenarioError(
            "coordinates out of range (GeoJSON is [lon, lat])", field=f"{field}.coordinates"
        )
    centre = lonlat.centroid
    lat0, lon0 = float(centre.y), float(centre.x)

    def project(coords: Floats) -> Floats:
        x, y = to_local(coords[:, 1], coords[:, 0], lat0, lon0)
        return np.column_stack([x, y])

    return shapely.transform(lonlat, project), lat0, lon0


@dataclass(frozen=True, slots=True)
class Shape:
    """A zone's compiled geometry: its local plane, prepared geometry and bounds.

    It depends on the GeoJSON alone, so zones with the same geometry (cloned placements,
    a court's standard perimeters) share one, compiled once.
    """

    lat0: float
    lon0: float
    k_north: float  # metres per degree at lat0, fixed once so every path projects alike
    k_east: float
    geometry: Any  # shapely geometry in the local plane (metres), prepared
    boundary: Any
    inner_x: float
    inner_y: float
    inner_r: float
    outer_r: float  # farthest vertex from the inner centre: the zone lies in this disc
    bbox: tuple[float, float, float, float]
    digest: bytes = b""  # of its GeoJSON: the key of the shared cache and of a stored set-up


# A quarter of the Earth's circumference: the local plane means nothing beyond, and a radius
# of 1e308 m overflowed the sectors' arithmetic.
MAX_RADIUS_M = 10_000_000.0
_SHAPES: dict[bytes, Shape] = {}
_SHAPES_MAX = 65_536
# Each shape's sector bounds (``sectors``), made with the first rule table that holds it
# (set-up, not the first fix near its edge) or seeded from a stored blob, and shared by every
# zone with that geometry; float32, rounded to the safe side.
_SECTORS: dict[bytes, tuple[NDArray[np.float32], NDArray[np.float32]]] = {}
_BLOB_HEAD = struct.Struct("<6d")  # lat0, lon0, inner_x, inner_y, inner_r, outer_r
# A blob with its sector bounds starts with this NaN (a blob from before them starts with
# lat0, never NaN), then the head, the near and far radii (float32) and the WKB.
_BLOB_MARK = struct.pack("<Q", 0x7FF8_5345_4354_0001)
_BLOB_SECTORS = 2 * 4 * sectors.SECTORS


def _compile_shape(geometry: dict[str, Any], field: str, digest: bytes = b"") -> Shape:
    local, lat0, lon0 = _local_geometry(geometry, field)
    if not local.area > 0:
        # A circle of 1e-308 m, an outline thinner than a float in the local plane: nothing
        # to be inside of, and no inscribed circle (its set-up failed on a ValueError).
        raise ScenarioError("the zone has no area", field=field)
    if geometry.get("type") == "circle":
        # A regular polygon centred on the origin: its inscribed circle is known.
        cx, cy = 0.0, 0.0
    else:
        parts = list(local.geoms) if local.geom_type == "MultiPolygon" else [local]
        largest = max(parts, key=lambda p: p.area)
        line = shapely.maximum_inscribed_circle(largest, tolerance=max(largest.length * 1e-4, 0.01))
        (cx, cy), _ = line.coords
    inner_r = float(shapely.distance(local.boundary, Point(cx, cy)))
    vertices = shapely.get_coordinates(local)
    outer_r = float(np.hypot(vertices[:, 0] - cx, vertices[:, 1] - cy).max())
    shapely.prepare(local)
    boundary = local.boundary
    shapely.prepare(boundary)
    minx, miny, maxx, maxy = local.bounds
    k_north, k_east = metres_per_degree(lat0)
    return Shape(
        lat0=lat0,
        lon0=lon0,
        k_north=float(k_north),
        k_east=float(k_east),
        geometry=local,
        boundary=boundary,
        inner_x=float(cx),
        inner_y=float(cy),
        inner_r=inner_r,
        outer_r=outer_r,
        bbox=(float(minx), float(miny), float(maxx), float(maxy)),
        digest=digest,
    )


def shape_blob(shape: Shape) -> bytes:
    """What compiling a shape derived (the local geometry, its discs, its sector bounds), for
    `seed_shapes`: a restarted centre takes it back instead of recomputing every inscribed
    circle and every zone's sectors."""
    head = (shape.lat0, shape.lon0, shape.inner_x, shape.inner_y, shape.inner_r, shape.outer_r)
    wkb: bytes = shapely.to_wkb(shape.geometry)
    near, far, _ = _sector_bounds([shape])
    radii = np.concatenate([near[0], far[0]]).astype("<f4").tobytes()
    return _BLOB_MARK + _BLOB_HEAD.pack(*head) + radii + wkb


def blob_is_current(blob: bytes) -> bool:
    """Whether a stored blob carries its sector bounds (else seeding it leaves the sectors to
    be made again at every restart, ~2 s at 16,000 cases: it should be stored again)."""
    return blob.startswith(_BLOB_MARK)


def seed_shapes(stored: Iterable[tuple[bytes, bytes]]) -> None:
    """Put shapes stored by `shape_blob` (digest, blob) in the shared cache, all at once.

    WKB keeps every coordinate's bits, so a seeded shape is the compiled one exactly."""
    stored = list(stored)
    if len(_SECTORS) + len(stored) > _SHAPES_MAX:
        _SECTORS.clear()
    pairs = []
    for digest, blob in stored:
        if not digest or digest in _SHAPES:
            continue
        if blob_is_current(blob):  # with its sectors: the table needs none made
            blob = blob[len(_BLOB_MARK) :]
            cut = _BLOB_HEAD.size + _BLOB_SECTORS
            radii = np.frombuffer(
                blob, dtype="<f4", count=2 * sectors.SECTORS, offset=_BLOB_HEAD.size
            ).astype(np.float32)
            _SECTORS[digest] = (radii[: sectors.SECTORS], radii[sectors.SECTORS :])
            blob = blob[: _BLOB_HEAD.size] + blob[cut:]
        pairs.append((digest, blob))
    if not pairs:
        return
    geometries = shapely.from_wkb([b[_BLOB_HEAD.size :] for _, b in pairs])
    boundaries = shapely.boundary(geometries)
    shapely.prepare(geometries)
    shapely.prepare(boundaries)
    bounds = shapely.bounds(geometries)
    if len(_SHAPES) + len(pairs) > _SHAPES_MAX:
        _SHAPES.clear()
    for i, (digest, blob) in enumerate(pairs):
        lat0, lon0, cx, cy, inner_r, outer_r = _BLOB_HEAD.unpack_from(blob)
        k_north, k_east = metres_per_degree(lat0)  # one by one, as compiling does: same bits
        _SHAPES[digest] = Shape(
            lat0=lat0,
            lon0=lon0,
            k_north=float(k_north),
            k_east=float(k_east),
            geometry=geometries[i],
            boundary=boundaries[i],
            inner_x=cx,
            inner_y=cy,
            inner_r=inner_r,
            outer_r=outer_r,
            bbox=(
                float(bounds[i, 0]),
                float(bounds[i, 1]),
                float(bounds[i, 2]),
                float(bounds[i, 3]),
            ),
            digest=digest,
        )


def shape_of(geometry: dict[str, Any], field: str) -> Shape:
    """The compiled Shape of a GeoJSON geometry, shared by every zone with the same one."""
    # A digest of its pickle bytes is a cheap, exact key (ten times faster than JSON here):
    # equal bytes unpickle to equal geometries; equal geometries with other bytes only miss.
    try:
        key = hashlib.blake2b(pickle.dumps(geometry, protocol=5), digest_size=16).digest()
    except (pickle.PicklingError, TypeError, AttributeError):
        return _compile_shape(geometry, field)  # not plain JSON values: compile, don't share
    found = _SHAPES.get(key)
    if found is None:
        found = _compile_shape(geometry, field, key)
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()  # a bound on memory, not a policy: recompiling is only slower
        _SHAPES[key] = found
    return found


def compile_zone(spec: ZoneSpec, case: str, device: str, tz: str, field: str) -> Zone:
    """A Zone ready for evaluation; errors name the field (e.g. ``zones.0.geometry``)."""
    shape = shape_of(spec.geometry, f"{field}.geometry")
    schedule = (
        WeeklySchedule.parse(spec.schedule, tz, f"{field}.schedule") if spec.schedule else None
    )
    return Zone(
        case=case,
        device=device,
        zone_id=spec.id,
        exclusion=spec.type == "exclusion",
        schedule=schedule,
        shape=shape,
    )


def exact_depth(zone: Zone, lat: float, lon: float) -> float:
    """Signed distance (m) of a fix to the zone boundary, positive inside the zone."""
    shape = zone.shape
    xf = float(wrap_degrees(np.array([lon]) - shape.lon0)[0]) * shape.k_east
    yf = (lat - shape.lat0) * shape.k_north
    distance = float(shapely.distance(shape.boundary, Point(xf, yf)))
    return distance if shapely.contains_xy(shape.geometry, xf, yf) else -distance


def forbidden_depth(zone: Zone, depth: float) -> float:
    """Depth on the forbidden side: inside an exclusion zone, outside an inclusion zone."""
    return depth if zone.exclusion else -depth


def evaluate_one(zone: Zone, lat: float, lon: float, accuracy_m: float) -> tuple[int, float]:
    """Code (raise 1 / clear -1 / hold 0) and exact depth of one fix against one zone."""
    depth = exact_depth(zone, lat, lon)
    s = np.array([forbidden_depth(zone, depth)])
    u = np.array([accuracy_m], dtype=np.float64)
    code = certainty.codes(s, certainty.breach_raise_depth(u), u)
    return int(code[0]), depth


class ZoneTable:
    """Columnar copy of many zones' geometry, for vectorized evaluation of many fixes."""

    def __init__(self, zones: list[Zone]) -> None:
        self.zones = zones
        n = len(zones)
        self.lat0 = np.array([z.shape.lat0 for z in zones], dtype=np.float64)
        self.lon0 = np.array([z.shape.lon0 for z in zones], dtype=np.float64)
        self.k_north = np.array([z.shape.k_north for z in zones], dtype=np.float64)
        self.k_east = np.array([z.shape.k_east for z in zones], dtype=np.float64)
        self.exclusion = np.array([z.exclusion for z in zones], dtype=bool)
        self.inner = np.array(
            [(z.shape.inner_x, z.shape.inner_y, z.shape.inner_r) for z in zones], dtype=np.float64
        )
        self.bbox = np.array([z.shape.bbox for z in zones], dtype=np.float64).reshape(n, 4)
        self.inner = self.inner.reshape(n, 3)
        self.geometry = np.array([z.shape.geometry for z in zones], dtype=object)
        self.boundary = np.array([z.shape.boundary for z in zones], dtype=object)
        # The screen of ``may_raise``: the inner centre in degrees, and the forbidden-side
        # depth bound ``high + sign * rho`` (rho: distance to that centre) with some slack
        # for rounding, since the screen works in degrees and the exact test in the plane.
        self.centre_lat = self.lat0 + self.inner[:, 1] / self.k_north
        self.centre_lon = self.lon0 + self.inner[:, 0] / self.k_east
        self.centre_lon_min = float(self.centre_lon.min()) if n else 0.0
        self.centre_lon_max = float(self.centre_lon.max()) if n else 0.0
        outer = np.array([z.shape.outer_r for z in zones], dtype=np.float64)
        self.high = np.where(self.exclusion, outer, -self.inner[:, 2]) + _SCREEN_SLACK_M
        self.sign = np.where(self.exclusion, -1.0, 1.0)
        # Every zone's sector bounds, made here with the table, not when a fix first comes near
        # an edge: shared by digest, seeded on a restart (``seed_shapes``). Each sector's near
        # and far float32 side by side, read as one int64: one gather, one cache line, where
        # two 2-D gathers cost two to four times as much. Zone i's sector k is at ``base[i] + k``.
        near, far, row = _sector_bounds([z.shape for z in zones])
        self._bounds = np.stack([near, far], axis=-1).view(np.int64).ravel()
        self._sector_base = row * sectors.SECTORS
        self._inner_x = np.ascontiguousarray(self.inner[:, 0])
        self._inner_y = np.ascontiguousarray(self.inner[:, 1])

    def may_raise(
        self, rule: NDArray[np.int64] | None, lat: Floats, lon: Floats, raise_at: Floats
    ) -> NDArray[np.bool_]:
        """False where a fix surely stays short of its raise depth (its code is hold or clear).

        A handful of operations per pair, against the zone's inscribed and enclosing discs
        around one centre: depth is at most ``R - rho`` for an exclusion zone (the zone lies
        in the disc of radius R) and the forbidden side's depth at most ``rho - r`` for an
        inclusion zone (the disc of radius r lies inside). ``rule`` None means every zone.
        """
        if rule is None:
            c_lat, c_lon = self.centre_lat, self.centre_lon
            k_north, k_east = self.k_north, self.k_east
            high, sign = self.high, self.sign
        else:
            c_lat, c_lon = self.centre_lat[rule], self.centre_lon[rule]
            k_north, k_east = self.k_north[rule], self.k_east[rule]
            high, sign = self.high[rule], self.sign[rule]
        dlon = lon - c_lon
        if len(dlon) and (
            max(float(lon.max()), self.centre_lon_max) - min(float(lon.min()), self.centre_lon_min)
            > 180.0
        ):
            dlon = wrap_degrees(dlon)  # only near the antimeridian
        dlon *= k_east
        dlat = lat - c_lat
        dlat *= k_north
        dlon *= dlon
        dlat *= dlat
        dlon += dlat
        bound = np.sqrt(dlon, out=dlon)  # not np.hypot, ten times slower: the slack covers it
        bound *= sign
        bound += high
        return np.asarray(bound >= raise_at)

    def depths(self, rule: NDArray[np.int64], lat: Floats, lon: Floats) -> Floats:
        """``exact_depth`` of many (fix, zone) pairs in one call each of shapely's distance and
        containment (the same operations, so the same values): where states change, many at
        once (wearers walking along a zone's edge), no Python per pair."""
        if not len(rule):
            return np.zeros(0, dtype=np.float64)
        x = wrap_degrees(lon - self.lon0[rule]) * self.k_east[rule]
        y = (lat - self.lat0[rule]) * self.k_north[rule]
        distance = shapely.distance(self.boundary[rule], shapely.points(x, y))
        inside = shapely.contains_xy(self.geometry[rule], x, y)
        return np.asarray(np.where(inside, distance, -distance), dtype=np.float64)

    def codes(
        self, rule: NDArray[np.int64], lat: Floats, lon: Floats, acc: Floats
    ) -> NDArray[np.int8]:
        """Codes for fix/zone pairs; exact geometry only where the bounds cannot decide."""
        x = wrap_degrees(lon - self.lon0[rule]) * self.k_east[rule]
        y = (lat - self.lat0[rule]) * self.k_north[rule]
        inner = self.inner[rule]
        lower = inner[:, 2] - np.hypot(x - inner[:, 0], y - inner[:, 1])
        box = self.bbox[rule]
        dx_in = np.minimum(x - box[:, 0], box[:, 2] - x)
        dy_in = np.minimum(y - box[:, 1], box[:, 3] - y)
        inside_box = np.minimum(dx_in, dy_in)
        outside_box = -np.hypot(np.maximum(-dx_in, 0.0), np.maximum(-dy_in, 0.0))
        upper = np.where(inside_box >= 0, inside_box, outside_box)
        exclusion = self.exclusion[rule]
        s_low = np.where(exclusion, lower, -upper)
        s_high = np.where(exclusion, upper, -lower)
        raise_at = certainty.breach_raise_depth(acc)
        clear_at = certainty.clear_depth(raise_at, acc)
        out = np.zeros(len(rule), dtype=np.int8)
        out[s_low >= raise_at] = certainty.RAISE
        out[s_high <= clear_at] = certainty.CLEAR
        settled_hold = (s_high < raise_at) & (s_low > clear_at)
        todo = np.flatnonzero((out == 0) & ~settled_hold)
        if len(todo):
            r = rule[todo]
            px, py = x[todo], y[todo]
            distance = shapely.distance(self.boundary[r], shapely.points(px, py))
            inside = shapely.contains_xy(self.geometry[r], px, py)
            depth = np.where(inside, distance, -distance)
            s = np.where(exclusion[todo], depth, -depth)
            out[todo] = certainty.codes(s, raise_at[todo], acc[todo])
        return out

    def changes(
        self,
        rule: NDArray[np.int64],
        lat: Floats,
        lon: Floats,
        acc: Floats,
        raised: NDArray[np.bool_],
    ) -> tuple[NDArray[np.int8], Floats]:
        """``codes`` of pairs whose rules are in state ``raised``, where only a state change
        matters: a code that cannot change its rule's state (a raised zone's fix on the
        forbidden side, a quiet zone's on the allowed side) comes back HOLD. With the exact
        depth of every pair that may change (NaN elsewhere), for their events.

        So exact geometry runs only near a change: the side of the edge from the sectors
        (``sectors``), shapely's containment where they cannot tell, and one call of its
        distance for the pairs whose side leaves a change possible, codes and depths at once.
        """
        x = wrap_degrees(lon - self.lon0[rule]) * self.k_east[rule]
        y = (lat - self.lat0[rule]) * self.k_north[rule]
        side = self._sides(rule, x, y)
        unknown = np.flatnonzero(side == 0)
        if len(unknown):
            inside = shapely.contains_xy(self.geometry[rule[unknown]], x[unknown], y[unknown])
            side[unknown] = np.where(inside, 1, -1)
        # On the forbidden side a raised rule stays raised; on the allowed side a quiet one
        # stays quiet (its depth is at most 0, below a positive raise depth).
        exclusion = self.exclusion[rule]
        forbidden = (side > 0) == exclusion
        raise_at = certainty.breach_raise_depth(acc)
        still = np.where(raised, forbidden, ~forbidden & (raise_at > 0))
        out = np.zeros(len(rule), dtype=np.int8)
        depth = np.full(len(rule), np.nan)
        near = np.flatnonzero(~still)
        if not len(near):
            return out, depth
        px, py = x[near], y[near]
        distance = shapely.distance(self.boundary[rule[near]], shapely.points(px, py))
        exact = np.where(side[near] > 0, distance, -distance)  # as ``depths`` gives it
        out[near] = certainty.codes(
            np.where(exclusion[near], exact, -exact), raise_at[near], acc[near]
        )
        depth[near] = exact
        return out, depth

    def _sides(self, rule: NDArray[np.int64], x: Floats, y: Floats) -> NDArray[np.int8]:
        """1 where a point is surely inside its zone, -1 surely outside, 0 where the sectors
        cannot tell (within a sector's band around the edge)."""
        dx = x - self._inner_x[rule]
        dy = y - self._inner_y[rule]
        k = sectors.sector_of(dx, dy)
        rho = np.sqrt(dx * dx + dy * dy)  # np.hypot is ten times slower; the bounds' slack
        # (a part in a billion) is far above either's rounding
        k += self._sector_base[rule]
        bounds = self._bounds[k].view(np.float32)  # near, far, near, far...
        inside = (rho < bounds[0::2]).view(np.int8)
        return inside - (rho > bounds[1::2]).view(np.int8)


def _sector_bounds(
    shapes: list[Shape],
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """Sector bounds (near, far) of each distinct shape, one row each, and each shape's row:
    from the shared cache (by digest), else made, all of them in one vectorised pass."""
    rows: dict[bytes | int, int] = {}  # by digest (or identity, a shape with none)
    row_of = np.empty(len(shapes), dtype=np.int64)
    pairs: list[tuple[NDArray[np.float32], NDArray[np.float32]] | None] = []
    todo: list[tuple[int, Shape]] = []
    for k, sh in enumerate(shapes):
        key: bytes | int = sh.digest or id(sh)
        row = rows.get(key)
        if row is None:
            row = rows[key] = len(pairs)
            found = _SECTORS.get(sh.digest) if sh.digest else None
            pairs.append(found)
            if found is None:
                todo.append((row, sh))
        row_of[k] = row
    if todo:
        near, far = _make_sectors([sh for _, sh in todo])
        if len(_SECTORS) + len(todo) > _SHAPES_MAX:
            _SECTORS.clear()
        for j, (row, sh) in enumerate(todo):
            pairs[row] = (near[j], far[j])
            if sh.digest:
                _SECTORS[sh.digest] = (near[j], far[j])
    near_rows = np.zeros((len(pairs), sectors.SECTORS), dtype=np.float32)
    far_rows = np.zeros((len(pairs), sectors.SECTORS), dtype=np.float32)
    for row, pair in enumerate(pairs):
        assert pair is not None
        near_rows[row], far_rows[row] = pair
    return near_rows, far_rows, row_of


def _make_sectors(shapes: list[Shape]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``sectors.bounds`` of shapes, in float32 rounded to the safe side (near down, far up)."""
    near, far = sectors.bounds(
        np.array([sh.geometry for sh in shapes], dtype=object),
        np.array([sh.inner_x for sh in shapes], dtype=np.float64),
        np.array([sh.inner_y for sh in shapes], dtype=np.float64),
    )
    near32 = near.astype(np.float32)
    up = near32.astype(np.float64) > near
    near32[up] = np.nextafter(near32[up], np.float32(-np.inf))
    far32 = far.astype(np.float32)
    down = far32.astype(np.float64) < far
    far32[down] = np.nextafter(far32[down], np.float32(np.inf))
    return near32, far32

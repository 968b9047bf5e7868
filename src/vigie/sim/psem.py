"""Mobile monitoring (PSEM): a GPS bracelet, an inclusion zone and exclusion zones.

The wearer's home, work and errands lie in a box; everyday street routes stay in that box
(see `geography.route`), and the exclusion zones are placed outside it, so ordinary days never
breach. Breaches are trips made on purpose: into an exclusion zone while it applies (deep
enough and long enough to be unmistakable on the ground), or out of the inclusion zone. Some
errands walk along the edge of a block-shaped exclusion zone, just outside: that is where a
detector that ignores GPS accuracy cries wolf.
"""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from vigie.sim.battery import battery_curve, charging_sessions
from vigie.sim.case import TZ, CaseContext, CaseOutput, tamper_episodes
from vigie.sim.daily import Plan, ordinary_days, with_trip
from vigie.sim.geography import (
    Place,
    blob_ring,
    circle_ring,
    distance_m,
    geojson_polygon,
    lonlat,
    rectangle_ring,
    street_place,
    town_origin,
)
from vigie.sim.gps import Outbox, draw_coverage, gps_outbox, silence_truth
from vigie.sim.intervals import Interval, from_mask, intersect, minus
from vigie.sim.schedule import local_midnights, window_intervals
from vigie.sim.track import Track, follow_plan

SCHOOL_HOURS = [{"days": "mon-fri", "from": "08:00", "to": "18:00"}]
NIGHT_HOURS = [{"days": "mon-sun", "from": "22:00", "to": "06:00"}]


class Zone:
    """A zone as written to the placement, with its geometry for truth.

    Round zones are written as the replay format's circles (centre and radius, truth by
    geodesic distance); the others as GeoJSON polygons (truth by containment).
    """

    def __init__(
        self,
        zone_id: str,
        kind: str,
        ring: np.ndarray,
        schedule: list[dict[str, Any]] | None,
        circle: tuple[float, float, float] | None = None,
    ) -> None:
        self.id = zone_id
        self.kind = kind
        self.ring = ring
        self.schedule = schedule
        self.circle: tuple[float, float, float] | None = None
        if circle is None:
            self.geometry, self.polygon = geojson_polygon(ring)
        else:
            lon, lat = lonlat(np.array([circle[0]]), np.array([circle[1]]))
            self.circle = (round(float(lon[0]), 6), round(float(lat[0]), 6), round(circle[2], 1))
            self.geometry = {
                "type": "circle",
                "lat": self.circle[1],
                "lon": self.circle[0],
                "radius_m": self.circle[2],
            }

    def record(self) -> dict[str, Any]:
        """The placement's zone entry."""
        return {
            "id": self.id,
            "type": self.kind,
            "geometry": self.geometry,
            "schedule": self.schedule,
        }

    def inside(self, track: Track, times: np.ndarray) -> np.ndarray:
        """Whether the true position is inside the zone (as written) at each time."""
        lon, lat = lonlat(*track.position(times))
        if self.circle is not None:
            c_lon, c_lat, radius = self.circle
            return distance_m(lon, lat, c_lon, c_lat) <= radius
        return np.asarray(shapely.contains_xy(self.polygon, lon, lat))


def _box(rng: np.random.Generator) -> tuple[Place, Place | None, list[Place], tuple[float, ...]]:
    cx, cy = town_origin(rng)
    half = float(rng.uniform(1_500, 3_500))

    def somewhere(indoor: bool = True) -> Place:
        return street_place(cx + rng.uniform(-half, half), cy + rng.uniform(-half, half), indoor)

    home = somewhere()
    work = somewhere() if rng.random() < 0.7 else None
    errands = [somewhere() for _ in range(int(rng.integers(1, 4)))]
    return home, work, errands, (cx - half - 100, cy - half - 100, cx + half + 100, cy + half + 100)


def generate(ctx: CaseContext) -> CaseOutput:
    """A PSEM case over the span."""
    rng = ctx.rng()
    home, work, errands, (x0, y0, x1, y1) = _box(rng)
    midnights = local_midnights(TZ, ctx.start_s, ctx.end_s)

    # A block east of the box (its west edge along a street), and round zones elsewhere.
    gap = float(rng.uniform(600, 2_500))
    bx0, by0 = x1 + gap, float(rng.uniform(y0, y1 - 800))
    block = rectangle_ring(bx0, by0, bx0 + float(rng.uniform(800, 1_500)), by0 + 800)
    zones = [Zone("Z1", "exclusion", block, SCHOOL_HOURS if rng.random() < 0.6 else None)]
    # Field noise also puts most wearers' homes (and some workplaces) 100-400 m west of the
    # block, where every fix whose error points east tests the detector.
    nrng = ctx.noise_rng() if ctx.noise else None
    if nrng is not None:
        if nrng.random() < 0.6:
            home = _near_block(nrng, bx0, by0, indoor=True)
        if work is not None and nrng.random() < 0.3:
            work = _near_block(nrng, bx0, by0, indoor=True)
    if rng.random() < 0.7:
        r = float(rng.uniform(400, 900))
        cy_ = y1 + r + float(rng.uniform(600, 2_000))
        cx_ = float(rng.uniform(x0, x1))
        hours = NIGHT_HOURS if rng.random() < 0.5 else None
        zones.append(Zone("Z2", "exclusion", circle_ring(cx_, cy_, r), hours, (cx_, cy_, r)))
    reach = max(x1 - x0, y1 - y0) / 2 + 9_000
    inclusion = Zone("ZI", "inclusion", blob_ring(rng, (x0 + x1) / 2, (y0 + y1) / 2, reach), None)
    zones.append(inclusion)

    plan = ordinary_days(rng, midnights, TZ, home, work, errands)
    days = [int(d) for d in rng.permutation(len(midnights))]
    plan, clear = _breach_trips(rng, ctx, plan, home, zones, midnights, days)
    plan = _edge_walks(rng, plan, home, zones[0], midnights, days)
    track = follow_plan(rng, ctx.start_s, ctx.end_s, home, plan)

    placement = {
        "kind": "placement",
        "case": ctx.case,
        "measure": "psem",
        "wearer": ctx.wearer,
        "zones": [z.record() for z in zones],
        "tz": TZ,
    }
    out = CaseOutput(placement, Outbox())
    sessions = charging_sessions(rng, track, home, midnights, skip_rate=0.04)
    battery = battery_curve(ctx.start_s, ctx.end_s, float(rng.uniform(0.9, 1.0)), sessions)
    coverage = draw_coverage(rng, track, ctx.start_s, ctx.end_s, clear)
    out.outbox.extend(
        gps_outbox(rng, ctx.wearer, track, ctx.start_s, ctx.end_s, battery, coverage, nrng)
    )
    tamper_episodes(rng, ctx, ctx.wearer, "strap_open", 0.15, None, out)

    times = track.truth_times()
    dead = battery.flat(ctx.start_s, ctx.end_s) + coverage.silences
    for zone in zones:
        inside = zone.inside(track, times)
        where = inside if zone.kind == "exclusion" else ~inside
        breach = minus(
            intersect(
                from_mask(times, where, ctx.end_s),
                window_intervals(zone.schedule, TZ, ctx.start_s, ctx.end_s),
            ),
            dead,  # a dead or silenced bracelet shows nothing: its loss of signal is the alarm
        )
        kind = "zone_entry" if zone.kind == "exclusion" else "zone_exit"
        out.add_truth(ctx, kind, ctx.wearer, breach, {"zone": zone.id})
    out.add_truth(ctx, "low_battery", ctx.wearer, battery.below(0.20, ctx.start_s, ctx.end_s))
    heard = out.outbox.heard(ctx.wearer)
    out.add_truth(ctx, "signal_lost", ctx.wearer, silence_truth(heard, ctx.start_s, ctx.end_s, 600))
    return out


def _near_block(rng: np.random.Generator, bx0: float, by0: float, indoor: bool) -> Place:
    """A place 100-400 m west of the block's west edge, level with the block."""
    return Place(bx0 - float(rng.uniform(100, 400)), by0 + float(rng.uniform(100, 700)), indoor)


def _depart_in_hours(
    rng: np.random.Generator, midnight: int, schedule: list[dict[str, Any]] | None
) -> int:
    """A departure time on that day for a trip that should land while the zone applies."""
    if schedule is SCHOOL_HOURS:
        return midnight + int(rng.uniform(9.5, 14.5) * 3_600)
    if schedule is NIGHT_HOURS:
        return midnight + int(rng.uniform(22.2, 23.0) * 3_600)
    return midnight + int(rng.uniform(10.0, 19.0) * 3_600)


def _inside_point(rng: np.random.Generator, zone: Zone, depth: float) -> Place:
    """An outdoor point at least `depth` metres inside a zone."""
    polygon = shapely.Polygon(zone.ring).buffer(-depth)
    minx, miny, maxx, maxy = polygon.bounds
    while True:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if polygon.contains(shapely.Point(x, y)):
            return Place(float(x), float(y), indoor=False)


def _breach_trips(
    rng: np.random.Generator,
    ctx: CaseContext,
    plan: Plan,
    home: Place,
    zones: list[Zone],
    midnights: list[int],
    days: list[int],
) -> tuple[Plan, list[Interval]]:
    """Trips into exclusion zones while they apply, and out of the inclusion zone."""
    clear: list[Interval] = []
    weekly = ctx.days / 7
    for zone in zones:
        if not days or rng.random() >= (0.45 if zone.kind == "exclusion" else 0.3) * weekly:
            continue
        day = days.pop(0)
        if zone.schedule is SCHOOL_HOURS:  # a weekday, then
            weekdays = [d for d in [day, *days] if _weekday(midnights[d]) < 5]
            if not weekdays:
                continue
            day = weekdays[0]
            if day in days:
                days.remove(day)
        depart = _depart_in_hours(rng, midnights[day], zone.schedule)
        if zone.kind == "exclusion":
            place = _inside_point(rng, zone, 250.0)
        else:
            cx, cy = zone.ring.mean(axis=0)
            reach = float(np.max(np.hypot(zone.ring[:, 0] - cx, zone.ring[:, 1] - cy)))
            angle = rng.uniform(0, 2 * np.pi)
            far = reach + float(rng.uniform(1_500, 5_000))
            place = Place(float(cx + far * np.cos(angle)), float(cy + far * np.sin(angle)), False)
        stay = int(rng.integers(15 * 60, 45 * 60))
        plan, (_arrive, leave) = with_trip(plan, home, depart, place, stay)
        clear.append((depart, leave + 3_600))
    return plan, clear


def _edge_walks(
    rng: np.random.Generator,
    plan: Plan,
    home: Place,
    block: Zone,
    midnights: list[int],
    days: list[int],
) -> Plan:
    """Walks along the outside of the block zone, 10-35 m from its edge, while it applies."""
    bx0 = float(block.ring[:, 0].min())
    by0, by1 = float(block.ring[:, 1].min()), float(block.ring[:, 1].max())
    for day in list(days):
        if rng.random() >= 0.35:
            continue
        if block.schedule is SCHOOL_HOURS and _weekday(midnights[day]) >= 5:
            continue
        days.remove(day)
        place = Place(
            bx0 - float(rng.uniform(10, 35)), float(rng.uniform(by0 + 100, by1 - 100)), False
        )
        depart = _depart_in_hours(rng, midnights[day], block.schedule)
        plan, _ = with_trip(plan, home, depart, place, int(rng.integers(15 * 60, 45 * 60)))
    return plan


def _weekday(midnight: int) -> int:
    return datetime.fromtimestamp(midnight, UTC).astimezone(ZoneInfo(TZ)).weekday()

"""Throughput of the detection engine's vectorized path against a per-fix loop.

Populations come from the simulator: a few hundred simulated PSEM and BAR cases (zones per
person, BAR pairs with protected places) are generated for a day, and their placements and GPS
fixes are cloned under new ids up to the target number of devices. Every micro-batch then holds
one fix per device, all at the same time step (30 s apart), positions taken from the simulated
tracks (noise, accuracy and breaches included).

Measured: fixes per second of ``Engine.process_positions`` on 1, 10,000 and 100,000 devices;
the same fixes through a straightforward per-fix loop (shapely ``contains`` per zone, pyproj
geodesic distance per protected target) on a sample, in the same process; bytes of engine
state per device (``len(snapshot()) / devices``, and tracemalloc's count of what building and
running the engine holds); set-up time (adding the placements, then the first batch, which
builds the rule tables). Prints figures and writes ``bench/results/detect.json``. Not a test.

The "edge walkers" run (issue 13): PSEM cases each with a drawn 35-vertex exclusion zone, 30 %
of the wearers walking along their zone's edge (10-40 m in or out, crossing it one fix in 20,
so every one of their fixes needs exact geometry and states change often), the others far
away; the engine against plain ``shapely.contains_xy`` (point in polygon, no state, no
accuracy, no events) on prepared polygons (GEOS's segment index) and on unprepared ones (as
shapely leaves them: with one point per polygon, about as fast), and a PostGIS join
(``ST_Contains`` per fix against its case's zone, a cluster of its own) on the same fixes, in
one run.

    .venv/bin/python bench/detect.py [--quick] [--no-postgis]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import shape

from vigie.detect import Engine
from vigie.sim.case import CaseContext
from vigie.sim.scenario import generate_case, span_of

RESULTS = Path(__file__).with_name("results") / "detect.json"
STEP_MS = 30_000
GEOD = Geod(ellps="WGS84")


class Templates:
    """Simulated cases whose placements and fix sequences get cloned."""

    def __init__(self, count: int, seed: int) -> None:
        start, end = span_of(datetime(2026, 11, 23).date(), 1)
        self.placements: list[dict[str, Any]] = []
        self.fixes: dict[tuple[int, str], np.ndarray] = {}  # (template, role) -> [n, 3]
        for i in range(count):
            case = generate_case(CaseContext(i, seed, start, end), "bar" if i % 2 else "psem")
            self.placements.append(case.placement)
            by_device: dict[str, list[tuple[str, float, float, float]]] = {}
            for line in case.outbox.lines:
                if '"type":"position"' in line:
                    r = json.loads(line)
                    by_device.setdefault(r["device"], []).append(
                        (r["t"], r["lat"], r["lon"], r["accuracy_m"])
                    )
            for role in ("wearer", "protected"):
                device = case.placement.get(role)
                if device:
                    rows = sorted(by_device.get(device, []))
                    self.fixes[(i, role)] = np.array([r[1:] for r in rows], dtype=float)


def clone(placement: dict[str, Any], n: int) -> dict[str, Any]:
    """The placement under new case and device ids."""
    p = dict(placement)
    p["case"] = f"K{n:07d}"
    p["wearer"] = f"W{n:07d}"
    if p.get("protected"):
        p["protected"] = f"Q{n:07d}"
    return p


class Population:
    """Cloned cases up to `devices` GPS devices, their engine indices and fix sequences."""

    def __init__(self, templates: Templates, devices: int) -> None:
        self.placements: list[dict[str, Any]] = []
        self.sources: list[tuple[int, str]] = []  # (template, role) of each GPS device
        n = 0
        while len(self.sources) < devices:
            j = n % len(templates.placements)
            p = clone(templates.placements[j], n)
            roles = [r for r in ("wearer", "protected") if p.get(r)]
            if len(self.sources) + len(roles) > devices:
                roles = roles[: devices - len(self.sources)]
                if "protected" not in roles:
                    p.pop("protected", None)
                    p.pop("alert_distance_km", None)
                    p.pop("protected_places", None)
                    p["measure"] = "psem"
            self.placements.append(p)
            self.sources += [(j, r) for r in roles]
            n += 1
        self.ids = [p[r] for p in self.placements for r in ("wearer", "protected") if p.get(r)][
            :devices
        ]
        keys = sorted(set(self.sources))
        lengths = np.array([max(len(templates.fixes[k]), 1) for k in keys])
        width = int(lengths.max())
        table = np.zeros((len(keys), width, 3))
        for row, k in enumerate(keys):
            f = templates.fixes[k]
            if len(f):
                table[row, : len(f)] = f
            else:  # a device with no fix that day: park it far from everything
                table[row, :] = (0.0, 0.0, 10.0)
        slot = {k: i for i, k in enumerate(keys)}
        self.rows = np.array([slot[s] for s in self.sources])
        self.lengths = lengths[self.rows]
        self.table = table

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latitudes, longitudes and accuracies of every device's fix number `step`."""
        cols = step % self.lengths
        cells = self.table[self.rows, cols]
        return cells[:, 0], cells[:, 1], cells[:, 2]


def engine_throughput(
    pop: Population, batches: int, t0_ms: int, trace_memory: bool
) -> dict[str, Any]:
    """Build an engine for the population and time `process_positions` over `batches`.

    With `trace_memory`, tracemalloc counts what building the engine and a first batch hold
    (it doubles the set-up time, so the largest population goes without).
    """
    if trace_memory:
        tracemalloc.start()
    began = time.perf_counter()
    engine = Engine()
    for p in pop.placements:
        engine.add_placement(p)
    index = np.array([engine.device_index(d) for d in pop.ids], dtype=np.int32)
    setup_s = time.perf_counter() - began
    began = time.perf_counter()
    warm = engine.process_positions(index, np.full(len(index), t0_ms, np.int64), *pop.batch(0))
    first_batch_s = time.perf_counter() - began  # builds the rule tables and zone schedules
    held, peak = tracemalloc.get_traced_memory() if trace_memory else (0, 0)
    tracemalloc.stop()  # it slows allocation-heavy code: off while timing
    fixes = 0
    events = len(warm)
    elapsed = 0.0
    for b in range(1, batches + 1):
        lat, lon, acc = pop.batch(b)
        t = np.full(len(index), t0_ms + b * STEP_MS, dtype=np.int64)
        began = time.perf_counter()
        events += len(engine.process_positions(index, t, lat, lon, acc))
        elapsed += time.perf_counter() - began
        fixes += len(index)
    snapshot = engine.snapshot()
    return {
        "devices": len(index),
        "cases": len(pop.placements),
        "setup_s": round(setup_s, 2),
        "first_batch_s": round(first_batch_s, 2),
        "fixes": fixes,
        "seconds": round(elapsed, 3),
        "fixes_per_s": round(fixes / elapsed),
        "alarm_events": events,
        "snapshot_bytes_per_device": round(len(snapshot) / len(index), 1),
        "tracemalloc_bytes_per_device": round(held / len(index), 1) if trace_memory else None,
        "tracemalloc_peak_mb": round(peak / 2**20, 1) if trace_memory else None,
    }


def loop_throughput(pop: Population, sample: int) -> dict[str, Any]:
    """The per-fix loop on `sample` fixes: every device's next fix, batch after batch."""
    rules: list[tuple[list[Any], list[tuple[float, float]], float, int | None]] = []
    position_of = {device: i for i, device in enumerate(pop.ids)}
    for p in pop.placements:
        zones: list[tuple[Any, ...]] = []
        for z in p.get("zones", []):
            g = z["geometry"]
            if g["type"] == "circle":
                zones.append(("circle", g["lon"], g["lat"], g["radius_m"]))
            else:
                polygon = shape(g)
                shapely.prepare(polygon)
                zones.append(("polygon", polygon))
        targets = [(pl["lon"], pl["lat"]) for pl in p.get("protected_places", [])]
        limit = float(p.get("alert_distance_km", 0)) * 1_000
        other = position_of.get(p.get("protected", ""))
        rules.append((zones, targets, limit, other))
        if p.get("protected"):
            rules.append(([], [], 0.0, None))  # the protected person's fix only updates a position
    devices = len(pop.ids)
    batches = [pop.batch(b) for b in range(1, sample // devices + 2)]
    began = time.perf_counter()
    hits = 0
    for k in range(sample):
        i = k % devices
        lat, lon, _ = batches[k // devices]
        zones, targets, limit, other = rules[i]
        x, y = float(lon[i]), float(lat[i])
        if other is not None:  # the wearer to the protected person's latest fix
            _, _, d = GEOD.inv(x, y, float(lon[other]), float(lat[other]))
            hits += d <= 2 * limit
        for z in zones:
            if z[0] == "circle":
                _, _, d = GEOD.inv(x, y, z[1], z[2])
                hits += d <= z[3]
            else:
                hits += z[1].contains(shapely.Point(x, y))
        for tx, ty in targets:
            _, _, d = GEOD.inv(x, y, tx, ty)
            hits += d <= 2 * limit
    elapsed = time.perf_counter() - began
    return {"fixes": sample, "seconds": round(elapsed, 3), "fixes_per_s": round(sample / elapsed)}


# Untimed batches before the engine and contains_xy are compared (see `edge_walkers`).
WARM_BATCHES = 10


def drawn_ring(n: int) -> tuple[list[list[float]], float, float]:
    """A 35-vertex exclusion ring about 400 m across, and its centre."""
    lat, lon = 43.0 + (n % 100) * 0.05, 1.0 + (n // 100) * 0.05
    rng = np.random.default_rng(n)
    angles = 2 * np.pi * np.arange(34) / 34
    radius = 0.002 * (0.8 + 0.4 * rng.random(34))
    ring = [
        [lon + r * 1.4 * np.cos(a), lat + r * np.sin(a)]
        for a, r in zip(angles, radius, strict=True)
    ]
    return [*ring, ring[0]], lat, lon


def edge_walkers(
    devices: int, batches: int, postgis: bool, warm: int = WARM_BATCHES
) -> dict[str, Any]:
    """The engine, shapely.contains_xy and PostGIS on one edge-walking workload.

    Both sides first run `warm` batches untimed: the engine's first builds its rule tables and
    zone sectors, and contains_xy alone took 1.6-4 ms a batch over its first eight batches, then
    0.55 ms (10,000 devices, measured): a short timed run would count that against it.
    """
    rings = [drawn_ring(n) for n in range(devices)]
    engine = Engine()
    for n, (ring, _, _) in enumerate(rings):
        zone = {
            "id": "Z",
            "type": "exclusion",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        engine.add_placement(
            {"kind": "placement", "case": f"K{n}", "measure": "psem", "wearer": f"D{n}"}
            | {"signal_timeout_s": 86_400, "zones": [zone]}
        )
    index = np.array([engine.device_index(f"D{n}") for n in range(devices)], dtype=np.int32)
    rng = np.random.default_rng(13)
    walker = rng.random(devices) < 0.3
    vertex = np.array([np.array(r[0][:-1]) for r in rings])  # [devices, 34, 2] lon, lat
    centre = np.array([(r[2], r[1]) for r in rings])  # lon, lat
    fixes = []
    side = np.where(rng.random(devices) < 0.5, 1.0, -1.0)
    for b in range(warm + batches):
        k = (b + np.arange(devices)) % 34
        edge = vertex[np.arange(devices), k]
        # Along the edge, 10-40 m in or out, crossing it now and then (1 fix in 20); the others
        # 1 km outside their zone.
        side = np.where(rng.random(devices) < 0.05, -side, side)
        scale = 1.0 + side * rng.uniform(10, 40, devices) / 220
        lon = np.where(walker, centre[:, 0] + (edge[:, 0] - centre[:, 0]) * scale, centre[:, 0])
        lat = np.where(
            walker, centre[:, 1] + (edge[:, 1] - centre[:, 1]) * scale, centre[:, 1] + 0.01
        )
        fixes.append((lat, lon, np.full(devices, 5.0)))
    polygons = np.array([shapely.Polygon(r[0]) for r in rings], dtype=object)
    shapely.prepare(polygons)
    unprepared = np.array([shapely.Polygon(r[0]) for r in rings], dtype=object)
    t0 = span_of(datetime(2026, 11, 23).date(), 1)[0] * 1000
    began = time.perf_counter()
    engine.process_positions(index, np.full(devices, t0, np.int64), *fixes[0])
    first_batch_s = time.perf_counter() - began  # builds the rule tables and zone sectors
    for b in range(warm):
        lat, lon, acc = fixes[b]
        if b:
            engine.process_positions(
                index, np.full(devices, t0 + b * STEP_MS, np.int64), lat, lon, acc
            )
        shapely.contains_xy(polygons, lon, lat)
        shapely.contains_xy(unprepared, lon, lat)
    # Batch by batch, the engine then contains_xy on the same fixes: on a shared, loaded
    # host both see the same load, so their ratio holds where absolute figures swing.
    events = inside = 0
    engine_b, shapely_b, unprepared_b = [], [], []
    for b in range(warm, warm + batches):
        lat, lon, acc = fixes[b]
        t = np.full(devices, t0 + b * STEP_MS, np.int64)
        began = time.perf_counter()
        events += len(engine.process_positions(index, t, lat, lon, acc))
        engine_b.append(time.perf_counter() - began)
        began = time.perf_counter()
        inside += int(shapely.contains_xy(polygons, lon, lat).sum())
        shapely_b.append(time.perf_counter() - began)
        began = time.perf_counter()
        shapely.contains_xy(unprepared, lon, lat)
        unprepared_b.append(time.perf_counter() - began)
    engine_s, shapely_s = sum(engine_b), sum(shapely_b)
    # Each batch's pair ran back to back: the median of their ratios shrugs off a burst of
    # load that lands on one side of one pair.
    per_batch = np.array(shapely_b) / np.array(engine_b)
    per_batch_unprepared = np.array(unprepared_b) / np.array(engine_b)
    n = devices * batches
    result: dict[str, Any] = {
        "devices": devices,
        "walkers_share": 0.3,
        "warm_batches": warm,
        "fixes": n,
        "alarm_events": events,
        "engine_first_batch_s": round(first_batch_s, 2),
        "engine_fixes_per_s": round(n / engine_s),
        "shapely_contains_xy_fixes_per_s": round(n / shapely_s),
        "engine_over_contains_xy": round(shapely_s / engine_s, 2),
        "engine_over_contains_xy_median_batch": round(float(np.median(per_batch)), 2),
        "shapely_contains_xy_unprepared_fixes_per_s": round(n / sum(unprepared_b)),
        "engine_over_contains_xy_unprepared_median_batch": round(
            float(np.median(per_batch_unprepared)), 2
        ),
        "postgis_join_fixes_per_s": None,
    }
    if postgis:
        result["postgis_join_fixes_per_s"] = postgis_join(rings, fixes[warm:])
        if result["postgis_join_fixes_per_s"]:
            result["engine_over_postgis"] = round(
                result["engine_fixes_per_s"] / result["postgis_join_fixes_per_s"], 1
            )
    return result


def postgis_join(rings: list[Any], fixes: list[tuple[Any, Any, Any]]) -> int | None:
    """Fixes per second of a PostGIS join: each fix against its case's zone (GiST index)."""
    import importlib.util

    import psycopg

    spec = importlib.util.spec_from_file_location(
        "bench_pipeline", Path(__file__).with_name("pipeline.py")
    )
    assert spec is not None and spec.loader is not None
    pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pipeline)
    with (
        pipeline.postgres() as url,
        psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn,
    ):
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.execute("CREATE TABLE zones (dev integer PRIMARY KEY, geom geometry(Polygon, 4326))")
        with conn.cursor().copy("COPY zones (dev, geom) FROM STDIN") as copy:
            for n, (ring, _, _) in enumerate(rings):
                wkt = "POLYGON((" + ",".join(f"{x} {y}" for x, y in ring) + "))"
                copy.write_row((n, f"SRID=4326;{wkt}"))
        conn.execute("CREATE INDEX ON zones USING gist (geom)")
        conn.execute("ANALYZE zones")
        conn.commit()
        devs = list(range(len(rings)))
        query = (
            "SELECT count(*) FROM unnest(%s::int[], %s::float8[], %s::float8[]) "
            "AS f(dev, lon, lat) "
            "JOIN zones z ON z.dev = f.dev "
            "WHERE ST_Contains(z.geom, ST_SetSRID(ST_MakePoint(f.lon, f.lat), 4326))"
        )
        began = time.perf_counter()
        for lat, lon, _ in fixes:
            conn.execute(query, (devs, lon.tolist(), lat.tolist())).fetchone()
        elapsed = time.perf_counter() - began
    return round(len(rings) * len(fixes) / elapsed)


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip()


def main(argv: list[str]) -> int:
    """Run the benchmark and write its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (1 and 1,000 devices)")
    parser.add_argument("--templates", type=int, default=200, help="simulated cases to clone")
    parser.add_argument("--no-postgis", action="store_true", help="leave out the PostGIS join")
    parser.add_argument("--edge-only", action="store_true", help="only the edge-walkers run")
    args = parser.parse_args(argv)
    edge = edge_walkers(
        1_000 if args.quick else 10_000, 5 if args.quick else 100, not args.no_postgis
    )
    print(
        f"edge walkers, {edge['devices']} devices: engine {edge['engine_fixes_per_s']:,} fixes/s, "
        f"shapely.contains_xy {edge['shapely_contains_xy_fixes_per_s']:,} fixes/s "
        f"(engine {edge['engine_over_contains_xy']}x, "
        f"median batch {edge['engine_over_contains_xy_median_batch']}x; unprepared "
        f"{edge['shapely_contains_xy_unprepared_fixes_per_s']:,} fixes/s, engine "
        f"{edge['engine_over_contains_xy_unprepared_median_batch']}x), "
        f"PostGIS join {edge['postgis_join_fixes_per_s'] or '-'} fixes/s"
    )
    if args.edge_only:
        RESULTS.parent.mkdir(exist_ok=True)
        path = RESULTS.with_name("detect-edge.json")
        path.write_text(
            json.dumps(edge | {"commit": commit(), "load_average": os.getloadavg()}, indent=2)
            + "\n"
        )
        print(f"wrote {path}")
        return 0
    sizes = [1, 1_000] if args.quick else [1, 10_000, 100_000]
    templates = Templates(20 if args.quick else args.templates, seed=7)
    t0_ms = span_of(datetime(2026, 11, 23).date(), 1)[0] * 1000
    runs = []
    for size in sizes:
        pop = Population(templates, size)
        batches = max(3, min(200, 2_000_000 // size)) if not args.quick else 5
        run = engine_throughput(pop, batches, t0_ms, trace_memory=size <= 10_000)
        run["loop"] = loop_throughput(pop, 20_000 if not args.quick else 2_000)
        run["ratio"] = round(run["fixes_per_s"] / run["loop"]["fixes_per_s"], 1)
        runs.append(run)
        print(
            f"{size:>7} devices: engine {run['fixes_per_s']:>10,} fixes/s, "
            f"per-fix loop {run['loop']['fixes_per_s']:>7,} fixes/s, ratio {run['ratio']:>6}x, "
            f"state {run['snapshot_bytes_per_device']:.0f} B/device (snapshot), "
            f"{run['tracemalloc_bytes_per_device'] or '-'} B/device (tracemalloc), "
            f"setup {run['setup_s']} s + first batch {run['first_batch_s']} s"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    result = {
        "benchmark": "detect",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "quick": args.quick,
        "step_s": STEP_MS / 1000,
        "commit": commit(),
        "load_average": os.getloadavg(),
        "edge_walkers": edge,
        "runs": runs,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

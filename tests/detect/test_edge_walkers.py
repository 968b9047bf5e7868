"""Wearers walking along their zone's edge (issue 13): the vectorised state changes and the
sector test of a fix's side give exactly the events of the record path, one fix at a time.

The workload of ``bench/detect.py``'s "edge walkers" at a small size, drawn at random: drawn
35-vertex zones (exclusion and inclusion, some with holes or two parts), wearers a few metres
to a few tens of metres in or out, crossing now and then, precise and coarse fixes, cases with
and without a confirmation bound. Many states change in every batch.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.detect.records import at, fix, psem, zone
from vigie.detect import Engine, sectors
from vigie.detect.scenario import parse_time
from vigie.detect.zones import shape_of


def _ring(rng: random.Random, lat: float, lon: float, size: float) -> list[list[float]]:
    ring = []
    for i in range(34):
        angle = 2 * math.pi * i / 34
        r = size * (0.8 + 0.4 * rng.random())
        ring.append([lon + r * 1.4 * math.cos(angle), lat + r * math.sin(angle)])
    return [*ring, ring[0]]


def _geometry(rng: random.Random, lat: float, lon: float) -> dict[str, Any]:
    outer = _ring(rng, lat, lon, 0.002)
    shape = rng.random()
    if shape < 0.2:  # a hole in the middle
        hole = [[x, y] for x, y in reversed(_ring(rng, lat, lon, 0.0004))]
        return {"type": "Polygon", "coordinates": [outer, hole]}
    if shape < 0.3:  # two parts
        other = _ring(rng, lat + 0.006, lon, 0.001)
        return {"type": "MultiPolygon", "coordinates": [[outer], [other]]}
    return {"type": "Polygon", "coordinates": [outer]}


def _walk(
    seed: int, cases: int, steps: int, mixed: bool = True
) -> tuple[list[str], list[str], Engine, Engine]:
    """`mixed`: some cases hold a breach for confirmation and some fixes are coarse (those
    batches take the record path, as they must); else every batch stays on the fast path."""
    rng = random.Random(seed)
    slow, fast = Engine(), Engine()
    walkers: list[tuple[str, list[list[float]], float, float]] = []
    for k in range(cases):
        lat, lon = 45.0 + (k % 10) * 0.03, 3.0 + (k // 10) * 0.03
        geometry = _geometry(rng, lat, lon)
        kind = "exclusion" if rng.random() < 0.7 else "inclusion"
        placement = psem(case=f"C{k}", wearer=f"W{k}", zones=[zone("Z", kind, geometry)])
        if mixed and rng.random() < 0.3:
            placement["confirm_s"] = 120.0
        slow.add_placement(placement)
        fast.add_placement(placement)
        ring = geometry["coordinates"][0] if geometry["type"] == "Polygon" else None
        walkers.append((f"W{k}", ring or geometry["coordinates"][0][0], lat, lon))
    side = {w[0]: rng.choice([-1.0, 1.0]) for w in walkers}
    slow_events: list[str] = []
    fast_events: list[str] = []
    for step in range(steps):
        batch = []
        for device, ring, lat, lon in walkers:
            if rng.random() < 0.15:
                side[device] = -side[device]
            vx, vy = ring[rng.randrange(34)]
            # 0-60 m in or out along the ray from the centre (or now and then exactly on it).
            scale = 1.0 + side[device] * rng.uniform(0.0, 60.0) / 220
            if rng.random() < 0.02:
                scale = 1.0
            p_lon, p_lat = lon + (vx - lon) * scale, lat + (vy - lat) * scale
            acc = rng.choice([3.0, 5.0, 5.0, 10.0, 25.0, 60.0] if mixed else [3.0, 5.0, 10.0, 25.0])
            batch.append(fix(device, step * 0.5, p_lat, p_lon, acc))
        rng.shuffle(batch)
        slow_events += [e.to_json() for e in slow.process(batch)]
        index = np.array([fast.device_index(r["device"]) for r in batch], dtype=np.int32)
        t_ms = np.full(len(batch), parse_time(at(step * 0.5)), dtype=np.int64)
        columns = [np.array([r[k] for r in batch]) for k in ("lat", "lon", "accuracy_m")]
        fast_events += [e.to_json() for e in fast.process_positions(index, t_ms, *columns)]
    return slow_events, fast_events, slow, fast


@pytest.mark.parametrize("seed", [0, 1])
def test_edge_walkers_give_the_record_path_events(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectorised: list[int] = []
    steps_of = Engine._zone_steps

    def spy(self: Engine, zr: Any, *rest: Any) -> None:
        vectorised.append(len(zr))
        steps_of(self, zr, *rest)

    monkeypatch.setattr(Engine, "_zone_steps", spy)
    slow_events, fast_events, slow, fast = _walk(seed, cases=60, steps=40, mixed=False)
    raised = sum('"state":"raised"' in e for e in slow_events)
    cleared = sum('"state":"cleared"' in e for e in slow_events)
    assert raised > 100 and cleared > 100  # states change in nearly every batch
    assert sum(vectorised) >= 0.9 * len(slow_events)  # on the vectorised path
    assert fast_events == slow_events
    assert fast.snapshot() == slow.snapshot()


@pytest.mark.parametrize("seed", [2, 3])
def test_mixed_edge_walkers_give_the_record_path_events(seed: int) -> None:
    slow_events, fast_events, slow, fast = _walk(seed, cases=60, steps=30)
    assert fast_events == slow_events
    assert fast.snapshot() == slow.snapshot()


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10**6))
def test_edge_walking_property(seed: int) -> None:
    slow_events, fast_events, slow, fast = _walk(seed, cases=12, steps=12, mixed=seed % 2 == 0)
    assert fast_events == slow_events
    assert fast.snapshot() == slow.snapshot()


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=10**6))
def test_the_sectors_never_misplace_a_point(seed: int) -> None:
    """Where the sectors say inside or outside, shapely says the same (points drawn on and
    around the edge, at vertices, along rays through vertices, and on sector boundaries)."""
    rng = random.Random(seed)
    shape = shape_of(_geometry(rng, 45.0, 3.0), "zones.0.geometry")
    near, far = sectors.bounds(
        np.array([shape.geometry], dtype=object),
        np.array([shape.inner_x]),
        np.array([shape.inner_y]),
    )
    ring = shapely.get_coordinates(shape.geometry)
    pick = ring[[rng.randrange(len(ring)) for _ in range(400)]]
    scale = np.array(
        [rng.choice([1.0, 1.0 + 1e-12, 1.0 - 1e-12, rng.uniform(0.9, 1.1)]) for _ in range(400)]
    )
    x = shape.inner_x + (pick[:, 0] - shape.inner_x) * scale
    y = shape.inner_y + (pick[:, 1] - shape.inner_y) * scale
    angle = (np.arange(200) * 2 * math.pi / sectors.SECTORS) - math.pi  # on sector boundaries
    radius = np.array([rng.uniform(0, 400) for _ in range(200)])
    x = np.concatenate([x, shape.inner_x + radius * np.cos(angle)])
    y = np.concatenate([y, shape.inner_y + radius * np.sin(angle)])
    k = sectors.sector_of(x - shape.inner_x, y - shape.inner_y)
    rho = np.hypot(x - shape.inner_x, y - shape.inner_y)
    inside = shapely.contains_xy(shape.geometry, x, y)
    assert inside[rho < near[0, k]].all()
    assert not inside[rho > far[0, k]].any()
    assert ((rho < near[0, k]) | (rho > far[0, k])).mean() > 0.3  # and they do decide

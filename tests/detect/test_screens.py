"""The fast path's screens only drop what surely cannot raise (so no alarm is ever lost)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.detect.records import circle, offset, square
from vigie.detect import certainty
from vigie.detect.engine.arrays import prox_may_raise
from vigie.detect.geodesy import distance_m
from vigie.detect.scenario import ZoneSpec
from vigie.detect.zones import ZoneTable, compile_zone, evaluate_one

_GEOMETRIES = [
    circle(48.85, 2.35, 250),
    square(48.85, 2.35, 0.01),
    {  # a thin diagonal band: its discs are far apart
        "type": "Polygon",
        "coordinates": [
            [[2.30, 48.80], [2.40, 48.90], [2.401, 48.899], [2.301, 48.799], [2.30, 48.80]]
        ],
    },
    circle(-33.9, 179.99, 400),  # across the antimeridian from some fixes
]


@settings(max_examples=300, deadline=None)
@given(
    which=st.integers(0, len(_GEOMETRIES) - 1),
    kind=st.sampled_from(["exclusion", "inclusion"]),
    bearing=st.floats(0, 360),
    metres=st.floats(0, 1_500),
    acc=st.sampled_from([0.0, 4.0, 15.0, 60.0, 150.0, 3000.0]),
)
def test_a_zone_fix_screened_out_never_raises(
    which: int, kind: str, bearing: float, metres: float, acc: float
) -> None:
    geometry = _GEOMETRIES[which]
    spec = ZoneSpec.model_validate({"id": "Z", "type": kind, "geometry": geometry})
    zone = compile_zone(spec, "C1", "B1", "Europe/Paris", "zones.0")
    lat, lon = offset(zone.shape.lat0, zone.shape.lon0, bearing, metres)
    table = ZoneTable([zone])
    raise_at = certainty.breach_raise_depth(np.array([acc]))
    for rule in (None, np.zeros(1, dtype=np.int64)):
        may = bool(table.may_raise(rule, np.array([lat]), np.array([lon]), raise_at)[0])
        code, _ = evaluate_one(zone, lat, lon, acc)
        assert may or code != certainty.RAISE


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(-70, 70),
    lon=st.floats(-180, 180),
    bearing=st.floats(0, 360),
    factor=st.floats(0, 2),
    reach=st.sampled_from([200.0, 1000.0, 4000.0]),
    u=st.sampled_from([0.0, 10.0, 80.0, 2500.0]),
)
def test_a_bar_pair_screened_out_is_beyond_reach(
    lat: float, lon: float, bearing: float, factor: float, reach: float, u: float
) -> None:
    lat2, lon2 = offset(lat, lon, bearing, factor * (reach + u))
    w_lat, w_lon, p_lat, p_lon = (np.array([v]) for v in (lat, lon, lat2, lon2))
    top = max(abs(lat), abs(lat2))
    may = bool(prox_may_raise(w_lat, w_lon, p_lat, p_lon, np.array([u]), np.array([reach]), top)[0])
    assert may or float(distance_m(w_lat, w_lon, p_lat, p_lon)[0]) > reach + u


@pytest.mark.parametrize("lat", [0.0, 48.85, 65.0])
@pytest.mark.parametrize("bearing", [0.0, 45.0, 90.0])
def test_a_bar_pair_just_within_reach_passes_the_screen(lat: float, bearing: float) -> None:
    reach, u = 1000.0, 10.0
    lat2, lon2 = offset(lat, 2.35, bearing, reach + u - 0.5)
    w_lat, w_lon, p_lat, p_lon = (np.array([v]) for v in (lat, 2.35, lat2, lon2))
    assert float(distance_m(w_lat, w_lon, p_lat, p_lon)[0]) <= reach + u
    top = max(abs(lat), abs(lat2))
    assert prox_may_raise(w_lat, w_lon, p_lat, p_lon, np.array([u]), np.array([reach]), top)[0]

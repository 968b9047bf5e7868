"""The hot path's distance approximation against pyproj's WGS84 geodesic."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from vigie.detect.geodesy import distance_m, wrap_degrees

GEOD = Geod(ellps="WGS84")


@settings(max_examples=400, deadline=None)
@given(
    lat=st.floats(-60, 60),
    lon=st.floats(-180, 180),
    bearing=st.floats(0, 360),
    metres=st.floats(1, 20_000),
)
def test_error_below_half_a_percent_up_to_20_km(
    lat: float, lon: float, bearing: float, metres: float
) -> None:
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing, metres)
    approx = float(distance_m(lat, lon, lat2, lon2))
    assert abs(approx - metres) <= 0.005 * metres


def test_vectorized_matches_one_by_one_and_handles_the_antimeridian() -> None:
    lat = np.array([48.85, 43.3, -33.9, 10.0])
    lon = np.array([2.35, 5.37, 151.2, 179.999])
    lat2 = lat + 0.01
    lon2 = np.array([2.36, 5.38, 151.21, -179.999])
    together = distance_m(lat, lon, lat2, lon2)
    for k in range(4):
        assert together[k] == float(distance_m(lat[k], lon[k], lat2[k], lon2[k]))
    assert together[3] < 1200  # 0.002 degrees of longitude plus 0.01 of latitude


def test_wrap_degrees_is_the_remainder_bit_for_bit() -> None:
    """Its shortcut (no remainder where every value is in range) gives the same bits."""
    rng = np.random.default_rng(3)
    edges = np.array([-180.0, -0.0, 0.0, 180.0, np.nextafter(180.0, 0.0), -179.5, 540.0])
    for values in (
        rng.uniform(-180, 180, 1000),  # the shortcut
        rng.uniform(-1e-9, 1e-9, 1000),
        np.concatenate([rng.uniform(-180, 180, 500), [np.nextafter(180.0, 0.0)]]),
        rng.uniform(-720, 720, 1000),  # out of range: the remainder
        edges,  # few: the remainder
    ):
        expected = (values + 180.0) % 360.0 - 180.0
        assert wrap_degrees(values).tobytes() == expected.tobytes()

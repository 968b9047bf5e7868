"""Zone geometry checks: valid polygons pass, broken ones are refused with a reason."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.cases.factories import square
from vigie.cases import CaseRefused
from vigie.cases.geometry import check_zones, zone_shape

BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def test_self_intersecting_zone_is_refused() -> None:
    with pytest.raises(CaseRefused, match="Self-intersection") as refused:
        zone_shape("Z9", BOWTIE)
    assert refused.value.field == "zones[Z9].geometry"


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"type": "Point", "coordinates": [2.3, 48.8]}, "must be a GeoJSON Polygon"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1]]]}, "unreadable"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [300, 0], [300, 1], [0, 0]]]}, "lon, lat"),
    ],
)
def test_malformed_zone_is_refused(geometry: dict[str, object], message: str) -> None:
    with pytest.raises(CaseRefused, match=message):
        zone_shape("Z1", geometry)


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(-60, 60),
    lon=st.floats(-170, 170),
    half=st.floats(0.001, 1),
    offset=st.floats(1.5, 5),
)
def test_home_refused_inside_exclusion_and_accepted_outside(
    lat: float, lon: float, half: float, offset: float
) -> None:
    zone = {"id": "Z", "type": "exclusion", "geometry": square(lat, lon, half), "schedule": None}
    with pytest.raises(CaseRefused, match="exclusion zone"):
        check_zones([zone], (lat, lon), [])
    check_zones([zone], (lat + offset * half, lon), [])  # outside: accepted


def test_circle_zones_are_checked_on_the_ellipsoid() -> None:
    circle = {"type": "circle", "lat": 48.85, "lon": 2.35, "radius_m": 500}
    zone = {"id": "C", "type": "exclusion", "geometry": circle, "schedule": None}
    with pytest.raises(CaseRefused, match="exclusion zone"):
        check_zones([zone], (48.853, 2.35), [])  # 334 m from the centre
    check_zones([zone], (48.856, 2.35), [])  # 667 m: outside
    with pytest.raises(CaseRefused, match="radius_m"):
        zone_shape("C", circle | {"radius_m": 0})

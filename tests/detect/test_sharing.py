"""Compiled zones and schedules are shared by content, and a zone's cheap bounds stay bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.detect.records import circle, offset, square
from vigie.detect import ScenarioError
from vigie.detect.scenario import WindowSpec, ZoneSpec
from vigie.detect.schedule import WeeklySchedule
from vigie.detect.zones import ZoneTable, compile_zone, exact_depth, shape_of

LAT, LON = 48.85, 2.35


def _zone(geometry: dict[str, object], kind: str = "exclusion") -> ZoneSpec:
    return ZoneSpec.model_validate({"id": "Z", "type": kind, "geometry": geometry})


def test_zones_with_the_same_geometry_share_one_compiled_shape() -> None:
    a = compile_zone(_zone(square(LAT, LON, 0.01)), "C1", "B1", "Europe/Paris", "zones.0")
    b = compile_zone(_zone(square(LAT, LON, 0.01)), "C2", "B2", "Europe/Paris", "zones.3")
    c = compile_zone(_zone(square(LAT, LON, 0.02)), "C3", "B3", "Europe/Paris", "zones.0")
    assert a.shape.geometry is b.shape.geometry and a.shape.inner_r == b.shape.inner_r
    assert c.shape.geometry is not a.shape.geometry and c.shape.inner_r > a.shape.inner_r
    assert (a.case, b.case) == ("C1", "C2")


def test_an_invalid_geometry_names_its_field_every_time() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    for field in ("zones.0", "zones.4"):
        with pytest.raises(ScenarioError) as caught:
            compile_zone(_zone(bowtie), "C1", "B1", "Europe/Paris", field)
        assert caught.value.field == f"{field}.geometry.coordinates"


def test_a_circle_zone_knows_its_inscribed_circle() -> None:
    shape = shape_of(circle(LAT, LON, 400), "zones.0.geometry")
    assert (shape.inner_x, shape.inner_y) == (0.0, 0.0)
    # The 128-sided polygon's apothem: the largest circle inside it.
    assert shape.inner_r == pytest.approx(400 * math.cos(math.pi / 128), rel=1e-9)
    assert shapely.contains_xy(shape.geometry, shape.inner_r * 0.999, 0.0)


def test_identical_hours_share_one_schedule() -> None:
    hours = [WindowSpec.model_validate({"days": "mon-fri", "from": "20:00", "to": "07:00"})]
    again = [WindowSpec.model_validate({"days": "mon-fri", "from": "20:00", "to": "07:00"})]
    other = [WindowSpec.model_validate({"days": "mon-fri", "from": "21:00", "to": "07:00"})]
    paris = WeeklySchedule.parse(hours, "Europe/Paris", "schedule")
    assert WeeklySchedule.parse(again, "Europe/Paris", "zones.1.schedule") is paris
    assert WeeklySchedule.parse(other, "Europe/Paris", "schedule") is not paris
    assert WeeklySchedule.parse(hours, "America/Cayenne", "schedule") is not paris


_SHAPES = [
    circle(LAT, LON, 300),
    square(LAT, LON, 0.004),
    {  # an L-shaped polygon: its bounding box is a loose upper bound
        "type": "Polygon",
        "coordinates": [
            [
                [LON, LAT],
                [LON + 0.01, LAT],
                [LON + 0.01, LAT + 0.003],
                [LON + 0.003, LAT + 0.003],
                [LON + 0.003, LAT + 0.01],
                [LON, LAT + 0.01],
                [LON, LAT],
            ]
        ],
    },
]


@settings(max_examples=150, deadline=None)
@given(
    which=st.integers(0, len(_SHAPES) - 1),
    kind=st.sampled_from(["exclusion", "inclusion"]),
    bearing=st.floats(0, 360),
    metres=st.floats(0, 1500),
    acc=st.sampled_from([3.0, 10.0, 30.0, 200.0, 2000.0]),
)
def test_vectorized_codes_agree_with_the_exact_zone_test(
    which: int, kind: str, bearing: float, metres: float, acc: float
) -> None:
    spec = _zone(_SHAPES[which], kind)
    zone = compile_zone(spec, "C1", "B1", "Europe/Paris", "zones.0")
    lat, lon = offset(LAT + 0.002, LON + 0.002, bearing, metres)
    table = ZoneTable([zone])
    code = table.codes(
        np.zeros(1, dtype=np.int64), np.array([lat]), np.array([lon]), np.array([acc])
    )
    depth = exact_depth(zone, lat, lon)
    s = depth if zone.exclusion else -depth
    raise_at = acc  # the whole accuracy circle inside, no cap (certainty.py)
    expected = 1 if s >= raise_at else (-1 if s <= raise_at - max(3.5 * acc, 20.0) else 0)
    assert int(code[0]) == expected


def test_a_rule_table_makes_every_zones_sectors_at_set_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sectors come with the table: a fix near an edge later makes none (no set-up in the
    hot path), and the table's answer is the exact one."""
    from vigie.detect import sectors

    geometry = square(LAT + 0.05, LON + 0.05, 0.004)
    zone = compile_zone(_zone(geometry), "C1", "B1", "Europe/Paris", "zones.0")
    table = ZoneTable([zone, zone])
    assert table._bounds.shape == (sectors.SECTORS,)  # one row per distinct shape
    assert table._sector_base.tolist() == [0, 0]

    def refused(*_: object) -> None:
        raise AssertionError("sectors made after set-up")

    monkeypatch.setattr(sectors, "bounds", refused)
    lat, lon = offset(LAT + 0.05, LON + 0.05, 90, 10)  # near the square's inside edge
    codes, depth = table.changes(
        np.zeros(1, dtype=np.int64),
        np.array([lat]),
        np.array([lon]),
        np.array([3.0]),
        np.zeros(1, dtype=bool),
    )
    assert depth[0] == pytest.approx(exact_depth(zone, lat, lon), abs=0)
    assert int(codes[0]) == (1 if exact_depth(zone, lat, lon) >= 3.0 else 0)


def test_a_stored_shape_brings_its_sectors_back_and_an_older_blob_still_seeds() -> None:
    from vigie.detect import zones

    geometry = square(LAT + 0.07, LON - 0.03, 0.003)
    shape = shape_of(geometry, "zones.0.geometry")
    blob = zones.shape_blob(shape)
    near, far, _ = zones._sector_bounds([shape])
    zones._SHAPES.pop(shape.digest)
    zones._SECTORS.pop(shape.digest)
    zones.seed_shapes([(shape.digest, blob)])
    seeded = zones._SHAPES[shape.digest]
    assert shapely.equals_exact(seeded.geometry, shape.geometry, tolerance=0)
    assert (seeded.inner_r, seeded.outer_r) == (shape.inner_r, shape.outer_r)
    again_near, again_far = zones._SECTORS[shape.digest]
    assert np.array_equal(again_near, near[0]) and np.array_equal(again_far, far[0])
    # A blob stored before sectors were (head and WKB only): the shape, sectors made later.
    zones._SHAPES.pop(shape.digest)
    zones._SECTORS.pop(shape.digest)
    head = zones._BLOB_HEAD.size
    older = blob[len(zones._BLOB_MARK) :][:head] + blob[len(zones._BLOB_MARK) + head + 1024 :]
    zones.seed_shapes([(shape.digest, older)])
    assert zones._SHAPES[shape.digest].inner_r == shape.inner_r
    assert shape.digest not in zones._SECTORS
    assert np.array_equal(zones._sector_bounds([zones._SHAPES[shape.digest]])[0], near)

"""Zones: entry into exclusion zones, exit from inclusion zones, schedules, GPS jitter."""

from __future__ import annotations

import numpy as np
import pytest

from tests.detect.records import (
    circle,
    fix,
    minutes_of,
    offset,
    psem,
    run,
    square,
    summary,
    tick,
    zone,
)
from vigie.detect import AlarmEvent, Engine, ScenarioError

LAT, LON = 48.85, 2.35


def zone_events(events: list[AlarmEvent], kind: str | None = None) -> list[tuple[float, str, str]]:
    return [
        (minutes_of(e), e.kind, e.state)
        for e in events
        if e.kind.startswith("zone") and kind in (None, e.kind)
    ]


def test_entering_an_exclusion_zone_raises_and_leaving_clears() -> None:
    events = run(
        [psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 500))])],
        [
            fix("B2", 0, *offset(LAT, LON, 0, 2000)),
            fix("B2", 1, *offset(LAT, LON, 0, 300)),
            fix("B2", 2, LAT, LON),
            fix("B2", 3, *offset(LAT, LON, 90, 1500)),
        ],
    )
    assert zone_events(events) == [(1, "zone_entry", "raised"), (3, "zone_entry", "cleared")]
    raised = next(e for e in events if e.kind == "zone_entry")
    assert raised.detail["zone"] == "Z1" and raised.detail["zone_type"] == "exclusion"
    assert raised.detail["depth_m"] == pytest.approx(200, abs=0.5)


def test_leaving_an_inclusion_zone_raises_and_coming_back_clears() -> None:
    events = run(
        [psem(zones=[zone("home-town", "inclusion", square(LAT, LON, 0.02))])],
        [
            fix("B2", 0, LAT, LON),
            fix("B2", 10, LAT + 0.05, LON),
            fix("B2", 11, LAT + 0.06, LON),
            fix("B2", 20, LAT + 0.001, LON),
        ],
    )
    assert zone_events(events) == [(10, "zone_exit", "raised"), (20, "zone_exit", "cleared")]


def test_multipolygon_zones_count_every_part() -> None:
    parts = [square(LAT, LON, 0.005)["coordinates"], square(LAT + 0.1, LON, 0.005)["coordinates"]]
    geometry = {"type": "MultiPolygon", "coordinates": parts}
    events = run(
        [psem(zones=[zone("Z", "exclusion", geometry)])],
        # 5.5 km apart, 10 minutes apart: a plausible drive (see plausibility.py).
        [fix("B2", 0, LAT + 0.05, LON), fix("B2", 10, LAT + 0.1, LON)],
    )
    assert zone_events(events) == [(10, "zone_entry", "raised")]


def test_a_zone_with_hours_past_midnight() -> None:
    # Exclusion 22:00-06:00 Paris (21:00Z-05:00Z): Monday's window belongs to Monday.
    hours = [{"days": "mon", "from": "22:00", "to": "06:00"}]
    placement = psem(zones=[zone("bar-street", "exclusion", circle(LAT, LON, 300), hours)])
    inside = (LAT, LON)
    events = run(
        [placement],
        [
            fix("B2", 510, *inside),  # 20:30Z: the zone does not apply yet
            fix("B2", 600, *inside),  # 22:00Z: already raised at the window start (21:00Z)
            fix("B2", 840, *inside),  # 02:00Z Tuesday, past midnight: still the same episode
            tick(1030),  # 05:10Z: the window closed at 05:00Z
            fix("B2", 2040, *inside),  # Tuesday 22:00Z: no window on Tuesday
        ],
    )
    assert zone_events(events) == [(540, "zone_entry", "raised"), (1020, "zone_entry", "cleared")]
    cleared = [e for e in events if e.kind == "zone_entry"][-1]
    assert cleared.detail["reason"] == "zone_inactive"


def test_repeated_fixes_inside_raise_once() -> None:
    events = run(
        [psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 500))])],
        [fix("B2", m, LAT, LON) for m in range(30)],
    )
    assert zone_events(events) == [(0, "zone_entry", "raised")]


def _jitter(radius_m: float, acc: float, normal: bool, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        if normal:
            east, north = rng.normal(0.0, acc / 1.5, 2)
        else:  # uniform in the accuracy disc
            r, a = acc * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            east, north = r * np.cos(a), r * np.sin(a)
        lat, lon = offset(LAT, LON, 0, radius_m)
        lat, lon = offset(lat, lon, 0, north)
        lat, lon = offset(lat, lon, 90, east)
        out.append(fix("B2", k, lat, lon, acc))
    return out


@pytest.mark.parametrize("from_centre", [495.0, 505.0])
def test_a_point_5_m_from_the_boundary_with_30_m_accuracy_does_not_flap(from_centre: float) -> None:
    placement = psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 500))])
    fixes = _jitter(from_centre, 30.0, normal=False, n=400, seed=7)
    states = [s for _, _, s in zone_events(run([placement], fixes))]
    assert states.count("raised") <= 1 and states.count("cleared") == 0
    # A rule that ignored accuracy would flap on this very input:
    crossings = np.diff([abs(float(np.hypot(*_local(f)))) < 500 for f in fixes]).sum()
    assert crossings > 50


def test_normal_gps_noise_near_a_boundary_gives_at_most_an_episode() -> None:
    placement = psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 500))])
    for seed, from_centre in [(1, 495.0), (2, 505.0), (3, 500.0)]:
        events = run([placement], _jitter(from_centre, 30.0, normal=True, n=400, seed=seed))
        assert len(zone_events(events)) <= 2


def _local(record: dict) -> tuple[float, float]:
    from vigie.detect.geodesy import to_local

    x, y = to_local(record["lat"], record["lon"], LAT, LON)
    return float(x), float(y)


def test_an_absurd_accuracy_decides_nothing_however_deep_the_fix() -> None:
    # Issue 20: no cap on the accuracy margin. A 2 km fix 400 m inside a 500 m zone is 400 m
    # of evidence against 2 km of doubt: nothing raised, the device is marked uncertain.
    placement = psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 500))])
    engine = Engine()
    engine.add_placement(placement)
    events = engine.process([fix("B2", 0, *offset(LAT, LON, 0, 100), acc=2000)])
    assert zone_events(events) == []
    assert engine.uncertain_devices() == ["B2"]
    # ...and a raised breach does not clear on a vague fix just outside.
    events = run(
        [placement],
        [fix("B2", 0, LAT, LON, acc=10), fix("B2", 10, *offset(LAT, LON, 0, 700), acc=2000)],
    )
    assert zone_events(events) == [(0, "zone_entry", "raised")]


def test_a_fix_barely_inside_with_poor_accuracy_is_not_yet_certain() -> None:
    placement = psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 500))])
    events = run(
        [placement],
        [
            fix("B2", 0, *offset(LAT, LON, 0, 490), acc=40),
            fix("B2", 1, *offset(LAT, LON, 0, 470), acc=40),
            fix("B2", 2, *offset(LAT, LON, 0, 455), acc=40),
        ],
    )
    # Raised once the whole 40 m accuracy circle is inside (certainty.py).
    assert zone_events(events) == [(2, "zone_entry", "raised")]


@pytest.mark.parametrize(
    ("geometry", "field"),
    [
        (
            {
                "type": "Polygon",
                "coordinates": [[[2.3, 48.8], [2.4, 48.9], [2.4, 48.8], [2.3, 48.9], [2.3, 48.8]]],
            },
            "zones.0.geometry.coordinates",
        ),
        ({"type": "Point", "coordinates": [2.3, 48.8]}, "zones.0.geometry.type"),
        ({"type": "circle", "center": [2.3, 48.8], "radius_m": -5}, "zones.0.geometry.radius_m"),
        ({"type": "Polygon", "coordinates": [[[2.3, 48.8]]]}, "zones.0.geometry.coordinates"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[48.8, 200], [48.9, 200], [48.9, 210], [48.8, 200]]],
            },
            "zones.0.geometry.coordinates",
        ),
    ],
)
def test_invalid_geometry_is_refused_naming_the_field(geometry: dict, field: str) -> None:
    engine = Engine()
    with pytest.raises(ScenarioError) as caught:
        engine.add_placement(psem(zones=[zone("Z1", "exclusion", geometry)]))
    assert caught.value.field == field
    assert field in str(caught.value)


def test_circle_accepts_named_latitude_and_longitude() -> None:
    geometry = {"type": "circle", "lat": LAT, "lon": LON, "radius_m": 200}
    events = run([psem(zones=[zone("Z1", "exclusion", geometry)])], [fix("B2", 0, LAT, LON)])
    assert summary(events, "zone_entry")[0][2] == "raised"

"""A device no case wears, first heard after the rule tables were built (a spare bracelet
switched on, a device of an imported case), on the vectorised path: it raised IndexError from
the tables' per-device index, at every step, so the detector stopped for every case."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.detect.records import bar, fix, psem, square, zone
from vigie.detect import Engine
from vigie.detect.scenario import parse_time

ZONE = zone("Z1", "exclusion", square(48.90, 2.40, 0.005))


def positions(engine: Engine, batch: list[dict[str, Any]]) -> list[str]:
    return [
        e.to_json()
        for e in engine.process_positions(
            np.array([engine.device_index(r["device"]) for r in batch], dtype=np.int32),
            np.array([parse_time(r["t"]) for r in batch], dtype=np.int64),
            np.array([r["lat"] for r in batch]),
            np.array([r["lon"] for r in batch]),
            np.array([r["accuracy_m"] for r in batch]),
        )
    ]


@pytest.mark.parametrize(
    ("placement", "first", "stranger", "breach"),
    [
        # A coarse fix (past 50 m): the screen for coarse fixes near a zone.
        (
            psem(zones=[ZONE]),
            [fix("B2", 0, 48.892, 2.40)],
            fix("X9", 1, 48.80, 2.40, acc=80.0),
            (48.90, 2.40),  # inside the zone
        ),
        # Any fix once a BAR pair has a history: the screen for fixes older than the pair's.
        (
            bar(),
            [fix("B3", 0, 48.72, 2.40), fix("P3", 0, 48.70, 2.40)],
            fix("X9", 1, 48.80, 2.40),
            (48.701, 2.40),  # about 110 m from her
        ),
    ],
    ids=["coarse-near-zones", "bar-history"],
)
def test_a_device_no_case_wears_is_counted_and_detection_goes_on(
    placement: dict[str, Any],
    first: list[dict[str, Any]],
    stranger: dict[str, Any],
    breach: tuple[float, float],
) -> None:
    fast, slow = Engine(), Engine()
    for engine in (fast, slow):
        engine.add_placement(placement)
    assert positions(fast, first) == [e.to_json() for e in slow.process(first)]
    assert positions(fast, [stranger]) == []
    assert slow.process([stranger]) == []
    assert fast.unassigned_observations == slow.unassigned_observations == 1
    # The case's own devices are watched as before: the wearer enters the zone, or comes
    # within the alert distance, on both paths alike.
    wearer = placement["wearer"]
    batch = [fix(wearer, 2, *breach), fix(stranger["device"], 2, *breach, acc=80.0)]
    events = positions(fast, batch)
    assert events == [e.to_json() for e in slow.process(batch)]
    assert any('"state":"raised"' in e for e in events), events
    assert fast.unassigned_observations == slow.unassigned_observations == 2

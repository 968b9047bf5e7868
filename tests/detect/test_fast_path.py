"""The fast path on whole-fleet micro-batches (one fix per device, one instant) equals replay.

This is the shape of a live feed and of ``bench/detect.py``: it drives the fast path's
per-zone and per-row screens (every rule at once, rows with both ends in the batch), which
the mixed scenarios of ``test_engine`` reach less often.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from tests.detect.records import at, bar, circle, ddse, fix, offset, psem, square, zone
from vigie.detect import Engine
from vigie.detect.scenario import parse_time

LAT, LON = 48.85, 2.35


def _fleet(seed: int, cases: int) -> tuple[list[dict[str, Any]], list[tuple[str, float, float]]]:
    rng = random.Random(seed)
    placements: list[dict[str, Any]] = []
    devices: list[tuple[str, float, float]] = []
    for k in range(cases):
        lat, lon = LAT + rng.uniform(-0.2, 0.2), LON + rng.uniform(-0.2, 0.2)
        if k % 3 == 0:
            hours = [{"days": "daily", "from": "13:10", "to": "13:40"}] if k % 2 else None
            zones = [
                zone("Z", "exclusion", circle(lat, lon, rng.uniform(200, 800)), hours),
                zone("Q", "inclusion", square(lat, lon, 0.015)),
            ]
            placements.append(psem(case=f"C{k}", wearer=f"W{k}", zones=zones))
            devices.append((f"W{k}", lat, lon))
        elif k % 3 == 1:
            places = [{"id": "home", "lat": lat, "lon": lon}] if k % 2 else []
            protected = f"P{k}" if k % 4 != 3 else None
            if protected is None and not places:
                places = [{"id": "work", "lat": lat, "lon": lon}]
            placements.append(
                bar(case=f"C{k}", wearer=f"W{k}", protected=protected, km=0.5, places=places)
            )
            devices.append((f"W{k}", lat, lon))
            if protected is not None:
                devices.append((protected, lat, lon))
        else:
            placements.append(ddse(case=f"C{k}", wearer=f"W{k}", home=f"H{k}"))
            devices.append((f"W{k}", lat, lon))
    return placements, devices


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_whole_fleet_batches_give_the_replay_events(seed: int) -> None:
    placements, devices = _fleet(seed, cases=30)
    # Two devices no case wears, switched on after the rule tables were built (issue of
    # 2026-12-04: their coarse fixes failed every batch).
    devices += [("S1", LAT, LON), ("S2", LAT + 0.1, LON - 0.1)]
    rng = random.Random(100 + seed)
    slow, fast = Engine(), Engine()
    for p in placements:
        slow.add_placement(p)
        fast.add_placement(p)
    slow_events: list[str] = []
    fast_events: list[str] = []
    for step in range(60):
        minutes = step * 1.0
        batch = []
        for device, lat, lon in devices:
            if step % 5 == 4 and rng.random() < 0.1:
                continue  # a device misses a step now and then: rows with one end only
            if 20 <= step < 40 and device.endswith("7"):
                continue  # a long silence: signal lost, then regained
            if device.startswith("S") and step < 10:
                continue
            metres = abs(rng.gauss(0, 700))
            acc = rng.choice([5.0, 10.0, 20.0, 50.0, 300.0])
            batch.append(fix(device, minutes, *offset(lat, lon, rng.uniform(0, 360), metres), acc))
        rng.shuffle(batch)
        for r in batch:  # the feed registers every device it hands over, worn or not
            slow.device_index(r["device"])
        slow_events += [e.to_json() for e in slow.process(batch)]
        index = np.array([fast.device_index(r["device"]) for r in batch], dtype=np.int32)
        t_ms = np.full(len(batch), parse_time(at(minutes)), dtype=np.int64)
        lat = np.array([r["lat"] for r in batch])
        lon = np.array([r["lon"] for r in batch])
        acc = np.array([r["accuracy_m"] for r in batch])
        fast_events += [e.to_json() for e in fast.process_positions(index, t_ms, lat, lon, acc)]
    kinds = {e.split('"kind":"')[1].split('"')[0] for e in slow_events}
    assert {"zone_entry", "zone_exit", "alert", "pre_alert", "signal_lost"} <= kinds
    assert fast_events == slow_events
    assert fast.snapshot() == slow.snapshot()


@pytest.mark.parametrize(
    ("column", "bad", "field"),
    [
        ("lat", float("nan"), "lat"),
        ("lat", 90.5, "lat"),
        ("lon", -180.1, "lat"),
        ("lon", float("nan"), "lat"),
        ("acc", float("nan"), "accuracy_m"),
        ("acc", float("inf"), "accuracy_m"),
        ("acc", -1.0, "accuracy_m"),
    ],
)
def test_a_bad_value_anywhere_in_a_batch_is_refused_by_field(
    column: str, bad: float, field: str
) -> None:
    from vigie.detect import ScenarioError

    engine = Engine()
    engine.add_placement(psem("C1", "B1", [zone("Z", "exclusion", square(48.85, 2.35, 0.01))]))
    cols = {"lat": np.full(3, 48.0), "lon": np.full(3, 2.0), "acc": np.full(3, 10.0)}
    cols[column][1] = bad
    index = np.full(3, engine.device_index("B1"), dtype=np.int32)
    with pytest.raises(ScenarioError) as caught:
        engine.process_positions(
            index, np.arange(3, dtype=np.int64) * 1000, cols["lat"], cols["lon"], cols["acc"]
        )
    assert caught.value.field == field

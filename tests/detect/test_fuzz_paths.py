"""Random feeds through both paths, as the live pipeline hands them over: runs of fixes to the
vectorised path, other readings to the record path, placements changed and removed between
batches, devices no case wears among them. Neither path may fail, and both give the same events.

Found by these feeds on 2026-12-04, both fixed, each kept as an example: a device no case
wears, heard after the rule tables were built, failed every batch of the vectorised path; and
a case added again once its bracelet was silent past the signal timeout raised that loss or
not depending on which path the bracelet's next fix took."""

from __future__ import annotations

from itertools import groupby
from typing import Any

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.detect.records import at, bar, circle, ddse, psem, zone
from vigie.detect import AlarmEvent, Engine
from vigie.detect.scenario import parse_time

LAT, LON = 48.85, 2.35
DEVICES = ["W1", "W2", "P2", "W3", "H3", "S1", "S2"]  # S1, S2: worn by no case


def placements(variant: int) -> dict[str, dict[str, Any]]:
    """The cases, in one of two versions (a zone moved, a distance changed, a place added)."""
    shift = 0.004 * variant
    return {
        "C1": psem(
            case="C1",
            wearer="W1",
            zones=[zone("Z", "exclusion", circle(LAT + shift, LON, 300))],
        ),
        "C2": bar(
            case="C2",
            wearer="W2",
            protected="P2",
            km=0.5 + variant,
            places=[{"id": "home", "lat": LAT, "lon": LON + shift}] if variant else [],
        ),
        "C3": ddse(case="C3", wearer="W3", home="H3"),
    }


reading = st.fixed_dictionaries(
    {
        "device": st.sampled_from(DEVICES),
        "dt_s": st.integers(min_value=-90, max_value=90),  # a late one now and then
        "kind": st.sampled_from(["position"] * 6 + ["battery", "presence", "tamper"]),
        "north_m": st.integers(min_value=-1500, max_value=1500),
        "east_m": st.integers(min_value=-1500, max_value=1500),
        "accuracy_m": st.sampled_from([5.0, 20.0, 49.0, 80.0, 700.0]),
    }
)
step = st.one_of(
    st.lists(reading, min_size=1, max_size=12).map(lambda b: ("batch", b)),
    st.tuples(st.just("change"), st.sampled_from(["C1", "C2", "C3"]), st.integers(0, 1)),
    st.tuples(st.just("remove"), st.sampled_from(["C1", "C2", "C3"])),
)


def record(r: dict[str, Any], minute: int) -> dict[str, Any]:
    t = at(minute + r["dt_s"] / 60)
    base = {"kind": "obs", "device": r["device"], "t": t, "type": r["kind"]}
    if r["kind"] == "position":
        lat = LAT + r["north_m"] / 111_200
        lon = LON + r["east_m"] / 73_000
        return base | {"lat": lat, "lon": lon, "accuracy_m": r["accuracy_m"]}
    if r["kind"] == "battery":
        return base | {"level": 0.5}
    if r["kind"] == "presence":
        return base | {"present": r["north_m"] > 0}
    return base | {"what": "strap_cut"}


def as_the_pipeline(engine: Engine, records: list[dict[str, Any]]) -> list[str]:
    """Runs of fixes through ``process_positions``, the rest through ``process``; the batch's
    events in the contract's order, as the pipeline sorts them."""
    out: list[AlarmEvent] = []
    ordered = sorted(records, key=lambda r: parse_time(r["t"]))
    for is_fix, run in groupby(ordered, key=lambda r: r["type"] == "position"):
        batch = list(run)
        if is_fix:
            events = engine.process_positions(
                np.array([engine.device_index(r["device"]) for r in batch], dtype=np.int32),
                np.array([parse_time(r["t"]) for r in batch], dtype=np.int64),
                np.array([r["lat"] for r in batch]),
                np.array([r["lon"] for r in batch]),
                np.array([r["accuracy_m"] for r in batch]),
            )
        else:
            events = engine.process(batch)
        out += events
    return [e.to_json() for e in sorted(out, key=AlarmEvent.sort_key)]


FAR = {"north_m": 1500, "east_m": 0, "accuracy_m": 5.0}


def both_paths(steps: list[Any]) -> tuple[list[str], list[str]]:
    """The events of both paths over `steps` (batches, changes, removals), and a last tick."""
    fast, slow = Engine(), Engine()
    for p in placements(0).values():
        fast.add_placement(p)
        slow.add_placement(p)
    fast_events: list[str] = []
    slow_events: list[str] = []
    for minute, (kind, *args) in enumerate(steps, start=1):
        if kind == "batch":
            records = [record(r, minute) for r in args[0]]
            fast_events += as_the_pipeline(fast, records)
            in_order = sorted(records, key=lambda r: parse_time(r["t"]))
            slow_events += [e.to_json() for e in slow.process(in_order)]
        elif kind == "remove":
            if fast.placement(args[0]) is not None:  # else already removed
                for engine in (fast, slow):
                    engine.remove_placement(args[0])
        else:
            case, variant = args
            for engine in (fast, slow):
                engine.add_placement(placements(variant)[case])
    tick = {"kind": "tick", "t": at(len(steps) + 30)}
    fast_events += [e.to_json() for e in fast.process([tick])]
    slow_events += [e.to_json() for e in slow.process([tick])]
    return fast_events, slow_events


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=14))
@example(  # the fault of 2026-12-04
    [
        ("batch", [{"device": "W1", "dt_s": 0, "kind": "position"} | FAR]),
        ("batch", [{"device": "S1", "dt_s": 0, "kind": "position"} | FAR | {"accuracy_m": 80.0}]),
    ]
)
def test_both_paths_give_the_same_events_and_neither_fails(steps: list[Any]) -> None:
    fast, slow = both_paths(steps)
    assert fast == slow


def fix_of(device: str, dt_s: int = 0) -> dict[str, Any]:
    return {"device": device, "dt_s": dt_s, "kind": "position"} | FAR | {"north_m": 0}


def test_a_case_removed_and_added_again_after_its_timeout_gives_the_same_events() -> None:
    battery = {"device": "W1", "dt_s": -31, "kind": "battery"} | FAR
    steps: list[Any] = [
        ("batch", [fix_of("W3")]),
        ("remove", "C3"),
        *[("batch", [fix_of("W1")])] * 7,
        ("batch", [fix_of("W1", 89)]),
        ("change", "C3", 0),
        ("batch", [battery, fix_of("W3", -31)]),
    ]
    fast, slow = both_paths(steps)
    assert fast == slow

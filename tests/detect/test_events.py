"""The contract's order of alarm events, ties on everything but the detail included."""

from __future__ import annotations

import random
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta

import pytest

from vigie.detect.events import AlarmEvent, event, ordered


def test_ordered_is_the_total_order_of_sort_key() -> None:
    rng = random.Random(5)
    base = datetime(2026, 11, 23, tzinfo=UTC)
    events = [
        AlarmEvent(
            base + timedelta(seconds=rng.choice([0, 30])),
            rng.choice(["C1", "C2"]),
            rng.choice(["alert", "pre_alert"]),
            rng.choice(["raised", "cleared"]),
            "B1",
            {"target": rng.choice(["home", "P1", "work"]), "distance_m": rng.choice([1.0, 2.0])},
        )
        for _ in range(300)
    ]
    result = ordered(events)
    assert result == sorted(events, key=AlarmEvent.sort_key)
    heads = [(e.t, e.case, e.kind, e.state, e.device) for e in result]
    assert len(set(heads)) < len(heads)  # the case of ties on all but the detail is exercised


def test_ordered_without_ties_is_the_total_order_too() -> None:
    rng = random.Random(6)
    base = datetime(2026, 11, 23, tzinfo=UTC)
    events = [
        AlarmEvent(
            base + timedelta(seconds=s),
            rng.choice(["C1", "C2"]),
            "zone_entry",
            rng.choice(["raised", "cleared"]),
            "B1",
            {"zone": "Z"},
        )
        for s in rng.sample(range(1000), 300)
    ]
    assert ordered(events) == sorted(events, key=AlarmEvent.sort_key)


def test_event_makes_the_dataclass_s_own_object() -> None:
    t = datetime(2026, 11, 23, tzinfo=UTC)
    for late in (None, t + timedelta(seconds=5)):
        args = (t, "C1", "zone_entry", "raised", "B1", {"zone": "Z", "depth_m": 1.5}, late)
        made = event(*args)
        assert made == AlarmEvent(*args)
        assert made.to_json() == AlarmEvent(*args).to_json()
        with pytest.raises(FrozenInstanceError):
            made.case = "C2"  # type: ignore[misc]

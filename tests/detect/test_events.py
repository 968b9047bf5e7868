"""The contract's order of alarm events, ties on everything but the detail included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from vigie.detect.events import AlarmEvent, ordered


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

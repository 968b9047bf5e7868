"""BAR: pre-alert and alert against a protected place and the protected person's device."""

from __future__ import annotations

import json

from tests.detect.records import T0, bar, fix, minutes_of, obs, offset, run, tick
from vigie.detect import AlarmEvent, Engine

HOME = (48.85, 2.35)


def prox(events: list[AlarmEvent]) -> list[tuple[float, str, str]]:
    return [(minutes_of(e), e.kind, e.state) for e in events if e.kind in ("alert", "pre_alert")]


def place(**kw: float) -> dict:
    return {"id": "home", "lat": HOME[0], "lon": HOME[1], **kw}


def at_distance(metres: float) -> tuple[float, float]:
    return offset(*HOME, 45, metres)


def test_an_approach_to_a_protected_place_pre_alerts_then_alerts_and_clears_with_hysteresis() -> (
    None
):
    events = run(
        [bar(protected=None, places=[place()])],
        [
            fix("B3", 0, *at_distance(4000)),
            fix("B3", 1, *at_distance(1800)),  # within 2 km: pre-alert
            fix("B3", 2, *at_distance(900)),  # within 1 km: alert
            fix("B3", 3, *at_distance(500)),  # nothing new
            fix("B3", 4, *at_distance(1010)),  # just out of 1 km: hysteresis holds the alert
            fix("B3", 5, *at_distance(1500)),  # clearly out of 1 km
            fix("B3", 6, *at_distance(2010)),  # hysteresis holds the pre-alert
            fix("B3", 7, *at_distance(3000)),
        ],
    )
    assert prox(events) == [
        (1, "pre_alert", "raised"),
        (2, "alert", "raised"),
        (5, "alert", "cleared"),
        (7, "pre_alert", "cleared"),
    ]
    alert = next(e for e in events if e.kind == "alert")
    assert alert.device == "B3" and alert.case == "C3"
    assert alert.detail["target"] == "home" and alert.detail["target_kind"] == "place"
    assert abs(alert.detail["distance_m"] - 900) < 1
    assert alert.detail["threshold_m"] == 1000 and alert.detail["uncertainty_m"] == 10


def test_the_protected_device_is_tracked_as_it_moves() -> None:
    events = run(
        [bar()],
        [
            fix("P3", 0, *HOME, acc=20),
            fix("B3", 1, *at_distance(3000)),
            fix("P3", 2, *at_distance(2500), acc=20),  # she walks towards him: 500 m apart
            fix("P3", 3, *HOME, acc=20),  # she walks away
        ],
    )
    # Same instant: ordered by kind ("alert" before "pre_alert"), as the contract says.
    assert prox(events) == [
        (2, "alert", "raised"),
        (2, "pre_alert", "raised"),
        (3, "alert", "cleared"),
        (3, "pre_alert", "cleared"),
    ]
    alert = next(e for e in events if e.kind == "alert")
    assert alert.detail["target"] == "P3" and alert.detail["target_kind"] == "device"
    # Both accuracies, as independent errors: sqrt(10^2 + 20^2) (alignment.pair_uncertainty).
    assert alert.detail["uncertainty_m"] == 22.4
    assert alert.detail["protected_position"]["accuracy_m"] == 20


def test_the_protected_persons_position_appears_only_in_alert_details() -> None:
    events = run(
        [bar(places=[place()])],
        [
            fix("P3", 0, *HOME, acc=20),
            obs("P3", 1, "battery", level=0.1),
            fix("B3", 2, *at_distance(500)),
            fix("B3", 3, *at_distance(5000)),
            tick(60),
        ],
    )
    kinds = {e.kind for e in events}
    assert {"alert", "pre_alert", "signal_lost", "low_battery"} <= kinds
    coordinates = {f"{HOME[0]:.6f}".rstrip("0"), f"{HOME[1]:.6f}".rstrip("0")}
    for event in events:
        text = json.dumps(event.detail)
        exposes = any(c in text for c in coordinates)
        if event.kind in ("alert", "pre_alert") and event.state == "raised":
            assert exposes and "protected_position" in event.detail
        else:
            assert not exposes, event
    lost = [e for e in events if e.kind == "signal_lost" and e.device == "P3"]
    assert lost and "last_position" not in lost[0].detail


def test_a_level_is_raised_once_the_whole_accuracy_circle_is_within_it() -> None:
    placement = bar(protected=None, places=[place()])
    # 970 m with 50 m accuracy: the alert is possible but not certain; the pre-alert is.
    events = run([placement], [fix("B3", 0, *at_distance(970), acc=50)])
    assert prox(events) == [(0, "pre_alert", "raised")]
    events = run([placement], [fix("B3", 0, *at_distance(945), acc=50)])
    assert prox(events) == [(0, "alert", "raised"), (0, "pre_alert", "raised")]
    # The pre-alert follows the same rule (issue 20): 1,960 m with 50 m accuracy is not yet.
    assert prox(run([placement], [fix("B3", 0, *at_distance(1960), acc=50)])) == []


def test_an_absurd_accuracy_decides_nothing_and_asks_for_a_precise_fix() -> None:
    for metres in (3500, 100):
        engine = Engine()
        engine.add_placement(bar(protected=None, places=[place()]))
        events = engine.process([fix("B3", 0, *at_distance(metres), acc=2000)])
        assert prox(events) == []
        assert engine.uncertain_devices() == ["B3"]
        assert engine.take_fix_requests() == [("B3", events_t0(), "uncertain")]
        # A precise fix decides, and the device is certain again.
        events = engine.process([fix("B3", 5, *at_distance(100), acc=10)])
        assert prox(events) == [(5, "alert", "raised"), (5, "pre_alert", "raised")]
        assert engine.uncertain_devices() == []


def events_t0() -> int:
    """T0 in epoch milliseconds."""
    return int(T0.timestamp() * 1000)


def test_repeated_fixes_within_the_alert_distance_raise_once() -> None:
    events = run(
        [bar(protected=None, places=[place()])],
        [fix("B3", m, *at_distance(300 + m)) for m in range(40)],
    )
    assert prox(events) == [(0, "alert", "raised"), (0, "pre_alert", "raised")]


def test_no_protected_fix_yet_means_no_distance_to_the_device() -> None:
    events = run([bar()], [fix("B3", 0, *HOME)])
    assert prox(events) == []

"""Low battery: at or below the threshold raises; charged clearly above clears."""

from __future__ import annotations

from tests.detect.records import ddse, obs, run, summary


def levels(*values: float, **settings: float) -> list[tuple[str, str, str]]:
    records = [obs("B1", k, "battery", level=v) for k, v in enumerate(values)]
    return summary(run([ddse(**settings)], records), "low_battery")


def test_at_the_threshold_raises_and_charging_clears() -> None:
    assert levels(0.5, 0.2, 0.1, 0.9) == [
        ("2026-11-23T12:01:00Z", "low_battery", "raised"),
        ("2026-11-23T12:03:00Z", "low_battery", "cleared"),
    ]


def test_noise_around_the_threshold_does_not_flap() -> None:
    assert len(levels(0.2, 0.21, 0.2, 0.22, 0.19, 0.24, 0.2)) == 1


def test_the_placement_threshold_is_used() -> None:
    assert levels(0.3, **{"low_battery": 0.35}) == [
        ("2026-11-23T12:00:00Z", "low_battery", "raised")
    ]
    assert levels(0.3) == []

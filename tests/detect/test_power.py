"""Power: the home unit on battery because mains power is lost."""

from __future__ import annotations

from tests.detect.records import ddse, obs, run, summary


def test_mains_lost_raises_and_mains_back_clears() -> None:
    events = run(
        [ddse()],
        [
            obs("H1", 0, "power", mains=True),
            obs("H1", 1, "power", mains=False),
            obs("H1", 2, "power", mains=False),
            obs("H1", 3, "power", mains=True),
        ],
    )
    assert summary(events, "power") == [
        ("2026-11-23T12:01:00Z", "power", "raised"),
        ("2026-11-23T12:03:00Z", "power", "cleared"),
    ]
    assert events[0].device == "H1" and events[0].detail == {"mains": False}

"""Absence during assigned hours: the contract's first row, and the field's classic miss."""

from __future__ import annotations

from tests.detect.records import ddse, minutes_of, obs, run, summary, tick
from vigie.detect import AlarmEvent, Engine

# T0 is Monday 12:00Z; the daily 20:00-07:00 Paris window is 19:00Z-06:00Z in November:
OPEN, CLOSE = 420, 1080  # minutes after T0


def absence(events: list[AlarmEvent]) -> list[tuple[float, str, str | None]]:
    return [(minutes_of(e), e.state, e.detail.get("reason")) for e in events if e.kind == "absence"]


def test_bracelet_lost_during_the_window_raises_then_clears_when_back() -> None:
    events = run(
        [ddse()],
        [
            obs("H1", 0, "presence", present=True),
            obs("H1", 500, "presence", present=False),
            obs("H1", 560, "presence", present=True),
        ],
    )
    assert absence(events) == [(500, "raised", None), (560, "cleared", "present")]
    raised = next(e for e in events if e.kind == "absence")
    assert raised.device == "B1" and raised.case == "C1"
    assert raised.detail["home_unit"] == "H1"


def test_absence_outside_the_window_raises_nothing() -> None:
    events = run(
        [ddse()],
        [
            obs("H1", 0, "presence", present=False),
            obs("H1", 300, "presence", present=True),
            tick(600),
        ],
    )
    assert absence(events) == []


def test_already_absent_when_the_hours_begin_raises_at_the_window_start() -> None:
    events = run([ddse()], [obs("H1", 100, "presence", present=False), tick(600)])
    assert absence(events) == [(OPEN, "raised", None)]


def test_already_absent_with_grace_raises_after_the_grace() -> None:
    events = run([ddse(grace_s=120)], [obs("H1", 100, "presence", present=False), tick(600)])
    assert absence(events) == [(OPEN + 2, "raised", None)]


def test_an_absence_shorter_than_the_grace_raises_nothing() -> None:
    events = run(
        [ddse(grace_s=300)],
        [
            obs("H1", 500, "presence", present=False),
            obs("H1", 503, "presence", present=True),
            tick(600),
        ],
    )
    assert absence(events) == []
    events = run([ddse(grace_s=300)], [obs("H1", 500, "presence", present=False), tick(600)])
    assert absence(events) == [(505, "raised", None)]


def test_back_exactly_when_the_window_opens_is_not_absent() -> None:
    events = run(
        [ddse()],
        [
            obs("H1", 100, "presence", present=False),
            obs("H1", OPEN, "presence", present=True),
            tick(600),
        ],
    )
    assert absence(events) == []


def test_still_absent_when_the_window_closes_clears_then_raises_again_next_window() -> None:
    events = run([ddse()], [obs("H1", 500, "presence", present=False), tick(OPEN + 1440 + 10)])
    assert absence(events) == [
        (500, "raised", None),
        (CLOSE, "cleared", "window_end"),
        (OPEN + 1440, "raised", None),
    ]


def test_repeated_absent_reports_raise_once() -> None:
    events = run([ddse()], [obs("H1", m, "presence", present=False) for m in range(500, 560, 5)])
    assert [s for _, s, _ in absence(events)] == ["raised"]


def test_weekday_hours_do_not_apply_on_saturday_evening() -> None:
    # Friday's window runs into Saturday 07:00; Saturday evening is free.
    friday_evening = 4 * 1440 + 500
    saturday_evening = 5 * 1440 + 500
    events = run(
        [ddse(days="mon-fri")],
        [
            obs("H1", friday_evening, "presence", present=False),
            obs("H1", friday_evening + 30, "presence", present=True),
            obs("H1", saturday_evening, "presence", present=False),
            tick(saturday_evening + 60),
        ],
    )
    assert absence(events) == [
        (friday_evening, "raised", None),
        (friday_evening + 30, "cleared", "present"),
    ]


def test_window_across_the_spring_forward_night_lasts_ten_hours() -> None:
    # Saturday 28 March 2026 20:00 CET (19:00Z) to Sunday 29 March 07:00 CEST (05:00Z).
    engine = Engine()
    engine.add_placement(ddse())
    events = engine.process(
        [
            {
                "kind": "obs",
                "device": "H1",
                "t": "2026-03-28T12:00:00Z",
                "type": "presence",
                "present": False,
            },
            {"kind": "tick", "t": "2026-03-29T20:00:00Z"},
        ]
    )
    assert summary(events, "absence") == [
        ("2026-03-28T19:00:00Z", "absence", "raised"),
        ("2026-03-29T05:00:00Z", "absence", "cleared"),
        ("2026-03-29T18:00:00Z", "absence", "raised"),
    ]


def test_window_across_the_fall_back_night_lasts_twelve_hours() -> None:
    # Saturday 24 October 2026 20:00 CEST (18:00Z) to Sunday 25 October 07:00 CET (06:00Z).
    engine = Engine()
    engine.add_placement(ddse())
    events = engine.process(
        [
            {
                "kind": "obs",
                "device": "H1",
                "t": "2026-10-24T12:00:00Z",
                "type": "presence",
                "present": False,
            },
            {"kind": "tick", "t": "2026-10-25T20:00:00Z"},
        ]
    )
    assert summary(events, "absence") == [
        ("2026-10-24T18:00:00Z", "absence", "raised"),
        ("2026-10-25T06:00:00Z", "absence", "cleared"),
        ("2026-10-25T19:00:00Z", "absence", "raised"),
    ]


def test_round_the_clock_house_arrest_stays_one_episode() -> None:
    events = run(
        [ddse(start="00:00", end="24:00")],
        [obs("H1", 0, "presence", present=False), tick(30 * 1440)],
    )
    assert absence(events) == [(0, "raised", None)]
    assert next(e for e in events if e.kind == "absence").detail["window_end"] is None


def test_a_constrained_release_is_watched_for_its_hours_as_a_home_detention() -> None:
    """An LSC (CPP 720) under a bracelet with hours: detection refused its measure before."""
    scenario = [
        obs("H1", 0, "presence", present=True),
        obs("H1", 500, "presence", present=False),
        obs("H1", 560, "presence", present=True),
    ]
    lsc = run([ddse() | {"measure": "lsc"}], scenario)
    assert absence(lsc) == [(500, "raised", None), (560, "cleared", "present")]
    assert [e.to_json() for e in lsc] == [e.to_json() for e in run([ddse()], scenario)]

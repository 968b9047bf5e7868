"""Weekly windows on the Paris wall clock, DST included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vigie.detect.events import iso_of, ms_of
from vigie.detect.scenario import ScenarioError, WindowSpec
from vigie.detect.schedule import NEVER_ENDS, WeeklySchedule
from vigie.weekly import days_of


def schedule(*windows: tuple[str, str, str]) -> WeeklySchedule:
    specs = [WindowSpec.model_validate({"days": d, "from": f, "to": t}) for d, f, t in windows]
    return WeeklySchedule.parse(specs, "Europe/Paris", "schedule")


def ms(text: str) -> int:
    return ms_of(datetime.fromisoformat(text).astimezone(UTC))


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat,sun", {5, 6}),
        ("mon", {0}),
        ("daily", set(range(7))),
        ("*", set(range(7))),
        ("fri-mon", {4, 5, 6, 0}),
        ("Mon-Wed, fri", {0, 1, 2, 4}),
    ],
)
def test_days(text: str, days: set[int]) -> None:
    assert days_of(text) == days
    assert schedule((text, "08:00", "09:00")).windows[0].days == days  # as detection reads them


@pytest.mark.parametrize("text", ["monday", "mon-xyz", ""])
def test_unknown_days_are_refused(text: str) -> None:
    with pytest.raises(ScenarioError):
        schedule((text, "08:00", "09:00"))


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    s = schedule(("fri", "22:00", "06:00"))
    assert s.active_at(ms("2026-11-28T05:59:00+01:00"))  # Saturday morning: Friday's window
    assert not s.active_at(ms("2026-11-28T22:30:00+01:00"))  # Saturday night: none
    assert not s.active_at(ms("2026-11-27T05:00:00+01:00"))  # Friday morning: Thursday's (none)


def test_boundaries_follow_the_wall_clock_across_dst() -> None:
    s = schedule(("daily", "20:00", "07:00"))
    start = ms("2026-03-28T12:00:00Z")
    opened = s.next_boundary(start)
    assert opened is not None and iso_of(opened) == "2026-03-28T19:00:00Z"
    closed = s.next_boundary(opened)
    assert closed is not None and iso_of(closed) == "2026-03-29T05:00:00Z"


def test_whole_days_merge_into_one_window_without_boundaries() -> None:
    s = schedule(("daily", "00:00", "24:00"))
    assert s.active_at(ms("2026-11-23T03:00:00Z"))
    assert s.next_boundary(ms("2026-11-23T03:00:00Z")) is None


def test_from_equal_to_is_refused_naming_the_field() -> None:
    with pytest.raises(ScenarioError) as caught:
        schedule(("daily", "20:00", "20:00"))
    assert caught.value.field == "schedule.0.to"


def test_a_window_that_never_closes_has_no_end() -> None:
    s = schedule(("daily", "00:00", "24:00"))
    window = s.window_at(ms("2026-11-23T03:00:00Z"))
    assert window is not None and window[1] == NEVER_ENDS

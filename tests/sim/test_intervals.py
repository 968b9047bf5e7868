"""Interval arithmetic and schedule windows."""

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.sim.intervals import covered, from_mask, intersect, union
from vigie.sim.schedule import ScheduleSpecError, window_intervals

spans = st.lists(
    st.tuples(st.integers(0, 200), st.integers(1, 40)).map(lambda p: (p[0], p[0] + p[1])),
    max_size=8,
)


def _points(intervals: list[tuple[int, int]]) -> set[int]:
    return {t for s, e in intervals for t in range(s, e)}


@settings(max_examples=60, deadline=None)
@given(spans, spans)
def test_union_and_intersection_agree_with_sets(a: list, b: list) -> None:
    assert _points(union(a)) == _points(a)
    assert _points(intersect(a, b)) == _points(a) & _points(b)
    u = union(a)
    assert all(u[i][1] < u[i + 1][0] for i in range(len(u) - 1))
    times = np.arange(0, 260)
    assert set(times[covered(u, times)].tolist()) == _points(a)


def test_from_mask_runs_to_the_next_false_sample_or_the_end() -> None:
    times = np.array([0, 5, 10, 15, 20])
    mask = np.array([False, True, True, False, True])
    assert from_mask(times, mask, 99) == [(5, 15), (20, 99)]


def _utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def test_a_window_past_midnight_opens_on_its_listed_days_local_time() -> None:
    schedule = [{"days": "mon-fri", "from": "20:00", "to": "07:00"}]
    # Monday 23 to Monday 30 November 2026, Paris is UTC+1.
    got = window_intervals(
        schedule, "Europe/Paris", _utc("2026-11-22T23:00"), _utc("2026-11-29T23:00")
    )
    assert got[0] == (_utc("2026-11-23T19:00"), _utc("2026-11-24T06:00"))
    assert len(got) == 5  # Friday's window ends on Saturday morning; none opens at the weekend
    assert got[-1] == (_utc("2026-11-27T19:00"), _utc("2026-11-28T06:00"))


def test_windows_keep_wall_clock_hours_across_daylight_saving() -> None:
    schedule = [{"days": "sat-sun", "from": "08:00", "to": "18:00"}]
    got = window_intervals(
        schedule, "Europe/Paris", _utc("2026-03-27T00:00"), _utc("2026-03-30T00:00")
    )
    assert got == [
        (_utc("2026-03-28T07:00"), _utc("2026-03-28T17:00")),  # winter time
        (_utc("2026-03-29T06:00"), _utc("2026-03-29T16:00")),  # summer time
    ]


def test_windows_read_as_detection_reads_them() -> None:
    """The simulator reads `daily` and `24:00` (detection's words) and refuses what detection
    refuses, saying how to write it."""
    start = _utc("2026-03-23T00:00")  # a Monday
    week = start + 7 * 86_400
    late = [{"days": "daily", "from": "22:00", "to": "24:00"}]
    daily = window_intervals(late, "Europe/Paris", start, week)
    assert len(daily) == 7 and all(end - begin == 2 * 3600 for begin, end in daily)
    weekend = [{"days": "fri-mon", "from": "08:00", "to": "09:00"}]
    assert len(window_intervals(weekend, "Europe/Paris", start, week)) == 4
    for days, begin, end, said in (
        ("funday", "08:00", "09:00", "mon-fri"),
        ("mon", "08:00", "08:00", "00:00-24:00"),
    ):
        window = {"days": days, "from": begin, "to": end}
        try:
            window_intervals([window], "Europe/Paris", start, week)
        except ScheduleSpecError as exc:
            assert said in str(exc)
        else:
            raise AssertionError(f"{window} must be refused")

"""When a schedule applies: the windows of hours at home, or of a zone, as UTC intervals.

A window ``{"days": "mon-fri", "from": "20:00", "to": "07:00"}`` opens on each listed day at
``from`` (local time of the placement's ``tz``) and closes at ``to``, on the next day when ``to``
is not after ``from``: the days name the day a window *opens*. Local times go through `zoneinfo`,
so a window keeps its wall-clock hours across a change of daylight saving time.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vigie.sim.intervals import Interval, union

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleSpecError(ValueError):
    """A schedule window the simulator cannot read."""


def weekdays_of(spec: str) -> frozenset[int]:
    """Weekday numbers (Monday 0) named by a spec such as ``"mon-fri"``, ``"sat,sun"``."""
    days: set[int] = set()
    for part in spec.lower().split(","):
        first, _, last = part.strip().partition("-")
        try:
            a = DAY_NAMES.index(first)
            b = DAY_NAMES.index(last) if last else a
        except ValueError:
            raise ScheduleSpecError(
                f"schedule days {spec!r}: use day names {', '.join(DAY_NAMES)}, "
                "ranges such as 'mon-fri' or lists such as 'sat,sun'"
            ) from None
        days.update((a + k) % 7 for k in range(((b - a) % 7) + 1))
    return frozenset(days)


def _clock(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


def window_intervals(
    schedule: list[dict[str, Any]] | None, tz: str, start_s: int, end_s: int
) -> list[Interval]:
    """UTC intervals (epoch seconds) within ``[start_s, end_s)`` when the schedule applies.

    ``None`` means always.
    """
    if schedule is None:
        return [(start_s, end_s)] if end_s > start_s else []
    zone = ZoneInfo(tz)
    first = datetime.fromtimestamp(start_s, UTC).astimezone(zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end_s, UTC).astimezone(zone).date()
    out: list[Interval] = []
    day: date = first
    while day <= last:
        for window in schedule:
            if day.weekday() not in weekdays_of(window["days"]):
                continue
            opens, closes = _clock(window["from"]), _clock(window["to"])
            close_day = day + timedelta(days=1) if closes <= opens else day
            s = int(datetime.combine(day, opens, zone).timestamp())
            e = int(datetime.combine(close_day, closes, zone).timestamp())
            if e > start_s and s < end_s:
                out.append((max(s, start_s), min(e, end_s)))
        day += timedelta(days=1)
    return union(out)


def local_midnights(tz: str, start_s: int, end_s: int) -> list[int]:
    """Epoch seconds of each local midnight from the one at or before `start_s` to `end_s`."""
    zone = ZoneInfo(tz)
    day = datetime.fromtimestamp(start_s, UTC).astimezone(zone).date()
    out: list[int] = []
    while True:
        m = int(datetime.combine(day, time(0), zone).timestamp())
        if m >= end_s:
            return out
        out.append(m)
        day += timedelta(days=1)

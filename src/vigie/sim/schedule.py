"""When a schedule applies: the windows of hours at home, or of a zone, as UTC intervals.

A window ``{"days": "mon-fri", "from": "20:00", "to": "07:00"}`` opens on each listed day at
``from`` (local time of the placement's ``tz``) and closes at ``to``, on the next day when ``to``
is not after ``from``: the days name the day a window *opens*. Local times go through `zoneinfo`,
so a window keeps its wall-clock hours across a change of daylight saving time.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vigie import weekly
from vigie.sim.intervals import Interval, union


class ScheduleSpecError(ValueError):
    """A schedule window the simulator cannot read."""


def _window(window: dict[str, Any]) -> tuple[frozenset[int], int, int]:
    try:
        return weekly.window_of(window["days"], window["from"], window["to"])
    except weekly.WindowError as exc:
        raise ScheduleSpecError(f"schedule window {window!r}: {exc}") from None


def _instant(day: date, minutes: int, zone: ZoneInfo) -> int:
    """Epoch seconds of `minutes` past the local midnight of `day` on the wall clock (1440 and
    more: the days after), as detection reads a window."""
    extra, minutes = divmod(minutes, 1440)
    local = time(minutes // 60, minutes % 60)
    return int(datetime.combine(day + timedelta(days=extra), local, zone).timestamp())


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
            days, opens, closes = _window(window)
            if day.weekday() not in days:
                continue
            s = _instant(day, opens, zone)
            e = _instant(day, closes + 1440 if closes <= opens else closes, zone)
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

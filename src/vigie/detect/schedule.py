"""Weekly windows in local civil time (Europe/Paris by default), DST included.

A window ``{"days": "mon-fri", "from": "20:00", "to": "07:00"}`` is read on the local wall
clock: it opens at 20:00 local on each listed day and, because ``to`` is earlier than
``from``, closes at 07:00 local the next morning; it belongs to the day it starts (Friday's
window runs into Saturday morning). ``to`` may be "24:00" (midnight ending the day); ``from``
equal to ``to`` is refused as ambiguous. Days: ``mon``..``sun``, ranges ``mon-fri`` (wrapping
``fri-mon`` allowed), lists ``sat,sun``, and ``daily`` / ``*`` for every day.

Local times are turned into instants with ``zoneinfo`` and ``fold=0``: on the spring-forward
night a time inside the skipped hour is read with the winter offset (02:30 becomes 03:30
CEST), on the fall-back night an ambiguous time is its first occurrence. So a 20:00-07:00
window lasts 10 h of real time on the last Sunday of March and 12 h on the last Sunday of
October, as the wall clock says. Adjacent or overlapping windows are merged: a daily
00:00-24:00 schedule never opens or closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from vigie import weekly
from vigie.detect.events import ms_of, utc_of
from vigie.detect.scenario import ScenarioError, WindowSpec

_DAY_MS = 86_400_000
_SEARCH_DAYS = 8
_HORIZON_DAYS = 64
NEVER_ENDS = 2**62  # the end of a window that never closes
_BY_TEXT: dict[tuple[tuple[tuple[str, str, str], ...], str], WeeklySchedule] = {}
_BY_TEXT_MAX = 4096


@dataclass(frozen=True, slots=True)
class Window:
    """One weekly window: the days it starts on and its local start and end minutes."""

    days: frozenset[int]
    start_min: int
    end_min: int  # <= start_min: ends the next day


class WeeklySchedule:
    """A set of weekly windows in a time zone, queried by instants (epoch milliseconds)."""

    def __init__(self, windows: Sequence[Window], tz: str) -> None:
        self.windows = tuple(windows)
        self.tz = ZoneInfo(tz)
        self._cache: dict[date, list[tuple[int, int]]] = {}

    @classmethod
    def parse(cls, specs: Sequence[WindowSpec], tz: str, field: str) -> WeeklySchedule:
        """Compile the windows of a record; errors name the field, e.g. ``schedule.0.from``."""
        text = (tuple((spec.days, spec.from_, spec.to) for spec in specs), tz)
        found = _BY_TEXT.get(text)
        if found is not None:
            return found
        windows = []
        for i, spec in enumerate(specs):
            try:
                days, start, end = weekly.window_of(spec.days, spec.from_, spec.to)
            except weekly.WindowError as exc:
                raise ScenarioError(str(exc), field=f"{field}.{i}.{exc.part}") from exc
            windows.append(Window(days, start, end))
        schedule = _shared(tuple(windows), tz)
        if len(_BY_TEXT) >= _BY_TEXT_MAX:
            _BY_TEXT.clear()  # a bound on memory: parsing again is only slower
        _BY_TEXT[text] = schedule
        return schedule

    def _instant(self, day: date, minutes: int) -> int:
        extra, minutes = divmod(minutes, 1440)
        local = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60))
        return ms_of(local.replace(tzinfo=self.tz, fold=0))

    def _local_date(self, t_ms: int) -> date:
        return utc_of(t_ms).astimezone(self.tz).date()

    def _intervals_around(self, t_ms: int) -> list[tuple[int, int]]:
        day = self._local_date(t_ms)
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        raw: list[tuple[int, int]] = []
        for offset in range(-_SEARCH_DAYS - 1, _SEARCH_DAYS + 2):
            d = day + timedelta(days=offset)
            for w in self.windows:
                if d.weekday() in w.days:
                    end_min = w.end_min if w.end_min > w.start_min else w.end_min + 1440
                    start, end = self._instant(d, w.start_min), self._instant(d, end_min)
                    if end > start:
                        raw.append((start, end))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(raw):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        if len(self._cache) > 32:
            self._cache.clear()
        self._cache[day] = merged
        return merged

    def window_at(self, t_ms: int) -> tuple[int, int] | None:
        """The (merged) window containing ``t_ms`` (start <= t < end), or None.

        ``end`` is ``NEVER_ENDS`` for a schedule that never closes (a whole-week window).
        """
        for start, _ in (i for i in self._intervals_around(t_ms) if i[0] <= t_ms < i[1]):
            end = self.next_boundary(t_ms)
            return start, NEVER_ENDS if end is None else end
        return None

    def active_at(self, t_ms: int) -> bool:
        """True when ``t_ms`` is inside a window."""
        return any(start <= t_ms < end for start, end in self._intervals_around(t_ms))

    def next_window(self, t_ms: int) -> tuple[int, int] | None:
        """The window containing ``t_ms`` or, failing that, the next one to open."""
        current = self.window_at(t_ms)
        if current is not None:
            return current
        opening = self.next_boundary(t_ms)
        if opening is None:
            return None
        closing = self.next_boundary(opening)
        return opening, NEVER_ENDS if closing is None else closing

    def next_boundary(self, t_ms: int) -> int | None:
        """The first instant after ``t_ms`` where the schedule opens or closes (None: never)."""
        probe = t_ms
        while probe < t_ms + _HORIZON_DAYS * _DAY_MS:
            horizon = probe + _SEARCH_DAYS * _DAY_MS
            for start, end in self._intervals_around(probe):
                for edge in (start, end):
                    # Edges at or before the probe were seen by the previous round, and the
                    # first edge of the computed days may be an artefact of where they start.
                    if probe < edge <= horizon:
                        return edge
            probe = horizon
        return None


@lru_cache(maxsize=4096)
def _shared(windows: tuple[Window, ...], tz: str) -> WeeklySchedule:
    """One schedule object per distinct (windows, zone): a centre's many identical hours
    then compute each day's instants once (the object only memoizes pure results)."""
    return WeeklySchedule(windows, tz)

"""Absence during assigned hours (DDSE, ARSE): the home unit no longer sees the bracelet.

The alarm is raised when the person has been absent for ``grace`` *inside* a window: at
``max(absent since, window start) + grace``, provided the person is still absent and the
window still open at that instant. So it fires both when the home unit reports the bracelet
leaving during the hours and when the hours begin while the person is already out (the
field's classic miss, a detector that only looks at presence transitions). An absence that
ends before its grace has run raises nothing.

It clears when the home unit reports the bracelet present again (``reason: present``), or
when the window closes while the person is still out (``reason: window_end``): the episode
belongs to that window, and the next window raises a new one if the person is still absent
when it opens. Until the home unit's first presence report nothing is assumed.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigie.detect.schedule import WeeklySchedule

_MAX_WINDOWS = 400


@dataclass(slots=True)
class Absence:
    """Absence state of one placement with assigned hours."""

    schedule: WeeklySchedule
    grace_ms: int
    present: bool | None = None
    presence_t: int | None = None
    absent_since: int = 0
    settled_until: int = 0  # windows ending at or before this instant are done with
    raised: bool = False
    raised_t: int = 0
    raised_until: int = 0

    def next_due(self) -> int | None:
        """The next instant at which this absence raises or clears, if any."""
        if self.raised:
            return self.raised_until
        if self.present is not False:
            return None
        probe = max(self.absent_since, self.settled_until)
        for _ in range(_MAX_WINDOWS):
            window = self.schedule.next_window(probe)
            if window is None:
                return None
            start, end = window
            due = max(self.absent_since, start) + self.grace_ms
            if due < end and due >= self.settled_until:
                return due
            probe = end
        return None

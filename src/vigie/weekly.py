"""The grammar of a weekly window (`{"days": "mon-fri", "from": "20:00", "to": "07:00"}`), one
for every reader: the API's forms, detection and the simulator. Three readers each had their
own: the API refused `daily`, `Sat` and `24:00`, which detection reads, and took `from` equal to
`to`, which detection refuses, so a placement could be saved and then not watched.

Days: `mon`..`sun` in any case, ranges (`mon-fri`, `fri-mon` across the week's end), lists
(`sat,sun`), `daily` (or `*`, `all`) for every day. Times: `HH:MM`, `24:00` only as an end (the
end of the day). A window's `to` at or before its `from` ends the next day; equal is ambiguous
and refused. Plain Python, so that the forms can use it without importing detection.
"""

from __future__ import annotations

import re

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY_DAY = ("daily", "*", "all")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
END_OF_DAY = 24 * 60


class WindowError(ValueError):
    """A window refused; `part` names what is wrong in it: "days", "from" or "to"."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part


def days_of(text: str) -> frozenset[int]:
    """Weekday numbers (Monday 0) of a days expression."""
    days: set[int] = set()
    for token in text.lower().replace(" ", "").split(","):
        if token in EVERY_DAY:
            days.update(range(7))
        elif "-" in token:
            first, _, last = token.partition("-")
            if first not in DAY_NAMES or last not in DAY_NAMES:
                raise WindowError("days", f"unknown day range {token!r}")
            start, end = DAY_NAMES.index(first), DAY_NAMES.index(last)
            days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
        elif token in DAY_NAMES:
            days.add(DAY_NAMES.index(token))
        else:
            raise WindowError(
                "days", f"unknown day {token!r}; use mon..sun, ranges like mon-fri, or daily"
            )
    return frozenset(days)


def minutes_of(text: str, part: str = "to") -> int:
    """Minutes since midnight of "HH:MM" (24:00 is the end of the day)."""
    match = _HHMM.match(text)
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise WindowError(part, f"expected a time 'HH:MM', got {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def window_of(days: str, start: str, end: str) -> tuple[frozenset[int], int, int]:
    """A window's days, and its start and end in minutes (an end at or before the start ends
    the next day)."""
    start_min, end_min = minutes_of(start, "from"), minutes_of(end, "to")
    if start_min == END_OF_DAY:
        raise WindowError("from", "a window cannot start at 24:00")
    if start_min == end_min:
        raise WindowError("to", "'from' equals 'to'; write 00:00-24:00 for a whole day")
    return days_of(days), start_min, end_min

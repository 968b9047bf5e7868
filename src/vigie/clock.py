"""What time it is for the centre: the system clock, moved by an offset that only tests set.

Every part of the centre that needs "now" (receipt times, detection's clock, escalation,
supervision windows, tokens, legal "today") asks here, so that a test can run the whole centre
on another day, its child processes and the console in the browser included: the offset comes
from `VIGIE_CLOCK_OFFSET_S`, which child processes inherit, and the console's pages carry the
server's time. Production leaves it at 0 (the centre warns at start when it is not).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
OFFSET_VARIABLE = "VIGIE_CLOCK_OFFSET_S"


@lru_cache(maxsize=1)
def offset() -> timedelta:
    """The test-only offset, read once per process; a value that is not a number is refused."""
    raw = os.environ.get(OFFSET_VARIABLE, "0").strip() or "0"
    try:
        return timedelta(seconds=float(raw))
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{OFFSET_VARIABLE}={raw!r} is not a number of seconds") from exc


def now() -> datetime:
    """The centre's current instant, in UTC."""
    return datetime.now(UTC) + offset()


def today_in_paris() -> date:
    """Today's date in Europe/Paris, where legal dates are counted."""
    return now().astimezone(PARIS).date()

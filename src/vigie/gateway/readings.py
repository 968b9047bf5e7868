"""Readings: the replay-format `obs` records every protocol decodes into, and their checks.

One device message often says several things at one instant (a fix, the battery, the strap).
The store is idempotent by device and sequence number (else fix time), so each reading gets a
sequence number derived from its time and what it says: `ms * 8 + slot`. A retransmitted
message yields the same numbers, and is stored once; two readings of one message never collide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vigie.observation import Refused, TimeBounds, validate
from vigie.observation import iso_ms as iso

SLOTS = {"position": 0, "battery": 1, "power": 2, "presence": 3, "strap": 4, "case": 5, "sos": 6}


class Rejected(ValueError):
    """A reading refused; the message is the logged reason. `clock`: only its time is at fault
    (the device's clock), so it is kept for quarantine and the clock_fault alarm."""

    def __init__(self, message: str, *, clock: bool = False) -> None:
        super().__init__(message)
        self.clock = clock


def sequence(t: datetime, slot: str) -> int:
    """The derived sequence number of a reading (see the module's docstring)."""
    return round(t.timestamp() * 1000) * 8 + SLOTS[slot]


def reading(device: str, t: datetime, type_: str, slot: str, **fields: Any) -> dict[str, Any]:
    """A replay-format `obs` record with its derived sequence number."""
    return {
        "kind": "obs",
        "device": device,
        "t": iso(t),
        "seq": sequence(t, slot),
        "type": type_,
        **fields,
    }


def parse_time(value: str) -> datetime:
    """An aware UTC datetime from ISO-8601 (a trailing Z allowed); naive times are refused."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Rejected(f"time {value[:40]!r} is not ISO-8601") from exc
    if t.tzinfo is None:
        raise Rejected(f"time {value[:40]!r} has no time zone")
    return t.astimezone(UTC)


def check(record: dict[str, Any], now: datetime, bounds: TimeBounds) -> datetime:
    """The record's fix time once the one model of an observation (`vigie.observation`) admits
    it, received `now`; `Rejected` says which field is not, and whether the clock is at fault."""
    try:
        _, t = validate(record, now, bounds)
    except Refused as exc:
        raise Rejected(str(exc), clock=exc.clock) from exc
    return t

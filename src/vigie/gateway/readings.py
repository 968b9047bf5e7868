"""Readings: the replay-format `obs` records every protocol decodes into, and their checks.

One device message often says several things at one instant (a fix, the battery, the strap).
The store is idempotent by device and sequence number (else fix time), so each reading gets a
sequence number derived from its time and what it says: `ms * 8 + slot`. A retransmitted
message yields the same numbers, and is stored once; two readings of one message never collide.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

SLOTS = {"position": 0, "battery": 1, "power": 2, "presence": 3, "strap": 4, "case": 5}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
TAMPER_WHATS = frozenset(
    {"strap_open", "strap_cut", "case_open", "strap_closed", "case_closed", "restored"}
)


class Rejected(ValueError):
    """A message that will not be stored; the message is the logged reason."""


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def check(record: dict[str, Any], now: datetime, max_future_s: float) -> datetime:
    """The record's fix time once every field is plausible; `Rejected` says which is not."""
    t = parse_time(record["t"])
    if t > now + timedelta(seconds=max_future_s):
        raise Rejected(f"fix time {record['t']} is more than {max_future_s:g} s in the future")
    if t < EARLIEST:
        raise Rejected(f"fix time {record['t']} is before {EARLIEST.date()}")
    kind = record["type"]
    if kind == "position":
        lat, lon, accuracy = record["lat"], record["lon"], record["accuracy_m"]
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in (lat, lon, accuracy)):
            raise Rejected("latitude, longitude and accuracy must be finite numbers")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise Rejected(f"coordinates {lat}, {lon} are outside the globe")
        if lat == 0 and lon == 0:
            raise Rejected("coordinates 0, 0: a receiver without a fix")
        if not 0 <= accuracy <= 100_000:
            raise Rejected(f"accuracy {accuracy} m is outside 0..100000")
    elif kind == "battery":
        level = record["level"]
        if not (isinstance(level, int | float) and 0 <= level <= 1):
            raise Rejected(f"battery level {level!r} is outside 0..1")
    elif kind in ("presence", "power"):
        name = "present" if kind == "presence" else "mains"
        if not isinstance(record[name], bool):
            raise Rejected(f"{name} must be true or false")
    elif kind == "tamper":
        if not isinstance(record["what"], str) or record["what"] not in TAMPER_WHATS:
            raise Rejected(f"tamper {record['what']!r} is not one of {sorted(TAMPER_WHATS)}")
    else:
        raise Rejected(f"observation type {kind!r} is unknown")
    return t

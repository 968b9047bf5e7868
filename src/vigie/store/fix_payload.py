"""A fix's payload as stored: its record without what the row's columns already hold.

A GPS fix is nearly every reading, and its record (kind, device, time, type, coordinates,
accuracy, sequence number) is what its columns say: stored whole beside them, it was a third of
what PostgreSQL wrote a reading (issue 13). So a fix's payload keeps only what the columns do not
give back exactly (extras, a time written in another form, a whole-number accuracy), and
`record_of` puts the record together again, identical to what was received.

A stored payload without `device` is one of these (every record names its device, so a payload
stored whole always has it); rows stored before keep their whole payload and are read as they are.
In one, `t` absent is the column's time as `vigie.observation.iso` writes it, `t` null as the
gateways write it (`iso_ms`), and `t` a string is the time as the record wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vigie.observation import iso, iso_ms

_FLOATS = ("lat", "lon", "accuracy_m")


def _columns(
    device: str,
    seq: int | None,
    t: datetime,
    lat: float | None,
    lon: float | None,
    accuracy_m: float | None,
) -> dict[str, Any]:
    """The fields a fix's columns give back, as a read gives them (floats as floats)."""
    said: dict[str, Any] = {"kind": "obs", "device": device, "t": iso(t), "type": "position"}
    if seq is not None:
        said["seq"] = int(seq)  # as the column gives it back: a `true` sent is kept as sent
    for name, value in zip(_FLOATS, (lat, lon, accuracy_m), strict=True):
        if value is not None:
            said[name] = float(value)
    return said


def _same(stored: Any, sent: Any) -> bool:
    """Whether the column gives back exactly what the record said: the same type and value (an
    int stays an int); a zero is kept in the payload (a store may not keep the sign of -0.0)."""
    if type(stored) is not type(sent) or stored != sent:
        return False
    return not (isinstance(sent, float) and sent == 0.0)


def stored_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """What to store as the payload of a row of `observations.row_for`: a fix's record without
    the fields its columns give back exactly; any other reading's record whole."""
    record: dict[str, Any] = row["payload"]
    if row["type"] != "position" or not isinstance(record, dict) or record.get("kind") != "obs":
        return record
    if record.get("device") != row["device"] or record.get("type") != "position":
        return record
    if not isinstance(record.get("t"), str):  # the column's time came from elsewhere
        return record
    try:
        said = _columns(
            row["device"], row["seq"], row["t"], row["lat"], row["lon"], row["accuracy_m"]
        )
    except (TypeError, ValueError, AttributeError, OverflowError):
        return record  # a column no store would give back as a number or a time: kept whole
    kept = {k: v for k, v in record.items() if k not in said or not _same(said[k], v)}
    if kept.get("t") == iso_ms(row["t"]):
        kept["t"] = None
    return kept


def record_of(
    *,
    device: str,
    seq: int | None,
    t: datetime,
    type: str,
    lat: float | None,
    lon: float | None,
    accuracy_m: float | None,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """The record a stored row holds, whole: its payload, and for a fix stored without them
    (`device` absent) the fields its columns say."""
    if type != "position" or not isinstance(payload, dict) or "device" in payload:
        return payload
    record = _columns(device, seq, t, lat, lon, accuracy_m) | payload
    if record["t"] is None:
        record["t"] = iso_ms(t)
    return record

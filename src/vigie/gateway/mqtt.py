"""Readings published over MQTT: JSON on ``vigie/devices/<device id>/obs``. Pure.

The payload is one reading or a list of them, in the replay format's `obs` shape without the
device (the topic names it; a `device` field, if present, must agree):
``{"t": "2026-11-23T20:05:00Z", "type": "position", "lat": 48.86, "lon": 2.34,
"accuracy_m": 15}``. A home unit's alert button publishes ``{"t": …, "type": "sos"}`` (no
other field; with a fix, a `position` reading of the same `t` before it). A device's own
`seq` is kept; without one, the reading's is derived from its time and type (see
`vigie.gateway.readings`).
"""

from __future__ import annotations

import json
from typing import Any

from vigie.detect import OBSERVATION_FIELDS
from vigie.gateway.readings import Rejected, parse_time, reading, sequence

TOPIC_FILTER = "vigie/devices/+/obs"
# Commands go down on vigie/devices/<id>/commands as {"id", "kind", "args"}; the unit answers
# on vigie/devices/<id>/replies with {"id": <the command's>, "reply": "<text>"}.
REPLY_FILTER = "vigie/devices/+/replies"
MAX_READINGS = 1000
_SLOT = {"tamper": "strap"}


def topic_for(device: str) -> str:
    return f"vigie/devices/{device}/obs"


def device_of(topic: str) -> str:
    parts = topic.split("/")
    if len(parts) != 4 or parts[:2] != ["vigie", "devices"] or parts[3] != "obs" or not parts[2]:
        raise Rejected(f"topic {topic[:80]!r} is not vigie/devices/<device id>/obs")
    return parts[2]


def command_topic(device: str) -> str:
    return f"vigie/devices/{device}/commands"


def reply_topic(device: str) -> str:
    return f"vigie/devices/{device}/replies"


def is_reply(topic: str) -> bool:
    return topic.endswith("/replies")


def decode_reply(topic: str, payload: bytes) -> tuple[str, int, str]:
    """Device id, command id and reply text of a message on a device's replies topic."""
    parts = topic.split("/")
    if (
        len(parts) != 4
        or parts[:2] != ["vigie", "devices"]
        or parts[3] != "replies"
        or not parts[2]
    ):
        raise Rejected(f"topic {topic[:80]!r} is not vigie/devices/<device id>/replies")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"reply is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Rejected("a reply must be a JSON object")
    command_id, text = data.get("id"), data.get("reply")
    if not isinstance(command_id, int) or isinstance(command_id, bool) or command_id < 1:
        raise Rejected("a reply's 'id' must be the command's id")
    if not isinstance(text, str):
        raise Rejected("a reply's 'reply' must be a string")
    return parts[2], command_id, text


def decode_message(topic: str, payload: bytes) -> tuple[str, list[dict[str, Any]]]:
    """Device id and readings of one published message."""
    device = device_of(topic)
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"payload is not JSON: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    if not 1 <= len(items) <= MAX_READINGS:
        raise Rejected(f"{len(items)} readings in one message; 1 to {MAX_READINGS} allowed")
    return device, [_reading(device, item) for item in items]


def _reading(device: str, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise Rejected("a reading must be a JSON object")
    if item.get("device", device) != device:
        raise Rejected(f"reading of device {item['device']!r} published on {device!r}'s topic")
    kind, stamp = item.get("type"), item.get("t")
    if not isinstance(kind, str) or kind not in OBSERVATION_FIELDS:
        raise Rejected(f"'type' must be one of {sorted(OBSERVATION_FIELDS)}")
    if not isinstance(stamp, str):
        raise Rejected("'t' must be an ISO-8601 string")
    missing = [name for name in OBSERVATION_FIELDS[kind] if name not in item]
    if missing:
        raise Rejected(f"a {kind} reading needs {', '.join(missing)}")
    t = parse_time(stamp)
    slot = _SLOT.get(kind, kind)
    record = reading(
        device, t, kind, slot, **{name: item[name] for name in OBSERVATION_FIELDS[kind]}
    )
    seq = item.get("seq")
    if seq is not None:
        if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**62:
            raise Rejected("'seq' must be a whole number from 0 to 2^62")
        record["seq"] = seq
    elif kind == "tamper" and str(item["what"]).startswith("case"):
        record["seq"] = sequence(t, "case")
    return record

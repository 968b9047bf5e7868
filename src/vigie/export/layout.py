"""The archive's layout: format name and version, member names, how values are written."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

FORMAT = "vigie-export"
FORMAT_VERSION = 1

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
README = "README.txt"
CASE = "case.json"
ZONES = "zones.geojson"
OBSERVATIONS = "observations.jsonl"
TRACK = "track.gpx"
ALARMS = "alarms.jsonl"
EVENTS = "events.jsonl"
AUDIT = "audit.jsonl"
PROTECTED = "protected.jsonl.sealed"
REPORTS = "reports/"

# Members read line by line: their manifest entry counts the records.
LINE_MEMBERS = frozenset({OBSERVATIONS, ALARMS, EVENTS, AUDIT, PROTECTED})


def report_member(alarm_id: int, suffix: str) -> str:
    return f"{REPORTS}alarm-{alarm_id}.{suffix}"


def summary_member(suffix: str) -> str:
    """The measure's summary as sent when it ended (`case.json`'s `summary_report`)."""
    return f"{REPORTS}summary.{suffix}"


def iso(t: datetime) -> str:
    """UTC, microseconds, with Z: what every time in the archive looks like."""
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces, UTF-8 as is), one line."""
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_default
    )

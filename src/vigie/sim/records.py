"""Scenario records and ground-truth episodes, written as canonical one-line JSON.

Observation lines are formatted by hand, keys in sorted order and numbers with fixed decimals
(6 for degrees, about 0.1 m): a simulated week of many devices is hundreds of millions of lines,
and this is several times faster than `json.dumps`. Identifiers are made of letters and digits,
so nothing needs escaping.
"""

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def iso(t_s: int) -> str:
    """ISO-8601 UTC with a ``Z``, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_s))


def parse_iso(value: str) -> int:
    """Epoch seconds of an ISO-8601 UTC instant as written in scenarios and alarms."""
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def canonical(record: dict[str, Any]) -> str:
    """Byte-stable JSON for records that are not on the hot path (placements, truth)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def position(device: str, t_s: int, lat: float, lon: float, accuracy_m: float) -> str:
    """A GPS fix."""
    return (
        f'{{"accuracy_m":{accuracy_m:.1f},"device":"{device}","kind":"obs",'
        f'"lat":{lat:.6f},"lon":{lon:.6f},"t":"{iso(t_s)}","type":"position"}}'
    )


def battery(device: str, t_s: int, level: float) -> str:
    """A battery report; devices send one every few minutes, so it doubles as a heartbeat."""
    return (
        f'{{"device":"{device}","kind":"obs","level":{level:.3f},'
        f'"t":"{iso(t_s)}","type":"battery"}}'
    )


def presence(device: str, t_s: int, present: bool) -> str:
    """A home unit's report of whether it hears the bracelet."""
    flag = "true" if present else "false"
    return (
        f'{{"device":"{device}","kind":"obs","present":{flag},"t":"{iso(t_s)}","type":"presence"}}'
    )


def power(device: str, t_s: int, mains: bool) -> str:
    """A home unit's report of its mains supply."""
    flag = "true" if mains else "false"
    return f'{{"device":"{device}","kind":"obs","mains":{flag},"t":"{iso(t_s)}","type":"power"}}'


def tamper(device: str, t_s: int, what: str) -> str:
    """A tamper report (``strap_open``, ``case_open``, ``restored``)."""
    return f'{{"device":"{device}","kind":"obs","t":"{iso(t_s)}","type":"tamper","what":"{what}"}}'


def sos(device: str, t_s: int) -> str:
    """A press of the alert button (the protected person's phone: Traccar Client's SOS)."""
    return f'{{"device":"{device}","kind":"obs","t":"{iso(t_s)}","type":"sos"}}'


def tick(t_s: int) -> str:
    """The passing of time, so timers (loss of signal, windows opening) fire."""
    return f'{{"kind":"tick","t":"{iso(t_s)}"}}'


@dataclass(frozen=True, slots=True)
class Episode:
    """One true breach: what really happened, computed from true positions and states."""

    case: str
    kind: str
    device: str
    start: int
    end: int
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One line of the ground-truth file."""
        return canonical(
            {
                "case": self.case,
                "kind": self.kind,
                "device": self.device,
                "start": iso(self.start),
                "end": iso(self.end),
                "detail": self.detail,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Episode":
        """An episode read back from a ground-truth line."""
        return cls(
            case=data["case"],
            kind=data["kind"],
            device=data["device"],
            start=parse_iso(data["start"]),
            end=parse_iso(data["end"]),
            detail=data.get("detail", {}),
        )

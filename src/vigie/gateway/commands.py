"""Commands the centre sends to devices: what each kind means, and its text in each protocol.

Pure. A command is a kind and its arguments; each protocol that can carry it has a text for it
(None: that protocol cannot, and the command is marked failed as unsupported):

    kind           arguments          Teltonika (Codec 12, TCP, UDP)  GT06 (0x80)  MQTT (JSON)
    report_every   seconds 10..86400  setparam 10000:s;10050:s        TIMER,s#     yes
    vibrate        seconds 1..60      setdigout 1 s                   (none)       yes
    query_status   -                  getstatus                       STATUS#      yes
    locate         -                  getrecord                       WHERE#       yes

Teltonika parameters 10000 and 10050 are the record periods on stop and moving (FMB parameter
list); the vibration motor is wired to DOUT1 on Vigie's bracelets. ``locate`` asks for a
fresh fix now (Teltonika ``getrecord`` makes a record at once; GT06 ``WHERE#`` answers with
the position): detection asks it when a fix was too coarse to decide or a breach waits for
confirmation (``vigie.detect.certainty``, ``persistence``). OsmAnd (HTTP) phones take
no command: Traccar Client reads nothing from the answer to a report.
"""

from __future__ import annotations

import json
from typing import Any

KINDS = ("report_every", "vibrate", "query_status", "locate")
STATES = ("queued", "sent", "answered", "failed", "expired")
BOUNDS = {"report_every": (10, 86_400), "vibrate": (1, 60)}


class BadCommand(ValueError):
    """A command that names no known kind or has arguments out of bounds; says which."""


def checked_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """The command's arguments once valid (`BadCommand` names the field otherwise)."""
    if kind not in KINDS:
        raise BadCommand(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind not in BOUNDS:
        if args:
            raise BadCommand(f"{kind} takes no arguments, got {sorted(args)}")
        return {}
    low, high = BOUNDS[kind]
    extra = set(args) - {"seconds"}
    if extra:
        raise BadCommand(f"{kind} takes only 'seconds', got {sorted(extra)}")
    seconds = args.get("seconds", low if kind == "vibrate" else None)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not low <= seconds <= high:
        raise BadCommand(f"seconds must be a whole number in {low}..{high} for {kind}")
    return {"seconds": seconds}


def text_for(protocol: str, kind: str, args: dict[str, Any], command_id: int = 0) -> str | None:
    """The command as `protocol` carries it, or None when it cannot."""
    seconds = args.get("seconds")
    if protocol in ("teltonika", "teltonika-tls", "teltonika-udp"):
        return {
            "report_every": f"setparam 10000:{seconds};10050:{seconds}",
            "vibrate": f"setdigout 1 {seconds}",
            "query_status": "getstatus",
            "locate": "getrecord",
        }[kind]
    if protocol == "gt06":
        return {
            "report_every": f"TIMER,{seconds}#",
            "query_status": "STATUS#",
            "locate": "WHERE#",
        }.get(kind)
    if protocol == "mqtt":
        return json.dumps({"id": command_id, "kind": kind, "args": args}, sort_keys=True)
    return None

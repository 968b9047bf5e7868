"""A version 3 snapshot written in the list form of version 2 (what centres saved before).

The recorded fixtures hold version 2 bytes; this turns today's snapshot into them exactly
(canonical JSON, zlib level 1), so a change of encoding is shown to change no state. It reads
the packed columns with the restore's own readers: were those wrong, the bytes would differ.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from vigie.detect.devices import COLUMNS
from vigie.detect.engine.snapshot import _prox_rows, _report_rows, _unpacked, _zone_rows


def version_2_state(data: bytes) -> dict[str, Any]:
    """The state of a version 3 snapshot as version 2 wrote it."""
    state = json.loads(zlib.decompress(data))
    assert state["version"] == 3
    n = len(state["devices"])
    state["columns"] = {
        name: _unpacked(value, COLUMNS[name][0], n).tolist()
        for name, value in state["columns"].items()
    }
    state["reports"] = _report_rows(state["reports"], n)
    state["zones"], state["prox"] = _zone_rows(state), _prox_rows(state)
    del state["zone_keys"], state["prox_keys"]
    state["version"] = 2
    return state


def encoded(state: dict[str, Any]) -> bytes:
    """A state as the engine writes a snapshot: canonical JSON, zlib level 1."""
    return zlib.compress(json.dumps(state, sort_keys=True, separators=(",", ":")).encode(), 1)


def as_version_2(data: bytes) -> bytes:
    return encoded(version_2_state(data))

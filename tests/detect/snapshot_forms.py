"""A version 3 snapshot written in the list form of version 2 (what centres saved before).

The recorded fixtures hold version 2 bytes; this turns today's snapshot into them exactly
(canonical JSON, zlib level 1), so a change of encoding is shown to change no state.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import numpy as np

from vigie.detect.devices import COLUMNS
from vigie.detect.engine.snapshot import _KINDS


def _column(text: str, dtype: Any) -> list[Any]:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).tolist()


def version_2_state(data: bytes) -> dict[str, Any]:
    """The state of a version 3 snapshot as version 2 wrote it."""
    state = json.loads(zlib.decompress(data))
    assert state["version"] == 3
    n = len(state["devices"])
    state["columns"] = {
        name: _column(value, COLUMNS[name][0]) for name, value in state["columns"].items()
    }
    fields: list[list[Any]] = []
    for name, kind in _KINDS.items():
        if kind is frozenset:
            column: list[Any] = [[] for _ in range(n)]
            for i, value in state["reports"][name]:
                column[i] = value
            fields.append(column)
        else:
            fields.append(_column(state["reports"][name], kind))
    state["reports"] = [list(row) for row in zip(*fields, strict=True)]
    zones, keys = state["zones"], state.pop("zone_keys")
    state["zones"] = [
        [*key, *rest]
        for key, *rest in zip(
            keys,
            _column(zones["raised"], np.bool_),
            _column(zones["raised_t"], np.int64),
            _column(zones["active"], np.bool_),
            _column(zones["known"], np.bool_),
            strict=True,
        )
    ]
    prox, keys = state["prox"], state.pop("prox_keys")
    state["prox"] = [
        [*key, r, t]
        for key, r, t in zip(
            keys,
            _column(prox["raised"], np.bool_),
            _column(prox["raised_t"], np.int64),
            strict=True,
        )
    ]
    state["version"] = 2
    return state


def encoded(state: dict[str, Any]) -> bytes:
    """A state as the engine writes a snapshot: canonical JSON, zlib level 1."""
    return zlib.compress(json.dumps(state, sort_keys=True, separators=(",", ":")).encode(), 1)


def as_version_2(data: bytes) -> bytes:
    return encoded(version_2_state(data))

"""One placement as the engine holds it: its devices by index, its compiled rules, its JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from vigie.detect.presence import Absence
from vigie.detect.proximity import Proximity
from vigie.detect.scenario import PlacementSpec
from vigie.detect.zones import Zone


@dataclass(slots=True)
class Case:
    """One placement, compiled: its devices (indices), rules and settings."""

    case_id: str
    raw: dict[str, Any]
    spec: PlacementSpec
    wearer: int
    home_unit: int | None
    protected: int | None
    absence: Absence | None
    zones: list[Zone]
    proximity: list[Proximity]
    # The record as snapshot JSON, made once: placements rarely change, snapshots come at every
    # pipeline step, and their zone coordinates were most of each snapshot's encoding time.
    raw_json: str | None = None

    def devices(self) -> list[int]:
        """Indices of every device of the placement."""
        return [d for d in (self.wearer, self.home_unit, self.protected) if d is not None]

    def snapshot_json(self) -> str:
        if self.raw_json is None:
            self.raw_json = canonical(self.raw)
        return self.raw_json


def canonical(value: Any) -> str:
    """The snapshot's JSON form: sorted keys, no spaces, no NaN (restore is exact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)

"""Per-device state in numpy columns (positions, signal), indexed by a stable small int."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

NEVER = -(2**62)  # "no time yet" in epoch milliseconds
COLUMNS: dict[str, tuple[type[np.generic], object]] = {
    "last_seen": (np.int64, NEVER),
    "lost": (np.bool_, False),
    "lost_t": (np.int64, 0),
    "timeout": (np.int64, 600_000),
    "fix_t": (np.int64, NEVER),
    "lat": (np.float64, 0.0),
    "lon": (np.float64, 0.0),
    "acc": (np.float64, 0.0),
    "assigned": (np.bool_, False),
    "hidden": (np.bool_, False),
    # Its latest fix was too coarse to decide a rule it may breach (``certainty.too_coarse``).
    "uncertain": (np.bool_, False),
}


@dataclass(slots=True)
class Reports:
    """Latest state reports of one device (scalar path only: they are rare)."""

    battery_t: int = NEVER
    battery_low: bool = False
    tamper_t: int = NEVER
    tamper_open: frozenset[str] = field(default_factory=frozenset)
    tamper_raised_t: int = 0
    power_t: int = NEVER
    on_battery: bool = False


class DeviceTable:
    """Devices by id and by index, with their columns grown by doubling."""

    last_seen: NDArray[np.int64]
    lost: NDArray[np.bool_]
    lost_t: NDArray[np.int64]
    timeout: NDArray[np.int64]
    fix_t: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    acc: NDArray[np.float64]
    assigned: NDArray[np.bool_]
    hidden: NDArray[np.bool_]
    uncertain: NDArray[np.bool_]

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.case: list[str | None] = []
        self.reports: list[Reports] = []
        for name, (dtype, default) in COLUMNS.items():
            setattr(self, name, np.full(16, default, dtype=dtype))

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, device: str) -> int:
        """Index of a device, added if new."""
        found = self.index.get(device)
        if found is not None:
            return found
        i = len(self.ids)
        if i == len(self.lost):
            for name, (dtype, default) in COLUMNS.items():
                grown = np.full(2 * i, default, dtype=dtype)
                grown[:i] = getattr(self, name)
                setattr(self, name, grown)
        self.ids.append(device)
        self.index[device] = i
        self.case.append(None)
        self.reports.append(Reports())
        return i

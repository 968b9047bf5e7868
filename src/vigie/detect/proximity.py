"""BAR (anti-approach bracelet): wearer-to-protected distances, pre-alert and alert.

Each BAR placement watches the wearer against its targets: the protected person's device
(its latest fix, whatever its age; the age is reported) and each protected place. Every
target has two rules: ``pre_alert`` at twice the alert distance and ``alert`` at the alert
distance, both raised on a *certain enough* breach and cleared with hysteresis, the same rule
as zones (see ``certainty``). The uncertainty of a distance is the wearer's accuracy and, for
the protected device, its accuracy and the drift the time between the two fixes adds,
combined as independent errors (``engine.alignment.pair_uncertainty``).

The protected person's position (device fix or place) appears only in the details of
``alert`` and ``pre_alert`` raised events, never in any other event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vigie.detect import certainty

Floats = NDArray[np.float64]


@dataclass(slots=True)
class Proximity:
    """One BAR rule: a wearer against one target at one level, with its alarm state."""

    case: str
    wearer: str
    kind: str  # "pre_alert" | "alert"
    threshold_m: float
    target: str  # protected device id or protected place id
    target_is_device: bool
    place_lat: float
    place_lon: float
    raised: bool = False
    raised_t: int = 0


def rules_for(
    case: str,
    wearer: str,
    alert_m: float,
    protected: str | None,
    places: list[tuple[str, float, float]],
) -> list[Proximity]:
    """The pre-alert and alert rules of a BAR placement, for every target."""
    rules: list[Proximity] = []
    targets: list[tuple[str, bool, float, float]] = []
    if protected is not None:
        targets.append((protected, True, 0.0, 0.0))
    targets.extend((pid, False, lat, lon) for pid, lat, lon in places)
    for target, is_device, lat, lon in targets:
        for kind, threshold in (("pre_alert", 2 * alert_m), ("alert", alert_m)):
            rules.append(Proximity(case, wearer, kind, threshold, target, is_device, lat, lon))
    return rules


def codes(distance: Floats, uncertainty: Floats, threshold: Floats) -> NDArray[np.int8]:
    """Raise / clear / hold codes of distances against thresholds (both levels alike)."""
    depth = threshold - distance
    return certainty.codes(depth, certainty.breach_raise_depth(uncertainty), uncertainty)

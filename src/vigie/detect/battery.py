"""Low battery: raised at or below the placement's threshold, cleared once charged clearly above.

Clearing needs the level above ``threshold + 0.05``: a battery reading 0.20, 0.21, 0.20
(sensor noise around a 0.20 threshold) stays one episode instead of flapping.
"""

from __future__ import annotations

HYSTERESIS = 0.05


def low_after(low: bool, level: float, threshold: float) -> bool:
    """Whether the battery counts as low after a reading."""
    if level <= threshold:
        return True
    if level > threshold + HYSTERESIS:
        return False
    return low

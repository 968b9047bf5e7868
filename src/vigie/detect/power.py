"""Power: a home unit running on its battery because mains power is lost."""

from __future__ import annotations


def on_battery_after(mains: bool) -> bool:
    """Whether the device is on battery after a power report (mains lost raises, back clears)."""
    return not mains

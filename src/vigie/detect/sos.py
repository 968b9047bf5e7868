"""A call for help: the protected person's alert button (``sos``) or the wearer's (``wearer_sos``).

Raised at once on every press (no grace, no persistence rule) and never cleared by detection
or by the device: only an operator closes it. Each press is its own ``raised`` event; the
centre folds the presses of one device into its one open SOS alarm (``vigie.alarms.episodes``),
never into an alarm of another kind. The detail carries the latest fixes the engine holds (her
own and the wearer's, with the distance between them) so that the operator holding the alarm
can tell the police where she is; who else reads what is decided by ``vigie.alarms.privacy``.
"""

from __future__ import annotations

from typing import Any

SOS_KINDS = ("sos", "wearer_sos")


def kind_for(is_protected: bool) -> str:
    """``sos`` for the protected person's device; ``wearer_sos`` for the wearer's own devices
    (his bracelet, or the home unit of his placement)."""
    return "sos" if is_protected else "wearer_sos"


def detail(
    protected: dict[str, Any] | None, wearer: dict[str, Any] | None, distance_m: float | None
) -> dict[str, Any]:
    """What an SOS event says: the positions known at the press, and their distance."""
    out: dict[str, Any] = {}
    if protected is not None:
        out["protected_position"] = protected
    if wearer is not None:
        out["wearer_position"] = wearer
    if distance_m is not None:
        out["distance_m"] = round(distance_m, 1)
    return out

"""Tamper: strap opened or cut, case opened (bracelet or home unit).

A device's tamper alarm is one episode while any opening is unrepaired: ``strap_open``,
``strap_cut`` and ``case_open`` open it; ``strap_closed`` repairs the strap (open or cut),
``case_closed`` the case, ``restored`` everything. The alarm clears when nothing is left
open. A second opening during an episode raises nothing new (one ``raised`` per episode).
"""

from __future__ import annotations

OPENINGS = frozenset({"strap_open", "strap_cut", "case_open"})
_REPAIRS = {
    "strap_closed": frozenset({"strap_open", "strap_cut"}),
    "case_closed": frozenset({"case_open"}),
    "restored": OPENINGS,
}


def open_after(still_open: frozenset[str], what: str) -> frozenset[str]:
    """What remains open after a tamper report."""
    if what in OPENINGS:
        return still_open | {what}
    return still_open - _REPAIRS[what]

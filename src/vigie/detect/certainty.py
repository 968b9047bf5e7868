"""How GPS accuracy turns a fix into raise / clear / hold: the uncertainty-aware rule.

Every geometric rule measures a *depth* ``s`` in metres: how far the fix lies inside the
forbidden side (for an exclusion zone, inside the polygon; for an inclusion zone, outside it;
for BAR, ``threshold - distance``). ``u`` is the fix's uncertainty radius (its reported
accuracy; for wearer-to-protected-device distances the sum of both accuracies).

* A **breach** (``alert``, ``zone_entry``, ``zone_exit``) is raised when it is *certain
  enough*: ``s >= min(u / 2, 50 m)``. Half the accuracy radius inside (the accuracy radius is
  the usual 68 % circle, so this is roughly a 3-in-4 call, and a real entry of a few tens of
  metres is caught at the 5-50 m accuracies of consumer GPS). The 50 m cap keeps a fix with
  an absurd accuracy (2 km from a cell tower) from hiding a deep breach forever.
* A **pre-alert** is raised when the breach of the pre-alert circle is *possible*:
  ``s >= -u`` (the accuracy disc touches the circle). A 2 km-accuracy fix near the protected
  person therefore raises the pre-alert at once: it is the operator's cue to look closer.
* Either **clears** only when the fix is clearly back out: ``s <= raise - max(3 u, 20 m)``.
  The gap between the raise and the clear lines is 1.5 accuracy diameters: a wearer standing
  5 m from a boundary with 30 m accuracy, whose fixes wander within their accuracy disc, can
  raise at most once and never clear from jitter alone; with normal GPS noise (68 % inside
  the accuracy radius, sigma about u / 1.5) clearing from jitter takes a 4-sigma error, about
  once in 30,000 fixes. A real departure clears once it is out by the margin (late clearing
  is the safe side: the operator sees the alarm a little longer).
* Anything in between **holds** the current state (hysteresis).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

HYSTERESIS_M = 20.0
BREACH_FRACTION = 0.5
BREACH_CAP_M = 50.0
CLEAR_GAP = 3.0

RAISE = np.int8(1)
CLEAR = np.int8(-1)
HOLD = np.int8(0)

Floats = NDArray[np.float64]
Codes = NDArray[np.int8]


def breach_raise_depth(u: Floats) -> Floats:
    """Depth from which a breach is certain enough to raise."""
    return np.minimum(u * BREACH_FRACTION, BREACH_CAP_M)


def possible_raise_depth(u: Floats) -> Floats:
    """Depth from which a breach is possible (the accuracy disc reaches the line)."""
    return -u


def clear_depth(raise_depth: Floats, u: Floats) -> Floats:
    """Depth at or below which the fix is clearly out again."""
    return raise_depth - np.maximum(CLEAR_GAP * u, HYSTERESIS_M)


def codes(depth: Floats, raise_depth: Floats, u: Floats) -> Codes:
    """RAISE (1), CLEAR (-1) or HOLD (0) for each depth."""
    out = np.full(depth.shape, HOLD, dtype=np.int8)
    out[depth >= raise_depth] = RAISE
    out[depth <= clear_depth(raise_depth, u)] = CLEAR
    return out

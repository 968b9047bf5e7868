"""How GPS accuracy turns a fix into raise / clear / hold, and when a fix is too coarse to decide.

Every geometric rule measures a *depth* ``s`` in metres: how far the fix lies inside the
forbidden side (for an exclusion zone, inside the polygon; for an inclusion zone, outside it;
for BAR, ``threshold - distance``). ``u`` is the fix's uncertainty radius: its reported
accuracy, the 68 % radius of the Android / Traccar convention; for a wearer-to-device
distance the root sum of squares of both accuracies and of the drift the time between the two
fixes adds (``vigie.detect.engine.alignment``), since the errors are independent.

The rule, the same for zones, alert and pre-alert:

* A **breach** is raised only when it is *certain enough*: ``s >= u``, the fix's whole
  accuracy circle lies on the forbidden side. With the 2-D normal law behind the 68 % radius
  (sigma = u / 1.515 per axis) the true position is beyond a straight boundary with
  probability Phi(1.515) = 93.5 %. There is **no cap**: a cell-tower fix with 3 km accuracy
  55 m inside a zone is 55 m of evidence against 3 km of doubt and decides nothing, while a
  10 m fix 55 m inside decides. (The previous cap at 50 m made a 3 km fix count like a 100 m
  one: for a person living beside a zone, every coarse fix whose error pointed inward was an
  alarm, 93 % of the false alarms measured in issue 20.) A real entry is still caught: the
  wearer goes on reporting, and precise fixes (5-30 m in the open) decide within metres.
* A breach **clears** only when the fix is clearly back out: ``s <= u - max(3.5 u, 20 m)``,
  i.e. 2.5 accuracy radii out (the clear line of the rule before issue 20, kept). The gap
  between the raise and the clear lines is 1.75 accuracy diameters: a wearer standing 5 m
  from a boundary with 30 m accuracy, whose fixes wander within their accuracy disc, raises
  at most once and never clears from jitter alone; with normal noise a clear from jitter
  takes a 3.5-sigma error (about 1 fix in 4,000). Late clearing is the safe side.
* Anything in between **holds** the current state (hysteresis).
* A fix is **too coarse to decide** a rule when its accuracy circle straddles the raise line
  (``-u < s < u``, ``too_coarse``) and its own accuracy is worse than ``COARSE_M``: a
  precise fix could settle it. It raises nothing on its own; the engine marks the device
  *uncertain* and asks for a fresh precise fix (``Engine.take_fix_requests``), which the centre
  sends through the gateway's command path. A precise fix that sits on a line
  (``u <= COARSE_M``) is not coarse: another one would not decide better, and hysteresis
  handles it.

Confirmation (a second fix or a bounded time, ``persistence``) and plausibility (an
impossible jump held as suspect, ``plausibility``) come on top of this rule.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

HYSTERESIS_M = 20.0
BREACH_FRACTION = 1.0  # raise when s >= BREACH_FRACTION * u: the whole 68 % circle inside
CLEAR_GAP = 3.5
COARSE_M = 50.0  # coarser than this, a fix whose circle straddles a line asks for a better one

RAISE = np.int8(1)
CLEAR = np.int8(-1)
HOLD = np.int8(0)

Floats = NDArray[np.float64]
Codes = NDArray[np.int8]


def breach_raise_depth(u: Floats) -> Floats:
    """Depth from which a breach is certain enough to raise (no cap: see the module)."""
    return np.asarray(u * BREACH_FRACTION, dtype=np.float64)


def clear_depth(raise_depth: Floats, u: Floats) -> Floats:
    """Depth at or below which the fix is clearly out again."""
    return raise_depth - np.maximum(CLEAR_GAP * u, HYSTERESIS_M)


def codes(depth: Floats, raise_depth: Floats, u: Floats) -> Codes:
    """RAISE (1), CLEAR (-1) or HOLD (0) for each depth."""
    out = np.full(depth.shape, HOLD, dtype=np.int8)
    out[depth >= raise_depth] = RAISE
    out[depth <= clear_depth(raise_depth, u)] = CLEAR
    return out


def too_coarse(depth: float, u: float) -> bool:
    """True when a fix's circle straddles the raise line (the caller checks it is coarse)."""
    return bool(-u < depth < breach_raise_depth(np.array([u]))[0])

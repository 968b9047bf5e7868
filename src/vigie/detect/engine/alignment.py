"""BAR time alignment: each fix is paired with the other party's position *at its own time*.

The wearer's and the protected person's devices report on their own schedules, and one of
them may upload stored fixes late (a network outage): pairing a fix with the other party's
*newest* position compares two moments that may be a quarter of an hour apart (issue 20: a
real drive-by at 2.8 km with a 3 km alert was missed that way). So each BAR device keeps a
short history (``HISTORY_MS``), and a fix at ``t`` is paired with the other party's position
at ``t``:

- between two fixes of the other party: linear interpolation of position and accuracy, plus
  the drift of the nearer fix's age (the bearer may have left the straight line);
- after its latest fix only: that fix, plus the drift of its age.

The drift is ``DRIFT_M_PER_S`` (1.4 m/s, a walking pace) for the age beyond ``STILL_S``
(300 s): a device that moves reports every 30 s (motion-triggered reporting, the centre's
``report_every_s`` while still), so silence up to the still period means a still bearer, and
beyond it the bearer may have walked off. The drift enters the distance's uncertainty as an
independent error: ``u = sqrt(acc_w^2 + acc_p^2 + drift^2)`` (``pair_uncertainty``).
"""

from __future__ import annotations

import bisect

import numpy as np
from numpy.typing import NDArray

from vigie.detect.devices import NEVER

Fix = tuple[int, float, float, float]  # (t ms, lat, lon, accuracy m)
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

DRIFT_M_PER_S = 1.4
STILL_S = 300.0
HISTORY_MS = 2 * 3600 * 1000


def drift_m(age_ms: Ints | Floats) -> Floats:
    """How far a bearer may have gone from a fix ``age_ms`` old (see the module)."""
    return np.asarray(
        DRIFT_M_PER_S * np.maximum(np.abs(age_ms) / 1000.0 - STILL_S, 0.0), dtype=np.float64
    )


def pair_uncertainty(w_acc: Floats, p_acc: Floats, w_t: Ints, p_t: Ints) -> Floats:
    """Uncertainty of wearer-to-target distances; a place (``p_t`` NEVER) adds nothing."""
    place = p_t == NEVER
    g = np.where(place, 0.0, drift_m(np.where(place, 0, w_t - p_t)))
    p = np.where(place, 0.0, p_acc)
    return np.asarray(np.sqrt(w_acc * w_acc + p * p + g * g), dtype=np.float64)


def pair_uncertainty_one(wearer: Fix, target: Fix) -> float:
    """``pair_uncertainty`` of one pair."""
    return float(
        pair_uncertainty(
            np.array([wearer[3]]),
            np.array([target[3]]),
            np.array([wearer[0]], dtype=np.int64),
            np.array([target[0]], dtype=np.int64),
        )[0]
    )


def record(history: list[Fix], fix: Fix) -> None:
    """Add a fix to a device's history (time order kept), forgetting what is too old."""
    if not history or fix[0] >= history[-1][0]:
        history.append(fix)
    else:
        bisect.insort(history, fix)
    horizon = history[-1][0] - HISTORY_MS
    if history[0][0] < horizon:
        del history[: bisect.bisect_left(history, (horizon,))]


def at_time(history: list[Fix], t: int) -> Fix | None:
    """The other party's position at ``t``, as a fix whose age the pair's drift counts.

    With a fix after ``t``, the interpolated position is stamped ``t`` and carries the drift
    of the nearer fix's age in its accuracy; otherwise the latest fix at or before ``t``
    (its own time: ``pair_uncertainty`` adds its age's drift), or None with no history.
    """
    if not history:
        return None
    k = bisect.bisect_right(history, (t, float("inf")))
    if k == len(history):
        return history[-1]
    after = history[k]
    if k == 0:
        if after[0] == t:
            return after
        g = float(drift_m(np.array([after[0] - t]))[0])
        return t, after[1], after[2], float(np.hypot(after[3], g))
    before = history[k - 1]
    if before[0] == t:
        return before
    f = (t - before[0]) / (after[0] - before[0])
    lat = before[1] + f * (after[1] - before[1])
    lon = before[2] + f * (after[2] - before[2])
    acc = before[3] + f * (after[3] - before[3])
    g = float(drift_m(np.array([min(t - before[0], after[0] - t)]))[0])
    return t, lat, lon, float(np.hypot(acc, g))

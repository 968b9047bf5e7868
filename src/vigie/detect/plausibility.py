"""Plausibility: a fix that implies an impossible speed from the device's track is suspect.

A fix is compared with the device's previous fix (the one the engine holds): the bearer can
have moved at most ``MAX_SPEED_M_S`` times the time between them, and each position is known
within its accuracy. A fix farther than that reach (``distance > acc_prev + acc + v dt``) is
an impossible jump: a cold-start outlier, a multipath reflection, a Wi-Fi fix from a relocated
access point. It is not dropped (it is a sign of life, and it may be the first of a real
relocation) but *held as suspect*: the engine uses it with its accuracy widened to the jump,
so its circle covers both where the track was and where the fix says; it can then neither
raise nor clear anything (see ``certainty``). The next fix confirms or refutes it: a fix near
the suspect one is plausible from it (the suspect's wide circle is its reach) and is used with
its own accuracy; a fix back on the old track is plausible too, and the outlier is gone.

``MAX_SPEED_M_S`` is 50 m/s (180 km/h): above any speed a person under an electronic
monitoring order reaches on French roads (130 km/h motorway limit) with margin for a car
driven too fast, so a real journey is never held back; cold-start and reflected fixes jump
kilometres in seconds and are caught.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vigie.detect.devices import NEVER
from vigie.detect.geodesy import distance_m

MAX_SPEED_M_S = 50.0
# Metres in a degree of latitude or longitude, at most (a meridian degree at the poles is
# 111,694 m; an equator degree 111,320 m), with room above any rounding.
_DEGREE_MAX_M = 111_700.0

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


def effective_accuracy(
    prev_t: Ints,
    prev_lat: Floats,
    prev_lon: Floats,
    prev_acc: Floats,
    t: Ints,
    lat: Floats,
    lon: Floats,
    acc: Floats,
) -> Floats:
    """The accuracy each fix is used with: its own, or widened to the jump when suspect."""
    known = prev_t != NEVER
    if not known.any():
        return acc
    # (A device with no fix yet spans from NEVER: a huge reach, and `known` leaves it out.)
    dt_s = np.maximum(t - prev_t, 0) / 1000.0
    reach = prev_acc + acc + MAX_SPEED_M_S * dt_s
    # A bound first: no degree is longer than _DEGREE_MAX_M, so a fix whose bound is within
    # reach is not suspect; the distance proper only for the others (few: jumps, outliers).
    dlon = np.abs(lon - prev_lon)
    np.minimum(dlon, 360.0 - dlon, out=dlon)
    dlon *= dlon
    dlat = lat - prev_lat
    dlat *= dlat
    dlon += dlat
    dlon *= _DEGREE_MAX_M**2  # the bound squared: no root (np.sqrt is ten times slower than
    # a product); the rounding of either is far below the bound's slack (six metres a degree)
    far = np.flatnonzero(known & (dlon > reach * reach))
    if not len(far):
        return acc
    jump = distance_m(prev_lat[far], prev_lon[far], lat[far], lon[far])
    out = acc.copy()
    out[far] = np.where(jump > reach[far], np.maximum(acc[far], jump), acc[far])
    return out


def effective_one(
    prev: tuple[int, float, float, float] | None, fix: tuple[int, float, float, float]
) -> float:
    """``effective_accuracy`` of one fix against the device's previous fix (or None)."""
    if prev is None:
        return fix[3]
    return float(
        effective_accuracy(
            np.array([prev[0]], dtype=np.int64),
            np.array([prev[1]]),
            np.array([prev[2]]),
            np.array([prev[3]]),
            np.array([fix[0]], dtype=np.int64),
            np.array([fix[1]]),
            np.array([fix[2]]),
            np.array([fix[3]]),
        )[0]
    )

"""Array helpers of the vectorised fix path: rule lists per device, pairs, screens, transitions.

Pure functions of numpy arrays, no engine state: the index of each device's rules (CSR), the
(fix, rule) pairs of a batch, the cheap BAR screen that proves a pair cannot raise, and the
positions where a rule's raised/cleared state flips within a batch.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from vigie.detect.geodesy import DEG, A, metres_per_degree

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]


def csr(rule_device: Ints, n_devices: int) -> tuple[Ints, Ints]:
    """Each device's rules: rules ``order[ptr[d]:ptr[d + 1]]`` belong to device ``d``."""
    order = np.argsort(rule_device, kind="stable").astype(np.int64)
    counts = np.bincount(rule_device, minlength=n_devices).astype(np.int64)
    ptr = np.zeros(n_devices + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, order


def expand(ptr: Ints, idx: Ints, dev: Ints) -> tuple[Ints, Ints]:
    """(fix position, rule) pairs for every fix and every rule of its device."""
    starts = ptr[dev]
    counts = ptr[dev + 1] - starts
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    fix = np.repeat(np.arange(len(dev), dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return fix, idx[np.repeat(starts, counts) + offsets]


_K_NORTH_MIN = float(metres_per_degree(0.0)[0])  # a degree of latitude is shortest at the equator


def prox_may_raise(
    w_lat: Floats,
    w_lon: Floats,
    p_lat: Floats,
    p_lon: Floats,
    u: Floats,
    reach: Floats,
    top: float,
) -> NDArray[np.bool_]:
    """False where a wearer is surely beyond a pre-alert's reach (``reach + u``) of a target.

    A lower bound of ``distance_m``: its north scale is at least the equator's, its east scale
    at least ``a cos(top)``, ``top`` being at least every latitude involved (the prime vertical
    radius is never below the semi-major axis). Squares, no roots: a few operations a pair.
    """
    k_east = A * DEG * math.cos(math.radians(min(top, 90.0)))
    dlon = np.abs(w_lon - p_lon)
    np.minimum(dlon, 360.0 - dlon, out=dlon)
    dlon *= k_east
    dlon *= dlon
    dlat = w_lat - p_lat
    dlat *= _K_NORTH_MIN
    dlat *= dlat
    dlon += dlat
    limit = reach + u
    limit *= limit
    return np.asarray(dlon <= limit)


def steps(raised: NDArray[np.bool_], rule: Ints, pos: Ints, code: NDArray[np.int8]) -> Ints:
    """Pairs (as indices into the inputs) for the rules' state machines, in (rule, pos) order.

    A rule can only change state (raise, hold a breach for confirmation, clear) if one of its
    codes disagrees with its current state; every code of those rules is handed on in time
    order, since a held breach needs the fixes after its first one (a second certain one
    confirms it, one on the allowed side takes it back).
    """
    disagree = (code != 0) & ((code > 0) != raised[rule])
    if not disagree.any():
        return np.zeros(0, dtype=np.int64)
    touched = np.zeros(len(raised), dtype=bool)
    touched[rule[disagree]] = True
    keep = np.flatnonzero(touched[rule])
    return np.asarray(keep[np.lexsort((pos[keep], rule[keep]))], dtype=np.int64)

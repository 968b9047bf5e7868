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


def transitions(raised: NDArray[np.bool_], rule: Ints, pos: Ints, code: NDArray[np.int8]) -> Ints:
    """Pairs (as indices into the inputs) where a rule's state changes, in (rule, pos) order.

    A rule can only change state if one of its codes disagrees with its current state, so
    the sort runs only over the few rules that have such a code.
    """
    disagree = (code != 0) & ((code > 0) != raised[rule])
    if not disagree.any():
        return np.zeros(0, dtype=np.int64)
    touched = np.zeros(len(raised), dtype=bool)
    touched[rule[disagree]] = True
    keep = np.flatnonzero(touched[rule])
    o = keep[np.lexsort((pos[keep], rule[keep]))]
    r, c = rule[o], code[o]
    n = len(r)
    at = np.arange(n, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = r[1:] != r[:-1]
    group_first = np.maximum.accumulate(np.where(starts, at, 0))
    last = np.maximum.accumulate(np.where(c != 0, at, -1))
    initial = raised[r]
    state = np.where(last >= group_first, c[np.maximum(last, 0)] > 0, initial)
    before = np.empty(n, dtype=bool)
    before[1:] = state[:-1]
    before[starts] = initial[starts]
    return np.asarray(o[np.flatnonzero(state != before)], dtype=np.int64)

"""Interval arithmetic on integer epoch seconds: how ground truth is assembled.

Intervals are half-open ``[start, end)`` pairs, kept sorted and disjoint by `union`.
"""

from collections.abc import Iterable

import numpy as np

Interval = tuple[int, int]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, disjoint intervals covering the same instants; touching ones are merged."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Instants in both `a` and `b`."""
    a_u, b_u = union(a), union(b)
    out: list[Interval] = []
    i = j = 0
    while i < len(a_u) and j < len(b_u):
        start = max(a_u[i][0], b_u[j][0])
        end = min(a_u[i][1], b_u[j][1])
        if start < end:
            out.append((start, end))
        if a_u[i][1] < b_u[j][1]:
            i += 1
        else:
            j += 1
    return out


def minus(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Instants in `a` and not in `b`."""
    out: list[Interval] = []
    holes = union(b)
    for start, end in union(a):
        for h_start, h_end in holes:
            if h_end <= start or h_start >= end:
                continue
            if h_start > start:
                out.append((start, h_start))
            start = max(start, h_end)
        if start < end:
            out.append((start, end))
    return out


def covered(intervals: list[Interval], times: np.ndarray) -> np.ndarray:
    """Boolean mask: which of `times` fall inside one of the (disjoint, sorted) intervals."""
    if not intervals:
        return np.zeros(times.shape, dtype=bool)
    starts = np.array([i[0] for i in intervals], dtype=np.int64)
    ends = np.array([i[1] for i in intervals], dtype=np.int64)
    k = np.searchsorted(starts, times, side="right") - 1
    ok = k >= 0
    k_safe = np.where(ok, k, 0)
    return ok & (times < ends[k_safe])


def from_mask(times: np.ndarray, mask: np.ndarray, end: int) -> list[Interval]:
    """Intervals where a sampled predicate holds: from each first true sample to the next false one.

    `times` are increasing sample instants; a run still true at the last sample lasts until `end`.
    """
    if times.size == 0 or not mask.any():
        return []
    m = mask.astype(np.int8)
    edges = np.diff(np.concatenate(([0], m, [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    out: list[Interval] = []
    for s, e in zip(starts, stops, strict=True):
        stop_t = int(times[e]) if e < times.size else end
        out.append((int(times[s]), stop_t))
    return union(out)

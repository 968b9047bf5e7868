"""Which side of a zone's edge a fix lies on, for most fixes near it, without shapely: sectors.

Around a point C inside the zone (its inscribed circle's centre) the plane is cut into
``SECTORS`` equal angular sectors. In each, ``near`` is the least distance from C of the
boundary within the sector and ``far`` the greatest. A point of the sector closer to C than
``near`` is joined to C by a radius that meets no boundary: it is inside, as C is. One farther
than ``far`` is joined to infinity by a ray that meets none: it is outside. Only points
between the two radii need shapely's exact point-in-polygon test.

This is exact, not a heuristic: both bounds are widened far beyond rounding (a micrometre and
a part in a billion), each sector's boundary is clipped over a slightly wider angle than the
sector itself (so that a point's sector, computed by ``atan2``, is always one whose bounds
hold for it), and a boundary piece nearly aligned with a ray is not clipped at all (its whole
segment counts: looser, never wrong). Holes and the parts of a MultiPolygon are boundary like
any other: the argument holds for any boundary.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import NDArray

Floats = NDArray[np.float64]

SECTORS = 128  # a power of two (``sector_of``)
_WIDTH = 2.0 * math.pi / SECTORS
_ANGLE_SLACK = 1e-9  # radians each side of a sector: far above atan2's rounding (1e-16)
_RELATIVE_SLACK = 1e-9
_ABSOLUTE_SLACK_M = 1e-6
_ALIGNED = 1e-6  # |sin| between a ray and a segment below which the segment is not clipped
_T_SLACK = 1e-9  # a clipped piece is widened by this share of its segment each side


def bounds(geometries: NDArray[np.object_], cx: Floats, cy: Floats) -> tuple[Floats, Floats]:
    """(near, far), one row of ``SECTORS`` per geometry, around its (cx, cy): radii within
    which a point is surely inside, beyond which surely outside. All geometries at once: a
    Python loop per zone cost half a millisecond each where fixes first came near many zones.
    """
    m = len(geometries)
    near = np.full(m * SECTORS, np.inf)
    far = np.zeros(m * SECTORS)
    parts, part_of = shapely.get_parts(geometries, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, point_of = shapely.get_coordinates(rings, return_index=True)
    joined = np.flatnonzero(point_of[1:] == point_of[:-1])  # consecutive points of one ring
    owner = part_of[ring_of[point_of[joined]]]
    x0 = coords[joined, 0] - cx[owner]
    y0 = coords[joined, 1] - cy[owner]
    x1 = coords[joined + 1, 0] - cx[owner]
    y1 = coords[joined + 1, 1] - cy[owner]
    _segments(owner, x0, y0, x1, y1, near, far)
    empty = ~np.isfinite(near)  # none: C is inside, every ray meets the boundary
    near[empty], far[empty] = 0.0, np.inf
    near = near * (1.0 - _RELATIVE_SLACK) - _ABSOLUTE_SLACK_M
    far = far * (1.0 + _RELATIVE_SLACK) + _ABSOLUTE_SLACK_M
    return near.reshape(m, SECTORS), far.reshape(m, SECTORS)


def _segments(
    owner: NDArray[np.int64],
    x0: Floats,
    y0: Floats,
    x1: Floats,
    y1: Floats,
    near: Floats,
    far: Floats,
) -> None:
    """Fold boundary segments (coordinates relative to their C) into their sectors' bounds."""
    keep = (x0 != x1) | (y0 != y1)
    owner, x0, y0, x1, y1 = owner[keep], x0[keep], y0[keep], x1[keep], y1[keep]
    if not len(x0):
        return
    a0 = np.arctan2(y0, x0)
    a1 = np.arctan2(y1, x1)
    turn = (a1 - a0 + math.pi) % (2.0 * math.pi) - math.pi  # a segment misses C: |turn| < pi
    forward = turn >= 0
    # Each segment oriented so that its angle grows from its start (qx0, qy0) at `lo`.
    qx0 = np.where(forward, x0, x1)
    qy0 = np.where(forward, y0, y1)
    qx1 = np.where(forward, x1, x0)
    qy1 = np.where(forward, y1, y0)
    lo = np.where(forward, a0, a1)
    hi = lo + np.abs(turn)
    first = np.floor((lo - _ANGLE_SLACK + math.pi) / _WIDTH).astype(np.int64)
    last = np.floor((hi + _ANGLE_SLACK + math.pi) / _WIDTH).astype(np.int64)
    count = last - first + 1
    seg = np.repeat(np.arange(len(lo)), count)
    sector = np.repeat(first, count) + (
        np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    )
    start = np.maximum(lo[seg], sector * _WIDTH - math.pi - _ANGLE_SLACK)
    end = np.minimum(hi[seg], (sector + 1) * _WIDTH - math.pi + _ANGLE_SLACK)
    px, py = qx0[seg], qy0[seg]
    dx, dy = qx1[seg] - px, qy1[seg] - py
    length = np.hypot(dx, dy)
    t0 = _along(start, px, py, dx, dy, length, 0.0)
    t1 = _along(end, px, py, dx, dy, length, 1.0)
    t0 = np.where(start > lo[seg], np.maximum(t0 - _T_SLACK, 0.0), 0.0)
    t1 = np.where(end < hi[seg], np.minimum(t1 + _T_SLACK, 1.0), 1.0)
    ax, ay = px + t0 * dx, py + t0 * dy
    bx, by = px + t1 * dx, py + t1 * dy
    reach = np.maximum(np.hypot(ax, ay), np.hypot(bx, by))
    ex, ey = bx - ax, by - ay
    span = ex * ex + ey * ey
    with np.errstate(invalid="ignore", divide="ignore"):
        foot = np.where(span > 0, np.clip(-(ax * ex + ay * ey) / span, 0.0, 1.0), 0.0)
    closest = np.hypot(ax + foot * ex, ay + foot * ey)
    cell = owner[seg] * SECTORS + sector % SECTORS
    np.minimum.at(near, cell, closest)
    np.maximum.at(far, cell, reach)


def _along(
    angle: Floats, px: Floats, py: Floats, dx: Floats, dy: Floats, length: Floats, whole: float
) -> Floats:
    """Where along each segment (0..1) the ray from C at `angle` meets it; `whole` (the
    segment's own end) where the ray is too nearly aligned with it to say precisely."""
    ux, uy = np.cos(angle), np.sin(angle)
    across = ux * dy - uy * dx
    aligned = np.abs(across) <= _ALIGNED * length
    with np.errstate(invalid="ignore", divide="ignore"):
        t = -(ux * py - uy * px) / across
    return np.where(aligned | ~np.isfinite(t), whole, np.clip(t, 0.0, 1.0))


def sector_of(dx: Floats, dy: Floats) -> NDArray[np.int64]:
    """The sector of points at (dx, dy) from C."""
    k = np.floor((np.arctan2(dy, dx) + math.pi) / _WIDTH).astype(np.int64)
    k &= SECTORS - 1  # ``k % SECTORS`` (a power of two), without the slow integer division
    return k

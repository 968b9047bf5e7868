"""True trajectories: where a person really is, second by second, as a piecewise-linear path.

A track is a list of waypoints; between two waypoints the person either stays (same point) or
moves in a straight line along a street. Ground truth is evaluated on this path, GPS fixes are
drawn around it.
"""

import itertools
from dataclasses import dataclass

import numpy as np

from vigie.sim.geography import Place, route, speed_for

TRUTH_STEP_S = 5  # sampling step of moving segments when computing ground truth


@dataclass(frozen=True, slots=True)
class Track:
    """Waypoints (`t` epoch seconds, `x`/`y` Lambert-93 metres) and per-segment flags."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    moving: np.ndarray  # segment i runs from waypoint i to i + 1
    indoor: np.ndarray

    def position(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True Lambert-93 position at each time."""
        return np.interp(times, self.t, self.x), np.interp(times, self.t, self.y)

    def segment(self, times: np.ndarray) -> np.ndarray:
        """Index of the segment each time falls in (clamped to the first and last)."""
        k = np.searchsorted(self.t, times, side="right") - 1
        return np.clip(k, 0, len(self.moving) - 1)

    def is_moving(self, times: np.ndarray) -> np.ndarray:
        """Whether the person is travelling at each time."""
        return np.asarray(self.moving[self.segment(times)], dtype=bool)

    def is_indoor(self, times: np.ndarray) -> np.ndarray:
        """Whether the person is inside a building at each time."""
        return np.asarray(self.indoor[self.segment(times)], dtype=bool)

    def truth_times(self) -> np.ndarray:
        """Instants enough to follow the path: every waypoint, and every few seconds on the move."""
        parts = [self.t]
        for i in np.flatnonzero(self.moving):
            parts.append(np.arange(self.t[i], self.t[i + 1], TRUTH_STEP_S, dtype=np.int64))
        return np.unique(np.concatenate(parts))

    def travel_intervals(self) -> list[tuple[int, int]]:
        """Intervals spent moving."""
        return [(int(self.t[i]), int(self.t[i + 1])) for i in np.flatnonzero(self.moving)]


def travel_time_s(a: Place, b: Place) -> int:
    """Seconds to go from `a` to `b` along the streets (deterministic, no draw)."""
    length = abs(b.x - a.x) + abs(b.y - a.y)
    return int(np.ceil(length / speed_for(length))) if length > 0 else 0


class TrackBuilder:
    """Builds a track by staying and travelling, in time order."""

    def __init__(self, start_s: int, place: Place) -> None:
        self._t = [start_s]
        self._x = [place.x]
        self._y = [place.y]
        self._moving: list[bool] = []
        self._indoor: list[bool] = []
        self.place = place

    @property
    def now(self) -> int:
        """Time reached so far."""
        return self._t[-1]

    def stay_until(self, t_s: int) -> None:
        """Stay at the current place until `t_s` (no-op if already past it)."""
        if t_s > self.now:
            self._append(t_s, self.place.x, self.place.y, moving=False, indoor=self.place.indoor)

    def travel_to(self, place: Place, x_first: bool) -> None:
        """Go to `place` along the streets, leaving now."""
        corners = route(self.place, place, x_first)
        length = abs(place.x - self.place.x) + abs(place.y - self.place.y)
        speed = speed_for(length)
        t = float(self.now)
        for (ax, ay), (bx, by) in itertools.pairwise(corners):
            leg = abs(bx - ax) + abs(by - ay)
            if leg == 0:
                continue
            t += leg / speed
            self._append(max(round(t), self.now + 1), bx, by, moving=True, indoor=False)
        self.place = place

    def _append(self, t: int, x: float, y: float, *, moving: bool, indoor: bool) -> None:
        self._t.append(t)
        self._x.append(x)
        self._y.append(y)
        self._moving.append(moving)
        self._indoor.append(indoor)

    def build(self, end_s: int) -> Track:
        """The finished track, the person staying where they are until `end_s`."""
        self.stay_until(end_s)
        if not self._moving:  # a track needs at least one segment
            self._append(self.now + 1, self.place.x, self.place.y, moving=False, indoor=True)
        return Track(
            t=np.array(self._t, dtype=np.int64),
            x=np.array(self._x, dtype=float),
            y=np.array(self._y, dtype=float),
            moving=np.array(self._moving, dtype=bool),
            indoor=np.array(self._indoor, dtype=bool),
        )


def follow_plan(
    rng: np.random.Generator, start_s: int, end_s: int, home: Place, plan: list[tuple[int, Place]]
) -> Track:
    """The track of someone starting at home and leaving for each (departure, place) in turn.

    A departure planned before the person has arrived where they were going is delayed by a few
    minutes: nobody teleports.
    """
    builder = TrackBuilder(start_s, home)
    for depart, place in sorted(plan, key=lambda p: p[0]):
        if depart >= end_s:
            break
        builder.stay_until(max(depart, builder.now + 120))
        builder.travel_to(place, x_first=bool(rng.integers(2)))
    return builder.build(end_s)

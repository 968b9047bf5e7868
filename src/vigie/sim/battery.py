"""Battery charge of a GPS bracelet over time: drains all day, charges at home in the evening.

A wearer who skips a night's charge runs low the next day and may run flat (the bracelet then
falls silent until plugged in again): for the anti-approach bracelet (BAR) that is a breach.
"""

from dataclasses import dataclass

import numpy as np

from vigie.sim.geography import Place
from vigie.sim.intervals import Interval, from_mask
from vigie.sim.track import Track

DRAIN_PER_S = 1.0 / (34 * 3600)  # a full bracelet lasts about a day and a half
CHARGE_PER_S = 1.0 / (2.5 * 3600)


@dataclass(frozen=True, slots=True)
class BatteryCurve:
    """True charge level (0-1) as a piecewise-linear function of time."""

    t: np.ndarray
    level: np.ndarray

    def at(self, times: np.ndarray) -> np.ndarray:
        """True level at each time."""
        return np.asarray(np.interp(times, self.t, self.level), dtype=np.float64)

    def below(self, threshold: float, start_s: int, end_s: int) -> list[Interval]:
        """Intervals when the level is at or below `threshold` (to within 5 s)."""
        times = np.arange(start_s, end_s, 5, dtype=np.int64)
        return from_mask(times, self.at(times) <= threshold + 1e-12, end_s)

    def flat(self, start_s: int, end_s: int) -> list[Interval]:
        """Intervals when the battery is empty and the device dead."""
        return self.below(0.0, start_s, end_s)


def battery_curve(
    start_s: int, end_s: int, level0: float, sessions: list[Interval]
) -> BatteryCurve:
    """The level over ``[start_s, end_s]`` given the charging sessions (sorted, disjoint)."""
    ts: list[float] = [float(start_s)]
    ls: list[float] = [level0]

    def drain_to(t_end: float) -> None:
        t0, level = ts[-1], ls[-1]
        if t_end <= t0:
            return
        flat_at = t0 + level / DRAIN_PER_S
        if flat_at < t_end:
            if flat_at > t0:
                ts.append(flat_at)
                ls.append(0.0)
            ts.append(t_end)
            ls.append(0.0)
        else:
            ts.append(t_end)
            ls.append(level - DRAIN_PER_S * (t_end - t0))

    for s, e in sessions:
        if s >= end_s:
            break
        drain_to(float(s))
        e = min(e, end_s)
        full_at = ts[-1] + (1.0 - ls[-1]) / CHARGE_PER_S
        if full_at < e:
            ts.append(full_at)
            ls.append(1.0)
            ts.append(float(e))
            ls.append(1.0)
        else:
            level = ls[-1] + CHARGE_PER_S * (e - ts[-1])
            ts.append(float(e))
            ls.append(level)
    drain_to(float(end_s))
    return BatteryCurve(np.array(ts), np.array(ls))


def charging_sessions(
    rng: np.random.Generator,
    track: Track,
    home: Place,
    midnights: list[int],
    skip_rate: float,
) -> list[Interval]:
    """Evening charges at home: plugged in after 20:00, unplugged when leaving.

    With probability `skip_rate` a night is skipped (the wearer forgets or refuses).
    """
    at_home = [
        int(i)
        for i in np.flatnonzero(~track.moving)
        if track.x[i] == home.x and track.y[i] == home.y and track.t[i + 1] - track.t[i] > 3_600
    ]
    sessions: list[Interval] = []
    used: set[int] = set()
    for m in midnights:
        evening = m + 20 * 3_600
        for i in at_home:
            s, e = int(track.t[i]), int(track.t[i + 1])
            if i in used or e <= evening + 1_800 or s >= evening + 6 * 3_600:
                continue
            used.add(i)
            if rng.random() >= skip_rate:
                start = max(s, evening) + int(rng.integers(0, 3_600))
                if start < e:
                    sessions.append((start, e))
            break
    return sorted(sessions)

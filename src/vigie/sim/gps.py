"""What a GPS bracelet or protected person's device sends, given where its bearer really is.

- Fixes every 30 s on the move, every 5 min at rest; indoors most fixes fail.
- ``accuracy_m`` is the reported 68 % radius (the Android / Traccar convention); the true error
  is drawn from the 2-D normal law with that radius, so sigma = accuracy / 1.515. Indoors and in
  town the accuracy is worse.
- A battery report every 5 min doubles as the heartbeat (silence means trouble, not rest).
- Tunnels: no fix and no network for a few minutes. Coverage losses: fixes are kept and
  uploaded in a burst at reconnection, each with its own ``t`` (so they reach the centre out of
  order). Silences (device off, jammed, or flat battery): nothing at all.
"""

from dataclasses import dataclass, field

import numpy as np

from vigie.sim import noise, records
from vigie.sim.battery import BatteryCurve
from vigie.sim.geography import lonlat
from vigie.sim.intervals import Interval, covered, union
from vigie.sim.track import Track

MOVING_FIX_S = 30
RESTING_FIX_S = 300
HEARTBEAT_S = 300
INDOOR_FIX_RATE = 0.3
SIGMA_PER_ACCURACY = 1.0 / 1.515  # 68 % of a 2-D normal law lies within 1.515 sigma


@dataclass(slots=True)
class Outbox:
    """Lines a device sends: when each reaches the centre, its event time, its sending order."""

    arrival: list[int] = field(default_factory=list)
    event: list[int] = field(default_factory=list)
    order: list[float] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def add(self, arrival: int, event: int, line: str, order: float | None = None) -> None:
        """Queue one line; lines arriving in the same second are sent by `order` (default: t)."""
        self.arrival.append(arrival)
        self.event.append(event)
        self.order.append(float(event) if order is None else order)
        self.lines.append(line)

    def extend(self, other: "Outbox") -> None:
        """Queue everything another outbox holds."""
        self.arrival.extend(other.arrival)
        self.event.extend(other.event)
        self.order.extend(other.order)
        self.lines.extend(other.lines)

    def hold_back(self, device: str, losses: list[Interval]) -> None:
        """Delay this device's lines sent during network losses until the network is back."""
        for i, line in enumerate(self.lines):
            if f'"device":"{device}"' not in line:
                continue
            for s, e in losses:
                if s <= self.event[i] < e and self.arrival[i] < e:
                    self.arrival[i] = e + (self.arrival[i] - self.event[i])

    def heard(self, device: str) -> tuple[np.ndarray, np.ndarray]:
        """Arrival and event times of this device's lines, in the order the centre gets them."""
        tag = f'"device":"{device}"'
        rows = sorted(
            (a, o, t)
            for a, o, t, line in zip(self.arrival, self.order, self.event, self.lines, strict=True)
            if tag in line
        )
        return (
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.int64),
        )


@dataclass(frozen=True, slots=True)
class Coverage:
    """When a device cannot send: tunnels, coverage losses (buffered), silences."""

    tunnels: list[Interval]
    losses: list[Interval]
    silences: list[Interval]


def draw_coverage(
    rng: np.random.Generator,
    track: Track,
    start_s: int,
    end_s: int,
    keep_clear: list[Interval],
    silence_rate_per_week: float = 0.3,
) -> Coverage:
    """Random tunnels (while driving), coverage losses and silences, none over `keep_clear`.

    `keep_clear` are the injected breaches: a device that cannot report during one would make
    the breach undetectable by anyone, which is not what these tests measure.
    """
    clear = union(keep_clear)
    tunnels = []
    for s, e in track.travel_intervals():
        speed_ok = e - s > 600  # only longer drives go through tunnels
        if speed_ok and rng.random() < 0.3:
            t0 = int(rng.integers(s, e - 180))
            tunnels.append((t0, t0 + int(rng.integers(30, 180))))
    losses = []
    days = max(1, (end_s - start_s) // 86_400)
    for _ in range(days):
        if rng.random() < 0.35:
            t0 = int(rng.integers(start_s, end_s))
            duration = int(np.clip(rng.lognormal(np.log(360), 0.8), 60, 2_700))
            losses.append((t0, min(t0 + duration, end_s)))
    silences = []
    if rng.random() < silence_rate_per_week * (end_s - start_s) / (7 * 86_400):
        t0 = int(rng.integers(start_s, end_s))
        silences.append((t0, min(end_s, t0 + int(rng.integers(1_200, 10_800)))))

    def away_from_breaches(items: list[Interval]) -> list[Interval]:
        margin = 900
        return [
            (s, e)
            for s, e in items
            if not any(s - margin < ce and e + margin > cs for cs, ce in clear)
        ]

    return Coverage(
        away_from_breaches(tunnels), away_from_breaches(losses), away_from_breaches(silences)
    )


def gps_outbox(
    rng: np.random.Generator,
    device: str,
    track: Track,
    start_s: int,
    end_s: int,
    battery: BatteryCurve,
    coverage: Coverage,
    noise_rng: np.random.Generator | None = None,
) -> Outbox:
    """Everything the device sends over the span, with arrival times.

    With ``noise_rng``, the fixes carry field noise (``noise.py``): fallback fixes, drift,
    canyon jumps, cold starts, outage bursts, duplicates and clock jitter.
    """
    dead = battery.flat(start_s, end_s)
    mute = union(dead + coverage.silences)
    newest_first = bool(rng.integers(2))  # both upload orders exist in the field

    grid = np.arange(start_s + int(rng.integers(MOVING_FIX_S)), end_s, MOVING_FIX_S)
    n = grid.size
    step = np.arange(n)
    indoor = track.is_indoor(grid)
    wanted = track.is_moving(grid) | (step % (RESTING_FIX_S // MOVING_FIX_S) == 0)
    got_fix = ~indoor | (rng.random(n) < INDOOR_FIX_RATE)
    median = np.where(indoor, 60.0, np.where(track.is_moving(grid), 10.0, 18.0))
    accuracy = np.clip(median * rng.lognormal(0.0, 0.45, n), 3.0, 300.0)
    sigma = accuracy * SIGMA_PER_ACCURACY
    ex, ey = rng.normal(size=n) * sigma, rng.normal(size=n) * sigma
    sendable = wanted & ~covered(mute, grid) & ~covered(union(coverage.tunnels), grid)
    losses = coverage.losses
    if noise_rng is None:
        keep = sendable & got_fix
        t = grid[keep]
        x, y = track.position(t)
        lon, lat = lonlat(x + ex[keep], y + ey[keep])
        accuracy = np.round(accuracy[keep], 1)
    else:
        fixes = noise.degrade(noise_rng, grid, sendable, got_fix, indoor, accuracy, ex, ey)
        t = fixes.t
        x, y = track.position(fixes.true_t)
        lon, lat = lonlat(x + fixes.ex, y + fixes.ey)
        accuracy = fixes.accuracy
        losses = losses + noise.outages(noise_rng, start_s, end_s)

    hb = np.arange(start_s + int(rng.integers(HEARTBEAT_S)), end_s, HEARTBEAT_S)
    hb = hb[~covered(mute, hb) & ~covered(union(coverage.tunnels), hb)]
    # Rounded up to 0.001: a report is at or below a threshold exactly when the true level is,
    # so ground truth (from the true level) and what devices say agree on when it ran low.
    levels = np.ceil(battery.at(hb) * 1000 - 1e-6) / 1000

    lines = [
        records.position(device, int(ti), float(la), float(lo), float(a))
        for ti, la, lo, a in zip(t, lat, lon, accuracy, strict=True)
    ] + [records.battery(device, int(ti), float(lv)) for ti, lv in zip(hb, levels, strict=True)]
    times = np.concatenate((t, hb))
    out = _deliver(rng, times, lines, union(losses), newest_first)
    if noise_rng is not None:
        again, delay = noise.duplicates(noise_rng, t.size)
        for i, d in zip(again.tolist(), delay.tolist(), strict=True):
            out.add(out.arrival[i] + d, out.event[i], out.lines[i], out.order[i])
    return out


def _deliver(
    rng: np.random.Generator,
    times: np.ndarray,
    lines: list[str],
    losses: list[Interval],
    newest_first: bool,
) -> Outbox:
    """Arrival times: a few seconds after the event, or in a burst when coverage comes back."""
    latency = rng.integers(1, 6, times.size)
    arrival = times + latency
    order = times.astype(float)
    if losses:
        ends = np.array([e for _, e in losses], dtype=np.int64)
        starts = np.array([s for s, _ in losses], dtype=np.int64)
        k = np.searchsorted(starts, times, side="right") - 1
        inside = (k >= 0) & (times < ends[np.clip(k, 0, None)])
        reconnect = ends[np.clip(k, 0, None)]
        arrival = np.where(inside, reconnect + latency, arrival)
        if newest_first:
            order = np.where(inside, -order, order)
    out = Outbox()
    for a, t, o, line in zip(arrival.tolist(), times.tolist(), order.tolist(), lines, strict=True):
        out.add(int(a), int(t), line, o)
    return out


def silence_truth(
    heard: tuple[np.ndarray, np.ndarray], start_s: int, end_s: int, timeout_s: int
) -> list[Interval]:
    """When nothing has been heard from a device for `timeout_s`: loss of signal, by definition.

    `heard` is (arrival, event time) in arrival order. As the replay contract says, a device is
    heard when any of its lines arrives, a buffered (stale) one included: a device uploading
    is a device the centre can reach. Silence runs from the latest time heard (arrival, or a
    ``t`` ahead of it from a fast device clock) until the next line arrives; the count starts
    at the scenario's start.
    """
    arrivals, events = heard
    out = []
    last = start_s
    for a, t in zip([*arrivals.tolist(), end_s], [*events.tolist(), end_s], strict=True):
        if a > end_s:
            a = t = end_s
        if a > last + timeout_s:
            out.append((last + timeout_s, a))
        last = max(last, a, t)
        if a >= end_s:
            break
    return out

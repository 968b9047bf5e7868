"""Field noise: how worn and carried GPS devices really misbehave, at published magnitudes.

The clean simulator (``gps.py``) draws each fix's error from the 2-D normal law its reported
accuracy stands for. Real devices are worse, in ways a detector must survive; with
``CaseContext.noise`` the cases add, each from its own random stream (``noise_rng``) so the
wearers' days and the true breaches stay those of the clean scenario:

- **Open sky, street, indoors** (kept from ``gps.py``): consumer GPS is within 4.9 m 95 % of
  the time under open sky (GPS.gov, "GPS Accuracy", after the SPS Performance Standard
  2020); an iPhone in town averaged 7-13 m (Merry & Bettinger 2019, "Smartphone GPS
  accuracy study in an urban environment", PLOS ONE 14(7): e0219890).
- **Reported accuracy understating the error** (``UNDERSTATED``): Android defines the
  accuracy as a 68 % radius and warns that "in practice location errors do not always follow
  such a simple distribution" (Android ``Location.getAccuracy`` reference); for a quarter to
  a half of a device's fixes the true error is 1.5-3 times what the radius says.
- **Indoor drift** (``INDOOR_DRIFT``): high-sensitivity receivers keep giving fixes indoors
  from weak, reflected signals, tens to hundreds of metres off while reporting 30-60 m
  (Zandbergen & Barbeau 2011, "Positional accuracy of assisted GPS data from high-sensitivity
  GPS-enabled mobile phones", Journal of Navigation 64(3): 381-399); drawn as an offset of
  60-250 m that persists for the stay, on a third of indoor fixes.
- **Wi-Fi and cell fallback** (``FALLBACK``): where GPS fails indoors, the fused location
  falls back on Wi-Fi (median error 74 m) or cell towers (median error 600 m), the iPhone's
  measured figures (Zandbergen 2009, "Accuracy of iPhone locations: a comparison of assisted
  GPS, WiFi and cellular positioning", Transactions in GIS 13(s1): 5-25); reported
  accuracies 20-150 m and 300-3,000 m.
- **Urban-canyon jumps** (``CANYON``): multipath in street canyons moves fixes 50-300 m for
  seconds to minutes, systematically in one direction (Merry & Bettinger 2019; U.S. Naval
  Academy, "Urban GPS", London tracks); half of the episodes report an accuracy that grows
  with the jump, half one that does not.
- **Cold starts** (``COLD_START``): the first fix after a long gap is computed from stale
  assistance data (a warm start assumes the last position within 100 km: Wikipedia, "Time
  to first fix"); with probability 0.3 it lands 0.3-5 km off with a 20-100 m accuracy.
- **Outage bursts** (``OUTAGES``): coverage losses of 5-40 minutes, about one a day, during
  which fixes are stored and uploaded at reconnection (late data), unlike the clean model's
  losses they may fall during a breach: the centre learns of it late.
- **Duplicates** (``DUPLICATE``): 2 % of fixes sent again (retransmission after a lost
  acknowledgement), 1 s to 2 min later. **Clock jitter** (``JITTER``): 5 % of fixes stamped
  1-3 s early (the fix is computed, then stamped from a lagging clock), so close reports
  arrive out of order.
"""

from dataclasses import dataclass

import numpy as np

from vigie.sim.intervals import Interval

UNDERSTATED = (0.25, 0.5, 1.5, 3.0)  # share of fixes (low, high), error factor (low, high)
INDOOR_DRIFT = (1 / 3, 60.0, 250.0)  # share of indoor fixes, offset (low, high) m
FALLBACK = (0.5, 0.6)  # share of failed indoor fixes replaced, share of those from Wi-Fi
WIFI = (74.0, 20.0, 150.0)  # median true error, reported accuracy (low, high)
CELL = (600.0, 300.0, 3_000.0)
CANYON = (4.0, 50.0, 300.0, 10.0, 180.0)  # episodes a day, jump (low, high), length s (idem)
COLD_START = (1_200, 0.3, 300.0, 5_000.0)  # gap s, probability, error (low, high)
OUTAGES = (1.0, 300, 2_400)  # per day, length s (low, high)
DUPLICATE = (0.02, 1, 120)  # share, delay s (low, high)
JITTER = (0.05, 3)  # share, largest offset s


@dataclass(slots=True)
class Fixes:
    """Fixes as columns before they become lines: true and stamped time, error, accuracy."""

    true_t: np.ndarray
    t: np.ndarray
    ex: np.ndarray
    ey: np.ndarray
    accuracy: np.ndarray


def outages(rng: np.random.Generator, start_s: int, end_s: int) -> list[Interval]:
    """Coverage losses during which the device stores its fixes (uploaded at reconnection)."""
    days = max(1, (end_s - start_s) // 86_400)
    n = int(rng.poisson(OUTAGES[0] * days))
    starts = np.sort(rng.integers(start_s, end_s, n))
    return [(int(s), min(end_s, int(s + rng.integers(OUTAGES[1], OUTAGES[2])))) for s in starts]


def degrade(
    rng: np.random.Generator,
    grid: np.ndarray,
    sendable: np.ndarray,
    got_fix: np.ndarray,
    indoor: np.ndarray,
    accuracy: np.ndarray,
    ex: np.ndarray,
    ey: np.ndarray,
) -> Fixes:
    """The fixes a real device sends over the grid of report times (see the module).

    ``sendable`` marks the grid times the device reports at all (wanted, not mute, not in a
    tunnel), ``got_fix`` those with a GPS fix; ``accuracy`` and the errors ``ex``, ``ey`` are
    the clean model's.
    """
    n = grid.size
    accuracy = accuracy.copy()
    ex, ey = ex.copy(), ey.copy()
    # Understated accuracy: a share of this device's fixes err 1.5-3 times the radius.
    share = rng.uniform(UNDERSTATED[0], UNDERSTATED[1])
    worse = rng.random(n) < share
    factor = np.where(worse, rng.uniform(UNDERSTATED[2], UNDERSTATED[3], n), 1.0)
    ex, ey = ex * factor, ey * factor
    # Indoor drift: an offset held for the stay (a new one at each indoor run).
    run_id = np.cumsum(np.r_[True, indoor[1:] != indoor[:-1]])
    runs = int(run_id.max()) if n else 0
    angle = rng.uniform(0, 2 * np.pi, runs + 1)
    size = rng.uniform(INDOOR_DRIFT[1], INDOOR_DRIFT[2], runs + 1)
    drift = indoor & got_fix & (rng.random(n) < INDOOR_DRIFT[0])
    ex = ex + np.where(drift, size[run_id] * np.cos(angle[run_id]), 0.0)
    ey = ey + np.where(drift, size[run_id] * np.sin(angle[run_id]), 0.0)
    accuracy = np.where(drift, np.clip(accuracy, 30.0, 60.0), accuracy)
    # Wi-Fi and cell fallback where GPS failed indoors.
    fallback = indoor & ~got_fix & (rng.random(n) < FALLBACK[0])
    wifi = fallback & (rng.random(n) < FALLBACK[1])
    cell = fallback & ~wifi
    for mask, (median, low, high) in ((wifi, WIFI), (cell, CELL)):
        k = int(mask.sum())
        err = median * rng.lognormal(0.0, 0.6, k)
        a = rng.uniform(0, 2 * np.pi, k)
        ex[mask], ey[mask] = err * np.cos(a), err * np.sin(a)
        accuracy[mask] = np.exp(rng.uniform(np.log(low), np.log(high), k))
    # Urban-canyon jumps, outdoors: episodes of one direction and size.
    days = max(1.0, (grid[-1] - grid[0]) / 86_400) if n else 1.0
    for _ in range(int(rng.poisson(CANYON[0] * days)) if n else 0):
        t0 = int(rng.integers(grid[0], grid[-1] + 1))
        span = np.exp(rng.uniform(np.log(CANYON[3]), np.log(CANYON[4])))
        hit = (grid >= t0) & (grid < t0 + span) & ~indoor & got_fix
        jump, heading = rng.uniform(CANYON[1], CANYON[2]), rng.uniform(0, 2 * np.pi)
        ex[hit] += jump * np.cos(heading)
        ey[hit] += jump * np.sin(heading)
        if rng.random() < 0.5:
            accuracy[hit] = np.maximum(accuracy[hit], jump * rng.uniform(0.5, 1.0))
    # Cold starts: the first fix after a long gap.
    keep = sendable & (got_fix | fallback)
    idx = np.flatnonzero(keep)
    if idx.size:
        gaps = np.diff(grid[idx], prepend=grid[idx[0]] - COLD_START[0] - 1)
        cold = idx[(gaps > COLD_START[0]) & (rng.random(idx.size) < COLD_START[1])]
        err = np.exp(rng.uniform(np.log(COLD_START[2]), np.log(COLD_START[3]), cold.size))
        a = rng.uniform(0, 2 * np.pi, cold.size)
        ex[cold], ey[cold] = err * np.cos(a), err * np.sin(a)
        accuracy[cold] = rng.uniform(20.0, 100.0, cold.size)
    true_t = grid[keep]
    t = true_t.copy()
    # Clock jitter.
    jitter = rng.random(t.size) < JITTER[0]
    t[jitter] -= rng.integers(1, JITTER[1] + 1, int(jitter.sum()))
    return Fixes(true_t, t, ex[keep], ey[keep], np.round(np.clip(accuracy[keep], 3.0, 5_000.0), 1))


def duplicates(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``n`` fixes are sent twice, and how many seconds later the copy arrives."""
    again = np.flatnonzero(rng.random(n) < DUPLICATE[0])
    return again, rng.integers(DUPLICATE[1], DUPLICATE[2] + 1, again.size)

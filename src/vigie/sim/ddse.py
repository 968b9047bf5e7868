"""Home detention (DDSE) and house arrest (ARSE): a home unit that hears the bracelet.

The wearer must be home during the schedule's windows. Most days they leave after the morning
window and come back before the evening one; sometimes they come back late, leave early, or go
out during the night: real absences. The home unit reports presence changes (after the minute
or so it takes to notice) and every 5 min; it sometimes misses the bracelet for a few seconds
while the wearer is home (radio glitches, not absences). Mains cuts and link losses happen too.
The bracelet itself only speaks through the home unit, to report tampering.
"""

from typing import Any

import numpy as np

from vigie.sim import records
from vigie.sim.case import TZ, CaseContext, CaseOutput, tamper_episodes
from vigie.sim.gps import HEARTBEAT_S, Outbox, silence_truth
from vigie.sim.intervals import Interval, intersect, union
from vigie.sim.schedule import window_intervals

GRACE_S = 120
M = 60


def schedule_for(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Hours at home: evenings to mornings on weekdays, later and longer at weekends."""
    evening = int(rng.integers(19, 22))
    morning = int(rng.integers(6, 8))
    return [
        {"days": "mon-fri", "from": f"{evening:02d}:00", "to": f"{morning:02d}:00"},
        {"days": "sat-sun", "from": f"{evening + 1:02d}:30", "to": f"{morning + 2:02d}:00"},
    ]


def _away_intervals(
    rng: np.random.Generator, windows: list[Interval], start_s: int, end_s: int
) -> list[Interval]:
    """When the wearer is really away from home."""
    away: list[Interval] = []
    bounds = [start_s, *[t for w in windows for t in w], end_s]
    gaps = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds) - 1, 2)]
    for g0, g1 in gaps:
        if g1 - g0 < 3 * 3600 or g0 == start_s or g1 == end_s or rng.random() < 0.15:
            continue
        leave = g0 + int(rng.integers(15 * M, 120 * M))
        back = g1 - int(rng.integers(15 * M, 150 * M))
        roll = rng.random()
        if roll < 0.12:  # late return
            back = g1 + int(rng.integers(10 * M, 90 * M))
        elif roll < 0.18:  # leaves before the window is over
            leave = g0 - int(rng.integers(10 * M, 45 * M))
        if back > leave + 30 * M:
            away.append((leave, back))
    for w0, w1 in windows:
        if w1 - w0 > 6 * 3600 and rng.random() < 0.06:  # goes out during the night
            out = w0 + int(rng.integers(60 * M, 240 * M))
            away.append((out, out + int(rng.integers(20 * M, 90 * M))))
    return union(away)


def generate(ctx: CaseContext, measure: str = "ddse") -> CaseOutput:
    """A DDSE or ARSE case over the span."""
    rng = ctx.rng()
    schedule = schedule_for(rng)
    placement = {
        "kind": "placement",
        "case": ctx.case,
        "measure": measure,
        "wearer": ctx.wearer,
        "home_unit": ctx.home_unit,
        "schedule": schedule,
        "tz": TZ,
        "grace_s": GRACE_S,
    }
    out = CaseOutput(placement, Outbox())
    windows = window_intervals(schedule, TZ, ctx.start_s, ctx.end_s)
    away = _away_intervals(rng, windows, ctx.start_s, ctx.end_s)
    home = _complement(away, ctx.start_s, ctx.end_s)
    out.add_truth(ctx, "absence", ctx.home_unit, intersect(away, windows))

    _presence_reports(rng, ctx, away, home, out)
    _power_cuts(rng, ctx, out)
    tamper_episodes(rng, ctx, ctx.wearer, "strap_open", 0.2, home, out)
    tamper_episodes(rng, ctx, ctx.home_unit, "case_open", 0.05, home, out)
    out.outbox.hold_back(ctx.home_unit, _link_losses(rng, ctx, away))
    heard = out.outbox.heard(ctx.home_unit)
    out.add_truth(
        ctx, "signal_lost", ctx.home_unit, silence_truth(heard, ctx.start_s, ctx.end_s, 600)
    )
    return out


def _complement(intervals: list[Interval], start_s: int, end_s: int) -> list[Interval]:
    out, t = [], start_s
    for s, e in intervals:
        if s > t:
            out.append((t, s))
        t = max(t, e)
    if t < end_s:
        out.append((t, end_s))
    return out


def _link_losses(
    rng: np.random.Generator, ctx: CaseContext, away: list[Interval]
) -> list[Interval]:
    """The home unit's network down for a while (it buffers and sends on reconnection).

    Kept clear of the wearer's comings and goings, so absences stay detectable on time.
    """
    if rng.random() >= 0.25 * ctx.days / 7:
        return []
    t0 = int(rng.integers(ctx.start_s, ctx.end_s - 3_600))
    t1 = t0 + int(rng.integers(900, 7_200))
    edges = np.array([t for iv in away for t in iv], dtype=np.int64)
    if edges.size and bool(((edges > t0 - 900) & (edges < t1 + 900)).any()):
        return []
    return [(t0, t1)]


def _presence_reports(
    rng: np.random.Generator,
    ctx: CaseContext,
    away: list[Interval],
    home: list[Interval],
    out: CaseOutput,
) -> None:
    """Presence changes (noticed 20-90 s late), radio glitches, and a report every 5 min."""
    changes: list[tuple[int, bool]] = []
    for s, e in away:
        changes.append((s + int(rng.integers(20, 91)), False))
        changes.append((e + int(rng.integers(20, 91)), True))
    for s, e in home:
        n = rng.poisson(0.4 * (e - s) / 86_400)
        if e - s < 1_200:
            continue
        for t in np.sort(rng.integers(s + 300, e - 600, n)):
            changes.append((int(t), False))
            changes.append((int(t) + int(rng.integers(20, 91)), True))
    changes.sort()
    ts = np.array([c[0] for c in changes], dtype=np.int64)
    heartbeats = np.arange(ctx.start_s + int(rng.integers(60)), ctx.end_s, HEARTBEAT_S)
    k = np.searchsorted(ts, heartbeats, side="right") - 1
    states = [c[1] for c in changes]
    reports = [(t, v) for t, v in changes if t < ctx.end_s]
    reports += [(int(h), states[i] if i >= 0 else True) for h, i in zip(heartbeats, k, strict=True)]
    for t, present in reports:
        out.outbox.add(t + int(rng.integers(1, 4)), t, records.presence(ctx.home_unit, t, present))


def _power_cuts(rng: np.random.Generator, ctx: CaseContext, out: CaseOutput) -> None:
    """Occasional mains cuts: the home unit runs on its battery and says so."""
    if rng.random() < 0.5 * ctx.days / 7:
        t0 = int(rng.integers(ctx.start_s, ctx.end_s - 600))
        t1 = min(ctx.end_s, t0 + int(rng.integers(300, 10_800)))
        out.outbox.add(t0 + 3, t0, records.power(ctx.home_unit, t0, False))
        if t1 < ctx.end_s:
            out.outbox.add(t1 + 3, t1, records.power(ctx.home_unit, t1, True))
        out.add_truth(ctx, "power", ctx.home_unit, [(t0, t1)])

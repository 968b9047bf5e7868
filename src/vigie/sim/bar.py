"""The anti-approach bracelet (BAR): a wearer, a protected person, an alert distance.

Both live their own days on the streets (home, work, errands) with GPS devices. The wearer's
everyday places lie more than the pre-alert distance (2 x alert) plus 3 km from anywhere the
protected person goes, so ordinary days never come near. Breaches are deliberate approaches:
to within the alert distance of the protected person's home, or only within the pre-alert
distance; some trips pass just outside the pre-alert distance (a detector that ignores accuracy
flaps there). A wearer sometimes fails to recharge the bracelet: low battery, then silence.
The protected person sometimes presses her phone's SOS (`SOS_PER_WEEK`), whatever he does.
Truth uses both true positions and the protected places, with WGS84 geodesic distances.
"""

import numpy as np

from vigie.sim.battery import battery_curve, charging_sessions
from vigie.sim.case import TZ, CaseContext, CaseOutput, sos_presses, tamper_episodes
from vigie.sim.daily import Plan, ordinary_days, with_trip
from vigie.sim.geography import Place, distance_m, lonlat, street_place, town_origin
from vigie.sim.gps import Outbox, draw_coverage, gps_outbox, silence_truth
from vigie.sim.intervals import Interval, from_mask, minus
from vigie.sim.schedule import local_midnights
from vigie.sim.track import Track, follow_plan

SOS_PER_WEEK = 1.0  # calls for help per case and week: rare, but a demo day shows a few


def _places_around(
    rng: np.random.Generator, cx: float, cy: float, half: float
) -> tuple[Place, Place | None, list[Place]]:
    def somewhere() -> Place:
        return street_place(cx + rng.uniform(-half, half), cy + rng.uniform(-half, half))

    home = somewhere()
    work = somewhere() if rng.random() < 0.7 else None
    return home, work, [somewhere() for _ in range(int(rng.integers(1, 4)))]


def generate(ctx: CaseContext) -> CaseOutput:
    """A BAR case over the span."""
    rng = ctx.rng()
    nrng = ctx.noise_rng() if ctx.noise else None
    alert_km = int(rng.integers(1, 11))
    alert = alert_km * 1_000.0
    midnights = local_midnights(TZ, ctx.start_s, ctx.end_s)

    px, py = town_origin(rng)
    p_half = float(rng.uniform(1_000, 2_500))
    p_home, p_work, p_errands = _places_around(rng, px, py, p_half)
    # The wearer's box lies due east, north, west or south, its near edge beyond 2 x alert + 3 km
    # of the protected person's box: street routes from it to a point on that axis from the
    # protected home never come nearer to the home than that point (see `_approaches`).
    angle = float(rng.integers(4)) * np.pi / 2
    w_half = float(rng.uniform(1_000, 2_500))
    away = (p_half + w_half) * np.sqrt(2) + 2 * alert + 3_000
    wx, wy = px + away * np.cos(angle), py + away * np.sin(angle)
    w_home, w_work, w_errands = _places_around(rng, wx, wy, w_half)

    p_plan = ordinary_days(rng, midnights, TZ, p_home, p_work, p_errands)
    w_plan = ordinary_days(rng, midnights, TZ, w_home, w_work, w_errands)
    days = [int(d) for d in rng.permutation(len(midnights))]
    w_plan, clear = _approaches(rng, ctx, w_plan, w_home, p_home, alert, angle, midnights, days)

    p_track = follow_plan(rng, ctx.start_s, ctx.end_s, p_home, p_plan)
    w_track = follow_plan(rng, ctx.start_s, ctx.end_s, w_home, w_plan)

    protected_places = [("home", p_home)] + ([("work", p_work)] if p_work else [])
    p_lon, p_lat = lonlat(
        np.array([p.x for _, p in protected_places]), np.array([p.y for _, p in protected_places])
    )
    placement = {
        "kind": "placement",
        "case": ctx.case,
        "measure": "bar",
        "wearer": ctx.wearer,
        "protected": ctx.protected,
        "alert_distance_km": alert_km,
        "protected_places": [
            {"id": pid, "lat": round(float(la), 6), "lon": round(float(lo), 6)}
            for (pid, _), lo, la in zip(protected_places, p_lon, p_lat, strict=True)
        ],
        "tz": TZ,
    }
    out = CaseOutput(placement, Outbox())

    w_sessions = charging_sessions(rng, w_track, w_home, midnights, skip_rate=0.05)
    w_battery = battery_curve(ctx.start_s, ctx.end_s, float(rng.uniform(0.9, 1.0)), w_sessions)
    w_cov = draw_coverage(rng, w_track, ctx.start_s, ctx.end_s, clear)
    out.outbox.extend(
        gps_outbox(rng, ctx.wearer, w_track, ctx.start_s, ctx.end_s, w_battery, w_cov, nrng)
    )
    p_sessions = charging_sessions(rng, p_track, p_home, midnights, skip_rate=0.0)
    p_battery = battery_curve(ctx.start_s, ctx.end_s, float(rng.uniform(0.9, 1.0)), p_sessions)
    p_cov = draw_coverage(rng, p_track, ctx.start_s, ctx.end_s, clear, silence_rate_per_week=0.1)
    out.outbox.extend(
        gps_outbox(rng, ctx.protected, p_track, ctx.start_s, ctx.end_s, p_battery, p_cov, nrng)
    )
    tamper_episodes(rng, ctx, ctx.wearer, "strap_open", 0.15, None, out)
    sos_presses(ctx, ctx.protected, SOS_PER_WEEK, out)

    times = np.union1d(w_track.truth_times(), p_track.truth_times())
    times = times[(times >= ctx.start_s) & (times < ctx.end_s)]
    nearest = _nearest_m(w_track, p_track, p_lon, p_lat, times)
    # A dead or silenced bracelet shows nothing: its loss of signal is the alarm then.
    dead = w_battery.flat(ctx.start_s, ctx.end_s) + w_cov.silences
    for kind, limit in (("alert", alert), ("pre_alert", 2 * alert)):
        breach = from_mask(times, nearest <= limit, ctx.end_s)
        out.add_truth(ctx, kind, ctx.wearer, minus(breach, dead))
    for device, curve in ((ctx.wearer, w_battery), (ctx.protected, p_battery)):
        out.add_truth(ctx, "low_battery", device, curve.below(0.20, ctx.start_s, ctx.end_s))
    for device in (ctx.wearer, ctx.protected):
        heard = out.outbox.heard(device)
        out.add_truth(ctx, "signal_lost", device, silence_truth(heard, ctx.start_s, ctx.end_s, 600))
    return out


def _nearest_m(
    w_track: Track, p_track: Track, p_lon: np.ndarray, p_lat: np.ndarray, times: np.ndarray
) -> np.ndarray:
    """True distance from the wearer to the nearest of the protected person and places."""
    w_lon, w_lat = lonlat(*w_track.position(times))
    q_lon, q_lat = lonlat(*p_track.position(times))
    nearest = distance_m(w_lon, w_lat, q_lon, q_lat)
    for lo, la in zip(p_lon, p_lat, strict=True):
        nearest = np.minimum(nearest, distance_m(w_lon, w_lat, float(lo), float(la)))
    return nearest


def _approaches(
    rng: np.random.Generator,
    ctx: CaseContext,
    plan: Plan,
    home: Place,
    target: Place,
    alert: float,
    angle: float,
    midnights: list[int],
    days: list[int],
) -> tuple[Plan, list[Interval]]:
    """Deliberate approaches to the protected home: within alert, within pre-alert, or near."""
    clear: list[Interval] = []
    weekly = ctx.days / 7
    for share, low, high, rate in (
        ("alert", 0.2, 0.8, 0.5),
        ("pre_alert", 1.25, 1.75, 0.3),
        ("near", 2.0, 2.0, 0.5),
    ):
        if not days or rng.random() >= rate * weekly:
            continue
        day = days.pop(0)
        reach = alert * float(rng.uniform(low, high))
        if share == "near":  # just outside the pre-alert distance
            reach += float(rng.uniform(150, 400))
        # On the axis towards the wearer's box, so the route does not sweep past the target.
        place = Place(
            target.x + reach * round(np.cos(angle)), target.y + reach * round(np.sin(angle)), False
        )
        depart = midnights[day] + int(rng.uniform(10, 19) * 3_600)
        stay = int(rng.integers(15 * 60, 45 * 60))
        plan, (_, leave) = with_trip(plan, home, depart, place, stay)
        clear.append((depart, leave + 3_600))
    return plan, clear

"""Ordinary days: leaving home for work or errands and coming back, on weekdays and weekends."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from vigie.sim.geography import Place
from vigie.sim.track import travel_time_s

Plan = list[tuple[int, Place]]  # (departure, destination), the person leaving where they are
H = 3_600


def ordinary_days(
    rng: np.random.Generator,
    midnights: list[int],
    tz: str,
    home: Place,
    work: Place | None,
    errands: list[Place],
) -> Plan:
    """Departures over the span for someone with a home, maybe a job, and usual errands."""
    zone = ZoneInfo(tz)
    plan: Plan = []
    for m in midnights:
        weekday = datetime.fromtimestamp(m, UTC).astimezone(zone).weekday()
        if work is not None and weekday < 5:
            leave = m + int(7.5 * H + rng.normal(0, 0.5 * H))
            back = m + int(17.5 * H + rng.normal(0, 0.75 * H))
            plan.append((leave, work))
            if errands and rng.random() < 0.5:
                place = errands[int(rng.integers(len(errands)))]
                plan.append((back, place))
                back += travel_time_s(work, place) + int(rng.integers(20 * 60, 60 * 60))
            plan.append((back, home))
        else:
            for t in np.sort(rng.uniform(10 * H, 18 * H, int(rng.integers(0, 3)))):
                if not errands:
                    break
                place = errands[int(rng.integers(len(errands)))]
                plan.append((m + int(t), place))
                stay = int(rng.integers(30 * 60, 120 * 60))
                plan.append((m + int(t) + travel_time_s(home, place) + stay, home))
    return sorted(plan, key=lambda p: p[0])


def where_at(plan: Plan, home: Place, t_s: int) -> Place:
    """Where the plan has the person heading last before `t_s` (home at the start)."""
    place = home
    for depart, dest in plan:
        if depart > t_s:
            break
        place = dest
    return place


def with_trip(
    plan: Plan, home: Place, depart: int, place: Place, stay_s: int, margin_s: int = 1_800
) -> tuple[Plan, tuple[int, int]]:
    """The plan with a trip to `place` inserted, and the true interval spent there.

    Ordinary departures that would cut the trip short are dropped, so the stay lasts `stay_s`.
    """
    origin = where_at(plan, home, depart - margin_s)
    arrive = depart + travel_time_s(origin, place)
    leave = arrive + stay_s
    back = leave + travel_time_s(place, home)
    kept = [(t, p) for t, p in plan if t < depart - margin_s or t > back + margin_s]
    kept += [(depart, place), (leave, home)]
    return sorted(kept, key=lambda p: p[0]), (arrive, leave)

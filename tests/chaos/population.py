"""The chaos tests' caseload, laid out as `bench/pipeline.py` lays out its own: PSEM cases each
with an exclusion zone and a wearer reporting 2 km away from it, BAR pairs 33 km apart, and
marker cases whose wearer reports nothing until it steps into its zone (the breaches at known
times whose alarms are counted and timed)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from vigie.api.security import create_user
from vigie.cases import device_secrets, devices, people, placements
from vigie.cases.forms import AssignmentIn, ContactIn, DeviceIn, PersonIn, PlacementIn
from vigie.store import Database

OPERATOR = ("chaos-watch", "chaos watch password 123")
AWAY_DEG = 0.02  # a wearer's base from its zone's centre (about 2.2 km north)
BAR_APART_DEG = 0.3  # a BAR pair's protected person from the wearer's zone (about 33 km)

PSEM_LAW = {
    "as_of": "2026-11-23",
    "sentences": [{"quantum": "P8Y", "category": "crime", "recidivism": False, "offences": []}],
    "facts": {
        "route": "R61-33",
        "detained": True,
        "dangerousness_established": True,
        "commission_opinion": True,
    },
}
BAR_LAW = {
    "as_of": "2026-11-23",
    "facts": {
        "under_judicial_supervision": True,
        "victim_consent": True,
        "incurred_years": 5,
        "relationship": "spouse",
        "alert_distance_km": 2,
    },
}


@dataclass
class Population:
    """Who reports what: trackers (Teltonika, by IMEI-like id) and phones (OsmAnd, with their
    secret) at a base position each, and the marker cases (wearer id -> zone centre)."""

    trackers: dict[str, tuple[float, float]] = field(default_factory=dict)
    phones: dict[str, tuple[float, float]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    markers: dict[str, tuple[float, float]] = field(default_factory=dict)
    case_of: dict[str, str] = field(default_factory=dict)  # device -> case ref


def zone_centre(n: int) -> tuple[float, float]:
    return 43.0 + (n % 100) * 0.05, 1.0 + (n // 100) * 0.05


def drawn_zone(n: int, lat: float, lon: float) -> list[list[float]]:
    """A 35-vertex ring about 400 m across, irregular, closed (as bench/pipeline.py draws)."""
    rng = random.Random(n)
    ring = []
    for i in range(34):
        angle = 2 * math.pi * i / 34
        r = 0.002 * (0.8 + 0.4 * rng.random())
        ring.append([lon + r * 1.4 * math.cos(angle), lat + r * math.sin(angle)])
    return [*ring, ring[0]]


def seed(database: Database, psem: int, bar: int, markers: int) -> Population:
    """`psem` reporting PSEM cases, `bar` BAR pairs, `markers` silent PSEM cases for breaches;
    an operator account (OPERATOR) to watch the queue. Device ids are numeric (Teltonika
    trackers log in with their IMEI)."""
    population = Population()
    with database.session() as session:
        create_user(session, *OPERATOR, "operator", "Chaos watcher")
        who = {
            role: people.create_contact(
                session, ContactIn(role=role, name=role, email=f"{role}@chaos.invalid"), "chaos"
            ).id
            for role in ("judge", "prosecutor", "spip")
        }
        total = psem + bar + markers
        for n in range(total):
            lat, lon = zone_centre(n)
            case = f"K{n}"
            tracker = f"35{n:013d}"
            wearer = people.create_person(
                session,
                PersonIn(
                    last_name=f"W{n}",
                    first_name="X",
                    birth_date="1980-01-01",
                    home_lat=lat + AWAY_DEG,
                    home_lon=lon,
                ),
                "chaos",
            )
            is_bar = psem <= n < psem + bar
            common = {
                "case_ref": case,
                "person_id": wearer.id,
                "court_order_ref": "C",
                "court_order_date": "2026-11-20",
                "start_date": "2026-11-23",
                "judge_id": who["judge"],
                "prosecutor_id": who["prosecutor"],
                "spip_id": who["spip"],
                "signal_timeout_s": 86_400,
            }
            if is_bar:
                victim = people.create_person(
                    session,
                    PersonIn(
                        last_name=f"V{n}",
                        first_name="X",
                        birth_date="1980-01-01",
                        home_lat=lat - BAR_APART_DEG,
                        home_lon=lon,
                    ),
                    "chaos",
                )
                form = PlacementIn(
                    measure="bar", protected_person_id=victim.id, law=BAR_LAW, **common
                )
            else:
                zone = {"type": "Polygon", "coordinates": [drawn_zone(n, lat, lon)]}
                form = PlacementIn(
                    measure="psem",
                    law=PSEM_LAW,
                    zones=[{"id": "Z", "type": "exclusion", "geometry": zone}],
                    **common,
                )
            placement = placements.create(session, form, "chaos")
            devices.create_device(session, DeviceIn(id=tracker, kind="bracelet"), "chaos")
            devices.assign(
                session, placement, AssignmentIn(device_id=tracker, role="wearer"), "chaos"
            )
            population.case_of[tracker] = case
            if n >= psem + bar:
                population.markers[tracker] = (lat, lon)
                continue
            population.trackers[tracker] = (lat + AWAY_DEG, lon)
            if is_bar:
                phone = f"P{n}"
                devices.create_device(session, DeviceIn(id=phone, kind="protected_device"), "c")
                devices.assign(
                    session, placement, AssignmentIn(device_id=phone, role="protected"), "c"
                )
                population.keys[phone] = device_secrets.issue(session, phone, "chaos")
                population.phones[phone] = (lat - BAR_APART_DEG, lon)
                population.case_of[phone] = case
    return population

"""The protected person cannot be located by anyone but the operator holding her live alert.

A real BAR case runs through the real pipeline: the wearer drives at her three times from three
sides (pre-alerts and alerts, each with distances and his positions), her phone reports a low
battery then falls silent. Then everything a judge, a prosecutor, an SPIP officer, a supervisor
and an operator who does not hold the alert can read through the API is gathered, and an
attacker's least-squares estimate of her position is made from it: it must miss her by more
than 1 km. The same estimate from the holder's view finds her, so the attack itself works.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from tests.api.world import World, equip
from tests.cases import factories as make
from tests.conftest import Centre
from vigie import clock
from vigie.alarms.pipeline import Pipeline
from vigie.settings import Settings
from vigie.store import observations as log
from vigie.store.models import Alarm, AuditEntry

HER = (45.7640, 4.8357)  # where she lives, and where her phone is
HIS_HOME = (45.9300, 4.6000)  # the wearer's home, about 25 km away


def shows_her(text: str) -> bool:
    """Whether her latitude or longitude shows in `text` as a number. Never the seconds of a
    time ("13:45.764", "12:13:04.835712"), whose characters once matched by chance."""
    return re.search(r"(?<![0-9])(?<![0-9]:)(?:45\.764|4\.83[56])", text) is not None


EARTH_M = 6_371_000.0
NOT_HOLDERS = (("judge", "judge1"), ("prosecutor", "prosecutor1"), ("spip", "spip1"))
NOT_HOLDERS += (("supervisor", "supervisor1"), ("operator", "operator2"))


def offset(origin: tuple[float, float], bearing_deg: float, metres: float) -> tuple[float, float]:
    """The point `metres` from `origin` towards `bearing_deg` (local flat earth: < 30 km)."""
    north = metres * math.cos(math.radians(bearing_deg))
    east = metres * math.sin(math.radians(bearing_deg))
    lat = origin[0] + math.degrees(north / EARTH_M)
    lon = origin[1] + math.degrees(east / (EARTH_M * math.cos(math.radians(origin[0]))))
    return lat, lon


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = math.radians(b[0] - a[0]) * EARTH_M
    east = math.radians(b[1] - a[1]) * EARTH_M * math.cos(math.radians(a[0]))
    return math.hypot(north, east)


@dataclass
class Story:
    world: World
    start: datetime
    alarms: dict[str, int] = field(default_factory=dict)


def store(centre: Centre, records: list[dict[str, Any]]) -> None:
    with centre.db.session() as session:
        log.append(session, [log.row_for(r, r["at"], r["at"], source="test") for r in records])


def fix(device: str, t: datetime, where: tuple[float, float], seq: int) -> dict[str, Any]:
    return {
        "kind": "obs",
        "device": device,
        "t": t.isoformat().replace("+00:00", "Z"),
        "at": t,
        "seq": seq,
        "type": "position",
        "lat": where[0],
        "lon": where[1],
        "accuracy_m": 10.0,
    }


def run_the_approaches(centre: Centre) -> Story:
    """The case set up by the admin, then ten hours of life through the real pipeline."""
    world = equip(centre)
    story = Story(world, clock.now() - timedelta(hours=11))
    admin = centre.headers("admin")
    place = {"id": "home", "label": "Domicile", "lat": HER[0], "lon": HER[1]}
    set_up = centre.client.patch(
        f"/api/placements/{world.bar_placement}",
        json={"protected_places": [place]},
        headers=admin,
    )
    assert set_up.status_code == 200, set_up.text
    assert set_up.json()["protected_places"] == [place]  # the admin reads what she set up

    now = {"t": story.start}
    pipeline = Pipeline(centre.db, Settings(escalation_after_s=10**6), lambda: now["t"])
    seq = iter(range(1, 100_000))

    def minutes(wearer_path: list[tuple[float, float]], her_phone: bool = True) -> None:
        """A minute per point of the wearer's path, her phone's fix every five minutes (unless
        it is silent), one step of detection every ten minutes."""
        batch: list[dict[str, Any]] = []
        for where in wearer_path:
            now["t"] += timedelta(minutes=1)
            batch.append(fix("WB", now["t"], where, next(seq)))
            if now["t"].minute % 5 == 0 and her_phone:
                batch.append(fix("PP", now["t"], HER, next(seq)))
            if len(batch) >= 10:
                store(centre, batch)
                pipeline.step()
                batch = []
        if batch:
            store(centre, batch)
            pipeline.step()

    at_home = [HIS_HOME] * 120
    minutes(at_home)
    for bearing in (20.0, 140.0, 260.0):
        # From 12 km out to 1.5 km and back at 30 km/h, then two hours at home.
        leg = [offset(HER, bearing, 12_000 - 500 * i) for i in range(22)]
        minutes(leg + leg[::-1])
        minutes(at_home)
    # Her phone runs low, then falls silent (its signal timeout is ten minutes).
    now["t"] += timedelta(minutes=1)
    store(
        centre,
        [
            {
                "kind": "obs",
                "device": "PP",
                "t": now["t"].isoformat().replace("+00:00", "Z"),
                "at": now["t"],
                "seq": next(seq),
                "type": "battery",
                "level": 0.05,
            }
        ],
    )
    pipeline.step()
    minutes([HIS_HOME] * 30, her_phone=False)
    with centre.db.session() as session:
        for alarm in session.scalars(select(Alarm).where(Alarm.case_ref == world.bar_case_ref)):
            story.alarms.setdefault(f"{alarm.kind}:{alarm.device}", alarm.id)
    assert {"alert:WB", "pre_alert:WB", "signal_lost:PP"} <= set(story.alarms), story.alarms
    return story


def work_the_alarms(centre: Centre, story: Story) -> None:
    """operator1 holds the live alert; the pre-alert and her phone's alarms are closed."""
    holder = centre.headers("operator")
    for key, alarm in story.alarms.items():
        taken = centre.client.post(f"/api/alarms/{alarm}/acknowledge", headers=holder)
        assert taken.status_code == 200, taken.text
        if key != "alert:WB":
            # R24-20 CPP: a pre-alert is never a breach (the centre refuses it).
            qualification = "false_alarm" if key.startswith("pre_alert") else "breach"
            closed = centre.client.post(
                f"/api/alarms/{alarm}/close",
                json={"qualification": qualification},
                headers=holder,
            )
            assert closed.status_code == 200, closed.text


def read_everything(
    centre: Centre, headers: dict[str, str], story: Story, holder: bool = False
) -> list[Any]:
    """Every answer this account gets from the endpoints that could carry her whereabouts."""
    bar, victim = story.world.bar_placement, story.world.victim
    every_status = "status=open&status=acknowledged&status=in_progress&status=closed"
    paths = [
        f"/api/alarms?{every_status}",
        f"/api/console/placements/{bar}/activity?hours=48",
        "/api/placements",
        f"/api/placements/{bar}",
        f"/api/placements/{bar}/zones",
        "/api/persons",
        f"/api/persons/{victim}",
        "/api/console/supervision",
    ]
    for alarm in story.alarms.values():
        paths += [
            f"/api/alarms/{alarm}",
            f"/api/console/alarms/{alarm}/context",
            f"/api/alarms/{alarm}/protected-position",
            f"/api/alarms/{alarm}/report.html",
        ]
    answers: list[Any] = []
    for path in paths:
        response = centre.client.get(path, headers=headers)
        if path.endswith("/protected-position") and not holder:
            assert response.status_code == 403, (path, response.text)
        if response.status_code != 200:
            continue
        is_json = response.headers["content-type"].startswith("application/json")
        answers.append(response.json() if is_json else response.text)
    return answers


def gather(answers: list[Any]) -> tuple[list[tuple[datetime, float, float]], list[Any]]:
    """Every (time, lat, lon) and every (time, distance) to be found, as an attacker would."""
    positions: list[tuple[datetime, float, float]] = []
    distances: list[tuple[datetime, float]] = []

    def when(text: Any) -> datetime | None:
        try:
            return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        except ValueError:
            return None

    def walk(node: Any, t: datetime | None) -> None:
        if isinstance(node, dict):
            t = when(node.get("t") or node.get("fix_t") or node.get("raised_at")) or t
            lat, lon = node.get("lat"), node.get("lon")
            if isinstance(lat, float) and isinstance(lon, float) and t is not None:
                positions.append((t, lat, lon))
            if isinstance(node.get("distance_m"), int | float) and t is not None:
                distances.append((t, float(node["distance_m"])))
            for value in node.values():
                walk(value, t)
        elif isinstance(node, list):
            for value in node:
                walk(value, t)

    for answer in answers:
        if isinstance(answer, str):  # a report: its tables
            rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]*)</td>", answer)
            for at, second, third in rows:
                t = when(at)
                numbers = (
                    re.fullmatch(r"(-?\d+\.\d+)", second),
                    re.fullmatch(r"(-?\d+\.\d+)", third),
                )
                if t and numbers[0] and numbers[1]:
                    positions.append((t, float(second), float(third)))
                found = re.search(r"'distance_m': (\d+(?:\.\d+)?)", html.unescape(third))
                if t and found:
                    distances.append((t, float(found.group(1))))
        else:
            walk(answer, None)
    return positions, distances


def estimate(
    positions: list[tuple[datetime, float, float]], distances: list[tuple[datetime, float]]
) -> tuple[float, float] | None:
    """Least squares on (the position nearest in time, distance) pairs: the trilateration."""
    if not positions or not distances:
        return None
    pairs = []
    for t, d in distances:
        nearest = min(positions, key=lambda p: abs((p[0] - t).total_seconds()))
        pairs.append((nearest[1], nearest[2], d))
    origin = (float(np.mean([p[0] for p in pairs])), float(np.mean([p[1] for p in pairs])))

    def local(lat: float, lon: float) -> tuple[float, float]:
        return (
            math.radians(lat - origin[0]) * EARTH_M,
            math.radians(lon - origin[1]) * EARTH_M * math.cos(math.radians(origin[0])),
        )

    points = np.array([local(lat, lon) for lat, lon, _ in pairs])
    measured = np.array([d for _, _, d in pairs])
    north, east = gauss_newton(points, measured)
    lat = origin[0] + math.degrees(north / EARTH_M)
    lon = origin[1] + math.degrees(east / (EARTH_M * math.cos(math.radians(origin[0]))))
    return lat, lon


def gauss_newton(points: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """The point whose distances to `points` best fit `measured`, in the least-squares sense."""
    x = points.mean(axis=0) + 1.0
    for _ in range(100):
        towards = x - points
        ranges = np.maximum(np.hypot(*towards.T), 1e-6)
        jacobian = towards / ranges[:, None]
        step, *_ = np.linalg.lstsq(jacobian, measured - ranges, rcond=None)
        x = x + step
        if np.hypot(*step) < 0.01:
            break
    return x


@pytest.fixture
def story(centre: Centre) -> Iterator[Story]:
    story = run_the_approaches(centre)
    work_the_alarms(centre, story)
    yield story


def test_nobody_but_the_holder_can_trilaterate_her(centre: Centre, story: Story) -> None:
    events = centre.client.get(
        f"/api/alarms/{story.alarms['alert:WB']}", headers=centre.headers("operator")
    ).json()["events"]
    assert len(events) >= 4  # several raised and cleared events of one alert episode
    # The attack works on the holder's view (his positions with the exact distances)...
    holder_view = read_everything(centre, centre.headers("operator"), story, holder=True)
    guess = estimate(*gather(holder_view))
    assert guess is not None and metres_between(guess, HER) < 200
    # ...and fails on what everyone else reads, pooled together.
    pooled: list[Any] = []
    for role, username in NOT_HOLDERS:
        pooled += read_everything(centre, centre.headers(role, username), story)
    positions, distances = gather(pooled)
    assert distances, "the others still read how near the wearer came"
    assert all(d % 500 == 0 for _, d in distances)  # rounded to 500 m
    nearest = min(metres_between((lat, lon), HER) for _, lat, lon in positions)
    assert nearest > 5_000  # no position near her: not hers, not his during an approach
    guess = estimate(positions, distances)
    assert guess is not None
    assert metres_between(guess, HER) > 1_000
    assert not shows_her(json.dumps(pooled, default=str))


def test_the_report_of_an_alarm_on_her_phone_carries_none_of_her_fixes(
    centre: Centre, story: Story
) -> None:
    alarm = story.alarms["signal_lost:PP"]
    for role, username in (*NOT_HOLDERS, ("operator", "operator1")):
        report = centre.client.get(
            f"/api/alarms/{alarm}/report.html", headers=centre.headers(role, username)
        )
        assert report.status_code == 200
        assert not shows_her(report.text)
        assert "position(s) non reproduite(s)" in report.text
    detail = centre.client.get(f"/api/alarms/{alarm}", headers=centre.headers("judge")).json()
    assert "last_position" not in json.dumps(detail)


def test_another_operator_is_refused_her_position_and_the_refusal_is_audited(
    centre: Centre, story: Story
) -> None:
    alert = story.alarms["alert:WB"]
    holder = centre.client.get(
        f"/api/alarms/{alert}/protected-position", headers=centre.headers("operator")
    )
    assert holder.status_code == 200
    position = holder.json()["protected"]["protected_position"]
    assert metres_between((position["lat"], position["lon"]), HER) < 50
    other = centre.client.get(
        f"/api/alarms/{alert}/protected-position", headers=centre.headers("operator", "operator2")
    )
    assert other.status_code == 403
    with centre.db.session() as session:
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.action).where(
                AuditEntry.target == f"alarm:{alert}",
                AuditEntry.action.in_(("read_protected_position", "protected_position_denied")),
            )
        ).all()
    assert ("operator1", "read_protected_position") in audited
    assert ("operator2", "protected_position_denied") in audited


def test_the_supervisor_reads_neither_her_address_nor_her_places(
    centre: Centre, story: Story
) -> None:
    bar, victim = story.world.bar_placement, story.world.victim
    supervisor = centre.headers("supervisor")
    placement = centre.client.get(f"/api/placements/{bar}", headers=supervisor).json()
    assert placement["protected_places"] == [{"id": "home", "label": "Domicile"}]
    person = centre.client.get(f"/api/persons/{victim}", headers=supervisor).json()
    assert person["address"] is None and person["home_lat"] is None
    # The admin who sets the case up reads both; the holder of her live alert her places.
    admin = centre.client.get(f"/api/placements/{bar}", headers=centre.headers("admin")).json()
    assert admin["protected_places"][0]["lat"] == HER[0]
    held = centre.client.get(f"/api/placements/{bar}", headers=centre.headers("operator")).json()
    assert held["protected_places"][0]["lat"] == HER[0]
    with centre.db.session() as session:
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.action).where(
                AuditEntry.target == f"placement:{bar}",
                AuditEntry.action.in_(("read_protected_location", "protected_location_withheld")),
            )
        ).all()
    assert ("supervisor1", "protected_location_withheld") in audited
    assert ("admin1", "read_protected_location") in audited
    assert ("operator1", "read_protected_location") in audited


def test_a_zone_refused_for_holding_her_place_is_audited(centre: Centre, story: Story) -> None:
    """The refusal tells that her place is inside the polygon drawn: each probe is recorded."""
    bar = story.world.bar_placement
    supervisor = centre.headers("supervisor")
    zone = {"id": "probe", "type": "inclusion", "geometry": make.square(*HER, 0.05)}
    saved = centre.client.put(f"/api/placements/{bar}/zones/probe", json=zone, headers=supervisor)
    checked = centre.client.post(
        f"/api/console/placements/{bar}/zones/check", json=zone, headers=supervisor
    )
    assert (saved.status_code, checked.status_code) == (422, 422)
    assert saved.json()["field"] == "zones[probe]"
    with centre.db.session() as session:
        probes = session.execute(
            select(AuditEntry.actor, AuditEntry.target).where(
                AuditEntry.action == "protected_place_in_zone_refused"
            )
        ).all()
    assert [tuple(p) for p in probes] == [("supervisor1", f"placement:{bar}")] * 2

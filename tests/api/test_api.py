"""API behaviour: errors name the field, bad input writes nothing, each role sees its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.api.world import World, build
from tests.cases import factories as make
from tests.conftest import Centre
from vigie import clock
from vigie.store import observations as log
from vigie.store.models import AuditEntry, Placement

# Yesterday in the centre's clock: within the horizon observations are taken in, on any day.
DAY = (clock.now() - timedelta(days=1)).date().isoformat()


def obs(seq: int, **fields: Any) -> dict[str, Any]:
    base = {"device": "B1", "seq": seq, "t": f"{DAY}T20:00:00+01:00", "type": "presence"}
    return base | {"present": True} | fields


def test_observation_batch_with_one_bad_record_writes_nothing(centre: Centre) -> None:
    headers = centre.headers("integration")
    batch = [obs(1), obs(2), obs(3, type="position", lat=95.0, lon=2.0, accuracy_m=5)]
    response = centre.client.post(
        "/api/observations", json={"observations": batch}, headers=headers
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input"
    assert body["field"] == "observations[2].position.lat"
    with centre.db.session() as session:
        assert log.count(session) == 0


def test_observations_idempotent_and_time_normalised(centre: Centre) -> None:
    headers = centre.headers("integration")
    first = centre.client.post(
        "/api/observations", json={"observations": [obs(1)]}, headers=headers
    )
    again = centre.client.post(
        "/api/observations", json={"observations": [obs(1), obs(2)]}, headers=headers
    )
    assert (first.json()["accepted"], first.json()["duplicates"]) == (1, 0)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 1)
    with centre.db.session() as session:
        stored = log.after(session, 0, 10)
    assert stored[0].payload["t"] == f"{DAY}T19:00:00Z"
    assert stored[0].payload["present"] is True


def test_naive_timestamp_is_refused(centre: Centre) -> None:
    response = centre.client.post(
        "/api/observations",
        json={"observations": [obs(1, t=f"{DAY}T20:00:00")]},
        headers=centre.headers("integration"),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "observations[0].presence.t"


def test_placement_refused_by_law_answers_reasons_and_writes_nothing(centre: Centre) -> None:
    world = build(centre)
    body = {
        "person_id": world.person,
        "protected_person_id": world.victim,
        "measure": "bar",
        "court_order_ref": "CJ-1",
        "court_order_date": "2026-11-20",
        "start_date": "2026-11-23",
        "law": make.bar_law(consent=False),
        **{f"{role}_id": cid for role, cid in world.contacts.items()},
    }
    with centre.db.session() as session:
        before = session.scalar(select(func.count()).select_from(Placement))
    response = centre.client.post(
        "/api/placements", json=body, headers=centre.headers("supervisor")
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "refused"
    assert response.json()["reasons"]
    body["law"] = make.bar_law(alert_km=15)
    response = centre.client.post(
        "/api/placements", json=body, headers=centre.headers("supervisor")
    )
    assert response.json()["field"] == "law.facts.alert_distance_km"
    with centre.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Placement)) == before


def test_self_intersecting_zone_refused_with_field(centre: Centre) -> None:
    world = build(centre)
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    response = centre.client.put(
        f"/api/placements/{world.placement}/zones/Z9",
        json={"id": "Z9", "type": "exclusion", "geometry": bowtie},
        headers=centre.headers("supervisor"),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "zones[Z9].geometry"
    assert "cross itself" in response.json()["message"]


def test_officials_see_only_their_own_cases(centre: Centre) -> None:
    world = build(centre)
    alarm = world.new_alarm()
    for role in ("judge", "prosecutor", "spip"):
        own = centre.headers(role)
        other = centre.headers(role, f"{role}2")  # a colleague not on this case
        listed = centre.client.get("/api/placements", headers=own).json()
        assert {p["case_ref"] for p in listed} == {"C1", "C2"}
        assert centre.client.get("/api/placements", headers=other).json() == []
        assert (
            centre.client.get(f"/api/placements/{world.placement}", headers=other).status_code
            == 404
        )
        assert centre.client.get(f"/api/persons/{world.person}", headers=other).status_code == 404
        assert centre.client.get(f"/api/alarms/{alarm}", headers=other).status_code == 404
        assert centre.client.get(f"/api/alarms/{alarm}", headers=own).status_code == 200
        assert centre.client.get("/api/alarms", headers=other).json() == []


def test_protected_position_only_for_the_operator_holding_the_live_bar_alarm(
    centre: Centre,
) -> None:
    world = build(centre)
    operator = centre.headers("operator")  # operator1 acknowledges the world's alarms
    colleague = centre.headers("operator", "operator2")
    live = world.new_alarm("acknowledged", "alert", bar=True)
    still_open = world.new_alarm("open", "alert", bar=True)
    closed = world.new_alarm("closed", "alert", bar=True)
    seen = centre.client.get(f"/api/alarms/{live}/protected-position", headers=operator)
    assert seen.status_code == 200
    assert seen.json()["protected"] == {"protected_lat": 48.85, "protected_lon": 2.35}
    refused = [(still_open, operator), (closed, operator), (live, colleague)]
    refused += [(live, centre.headers(role)) for role in ("supervisor", "judge")]
    for alarm, headers in refused:
        denied = centre.client.get(f"/api/alarms/{alarm}/protected-position", headers=headers)
        assert denied.status_code == 403, denied.text
        assert "48.85" not in denied.text
    # The alarm view never carries her position; the holder reads the exact distance, everyone
    # else a rounded one.
    holder = centre.client.get(f"/api/alarms/{live}", headers=operator).json()
    assert holder["detail"] == {"distance_m": 800} and holder["holding"]
    for headers in (colleague, centre.headers("supervisor"), centre.headers("judge")):
        detail = centre.client.get(f"/api/alarms/{live}", headers=headers).json()
        assert detail["detail"] == {"distance_m": 1000, "distance_rounded_to_m": 500}
        assert not detail["holding"]
    with centre.db.session() as session:
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target).where(
                AuditEntry.action.in_(("read_protected_position", "protected_position_denied"))
            )
        ).all()
    assert [tuple(row) for row in audited] == [
        ("operator1", "read_protected_position", f"alarm:{live}"),
        ("operator1", "protected_position_denied", f"alarm:{still_open}"),
        ("operator1", "protected_position_denied", f"alarm:{closed}"),
        ("operator2", "protected_position_denied", f"alarm:{live}"),
        ("supervisor1", "protected_position_denied", f"alarm:{live}"),
        ("judge1", "protected_position_denied", f"alarm:{live}"),
    ]


def test_protected_persons_home_goes_only_to_the_admin(centre: Centre) -> None:
    world = build(centre)
    for role in ("operator", "judge", "supervisor", "spip", "prosecutor"):
        headers = centre.headers(role)
        victim = centre.client.get(f"/api/persons/{world.victim}", headers=headers).json()
        assert victim["home_lat"] is None and victim["address"] is None
        assert victim["location_withheld"]
        listed = centre.client.get("/api/persons", headers=headers).json()
        assert all(p["home_lat"] != 45.0 for p in listed), role
        wearer = centre.client.get(f"/api/persons/{world.person}", headers=headers)
        assert wearer.json()["home_lat"] == make.HOME[0]
    admin = centre.client.get(f"/api/persons/{world.victim}", headers=centre.headers("admin"))
    assert admin.json()["home_lat"] == 45.0
    with centre.db.session() as session:
        audited = session.execute(
            select(AuditEntry.actor, AuditEntry.action).where(
                AuditEntry.target == f"person:{world.victim}",
                AuditEntry.action.in_(("read_protected_location", "protected_location_withheld")),
            )
        ).all()
    assert ("admin1", "read_protected_location") in audited
    assert ("supervisor1", "protected_location_withheld") in audited


def test_every_personal_read_is_audited(centre: Centre) -> None:
    world: World = build(centre)
    judge = centre.headers("judge")
    centre.client.get(f"/api/persons/{world.person}", headers=judge)
    centre.client.get(f"/api/placements/{world.placement}", headers=judge)
    with centre.db.session() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.target).where(
                AuditEntry.actor == "judge1", AuditEntry.action == "read"
            )
        ).all()
    assert {(r.target) for r in rows} >= {f"person:{world.person}", f"placement:{world.placement}"}


def test_wrong_password_and_bad_token_are_401(centre: Centre) -> None:
    centre.headers("operator")
    wrong = centre.client.post(
        "/api/auth/token", json={"username": "operator1", "password": "nope nope nope"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthenticated"
    bad = centre.client.get("/api/alarms", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401


def test_openapi_and_docs_are_published(centre: Centre) -> None:
    spec = centre.client.get("/openapi.json").json()
    assert "/api/observations" in spec["paths"] and "/api/law/assess" in spec["paths"]
    assert centre.client.get("/docs").status_code == 200


def test_alarm_queue_followed_by_id(centre: Centre) -> None:
    """`after` gives only the alarms opened since the last one a client saw, still audited."""
    world = build(centre)
    first = world.new_alarm()
    operator = centre.headers("operator")
    assert [a["id"] for a in centre.client.get("/api/alarms", headers=operator).json()] == [first]
    assert centre.client.get(f"/api/alarms?after={first}", headers=operator).json() == []
    second = world.new_alarm(kind="signal_loss")
    listed = centre.client.get(f"/api/alarms?after={first}", headers=operator).json()
    assert [a["id"] for a in listed] == [second]
    assert centre.client.get("/api/alarms?after=-1", headers=operator).status_code == 422
    with centre.db.session() as session:
        reads = session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.action == "read", AuditEntry.target == "alarms"
            )
        ).all()
    assert reads[-1] == {"ids": [second]}


@pytest.mark.parametrize(
    ("info", "refusal"),
    [
        ('{"name": "x\\ud800"}', "info.name: not Unicode text"),
        ('{"temp": [NaN]}', "info.temp[0]: not a finite number"),
        ('{"temp": [-Infinity]}', "info.temp[0]: not a finite number"),
        ('{"temp": [1e400]}', "info.temp[0]: not a finite number"),
    ],
)
def test_an_extra_that_cannot_be_kept_as_sent_is_refused_by_name(
    centre: Centre, info: str, refusal: str
) -> None:
    """Half a character (a lone surrogate escape) cannot be stored, and NaN or an infinity
    (which Python's parser reads) would go into the case's export as JSON no other reader
    takes: refused, not a 500, nothing of the batch stored."""
    body = (
        f'{{"observations": [{{"device": "B1", "t": "{DAY}T10:00:00Z", "type": "battery",'
        f' "level": 0.5, "info": {info}}}]}}'
    )
    headers = centre.headers("integration") | {"content-type": "application/json"}
    response = centre.client.post("/api/observations", content=body, headers=headers)
    assert response.status_code == 422
    assert refusal in response.json()["message"]
    with centre.db.session() as session:
        assert log.count(session) == 0


def test_a_token_expires_by_the_centres_clock(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = centre.headers("operator")
    assert centre.client.get("/api/alarms", headers=headers).status_code == 200
    later = clock.now() + timedelta(hours=9)  # past the 8-hour lifetime
    monkeypatch.setattr(clock, "now", lambda: later)
    refused = centre.client.get("/api/alarms", headers=headers)
    assert refused.status_code == 401
    assert "expired" in refused.text

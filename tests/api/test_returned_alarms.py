"""Through the API: a taken alarm whose situation came back waits to be taken again (the alarm
layer's list, the supervisor's, the metrics), whoever answers takes it (and with it, on a BAR
alarm, her position), and nobody closes it before (vigie.alarms.returned)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from tests.api.world import World, build
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import workflow
from vigie.settings import Settings
from vigie.store.models import Alarm, AuditEntry

TOKEN = "a-scraper-token-of-at-least-32-characters"


@pytest.fixture
def centre_settings(database_url: str) -> Any:
    return Settings(database_url=database_url, run_pipeline=False, metrics_token=TOKEN)


def came_back(world: World, state: str = "acknowledged", **kind: Any) -> int:
    """An alarm taken by operator1 whose condition ended, then began again."""
    alarm = world.new_alarm(state, **kind)
    world.end_alarm(alarm, "fix")
    world.raise_again(alarm)
    return alarm


def ids(centre: Centre, query: str, role: str = "operator") -> list[int]:
    answer = centre.client.get(f"/api/alarms?{query}", headers=centre.headers(role))
    assert answer.status_code == 200, answer.text
    return [a["id"] for a in answer.json()]


def test_the_alarms_to_take_are_the_open_ones_and_those_come_back(centre: Centre) -> None:
    world = build(centre)
    waiting = world.new_alarm("open")
    held = world.new_alarm("acknowledged")
    ended = world.new_alarm("in_progress")
    world.end_alarm(ended, "fix")  # ended, not back: nothing to take
    back = came_back(world, "in_progress")
    closed = world.new_alarm("closed")
    assert sorted(ids(centre, "to_take=true&limit=1000")) == sorted([waiting, back])
    # `to_take` is the list whatever `status` says; the plain list is unchanged.
    assert sorted(ids(centre, "to_take=true&status=closed")) == sorted([waiting, back])
    assert {held, ended, back} <= set(ids(centre, "status=in_progress&status=acknowledged"))
    assert closed not in ids(centre, "to_take=true")
    got = centre.client.get(f"/api/alarms/{back}", headers=centre.headers("judge")).json()
    assert got["to_take"] and got["raised_again_at"] is not None
    assert got["status"] == "in_progress" and not got["raised_again_escalated"]
    calm = centre.client.get(f"/api/alarms/{held}", headers=centre.headers("operator")).json()
    assert not calm["to_take"] and calm["raised_again_at"] is None
    # The supervisor's page counts it with the untaken ones, no longer as its holder's work.
    sup = centre.client.get("/api/console/supervision", headers=centre.headers("supervisor"))
    per_operator = {o["operator"]: o["count"] for o in sup.json()["open_per_operator"]}
    assert per_operator == {"operator1": 2, None: 2}


def test_whoever_answers_the_return_holds_her_position_from_then(centre: Centre) -> None:
    world = build(centre)
    alert = came_back(world, kind="alert", bar=True)
    first, second = centre.headers("operator"), centre.headers("operator", "operator2")
    where = f"/api/alarms/{alert}/protected-position"
    assert centre.client.get(where, headers=first).status_code == 200  # still his, until then
    assert centre.client.get(where, headers=second).status_code == 403
    closing = {"qualification": "breach"}
    refused = centre.client.post(f"/api/alarms/{alert}/close", json=closing, headers=first)
    assert refused.status_code == 409
    assert "acknowledge it again before closing it" in refused.text

    taken = centre.client.post(f"/api/alarms/{alert}/acknowledge", headers=second)
    assert taken.status_code == 200, taken.text
    body = taken.json()
    assert body["holding"] and not body["to_take"] and body["raised_again_at"] is None
    assert centre.client.get(where, headers=second).status_code == 200
    assert centre.client.get(where, headers=first).status_code == 403  # no longer his
    again = centre.client.post(f"/api/alarms/{alert}/acknowledge", headers=first)
    assert again.status_code == 409  # taken again already: a second answer is refused
    page = centre.client.get(f"/api/alarms/{alert}", headers=second).json()
    assert page["holder"]["username"] == "operator2"
    assert [a["action"] for a in page["actions"]] == ["acknowledge_again"]
    with centre.db.session() as session:
        audited = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "acknowledge_again", AuditEntry.target == f"alarm:{alert}"
            )
        ).one()
        assert audited.actor == "operator2"
    closed = centre.client.post(f"/api/alarms/{alert}/close", json=closing, headers=second)
    assert closed.status_code == 200, closed.text


def test_informational_alarms_come_back_are_taken_again_together(centre: Centre) -> None:
    world = build(centre)
    lost = came_back(world, kind="signal_lost")
    battery = world.new_alarm("open", kind="low_battery")
    taken = centre.client.post(
        "/api/alarms/acknowledge-many",
        json={"ids": [lost, battery], "note": "tournée"},
        headers=centre.headers("operator", "operator2"),
    )
    assert taken.status_code == 200, taken.text
    assert ids(centre, "to_take=true") == []


def test_a_return_nobody_takes_again_is_the_supervisors_and_waits_in_the_metrics(
    centre: Centre,
) -> None:
    world = build(centre)
    back = came_back(world, kind="absence")
    calm = world.new_alarm("acknowledged", kind="absence")
    now = clock.now()
    with centre.db.session() as session:  # the return an hour old
        session.execute(
            update(Alarm).where(Alarm.id == back).values(raised_again_at=now - timedelta(hours=1))
        )
        flagged = workflow.escalate_overdue(session, now, 600)
    assert [a.id for a in flagged] == [back]
    assert back in ids(centre, "escalated=true", "supervisor")
    assert back not in ids(centre, "escalated=false", "supervisor")
    assert calm in ids(centre, "escalated=false", "supervisor")
    scraped = centre.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    waited = {
        s.name: s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    assert waited["vigie_alarm_oldest_unacknowledged_seconds"] >= 3600
    assert waited["vigie_alarms_escalated"] == 1
    assert waited["vigie_alarms_raised_again"] == 1
    assert waited["vigie_alarms_released"] == 0  # its situation came back: nobody left it


def test_a_return_after_a_known_absence_ended_is_no_longer_covered_by_it(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raised within a declared absence (hospital), an absence alarm is shown, never sounded
    nor escalated, and its operator takes it; the wearer absent again after it ended is an
    ordinary alarm to take: judged by its first raise, the return was silent too."""
    world = build(centre)
    now = clock.now()
    made = centre.client.post(
        f"/api/placements/{world.placement}/suspensions",
        json={
            "reason": "hospital",
            "note": "hospitalisé",
            "starts_at": (now - timedelta(minutes=10)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
        },
        headers=centre.headers("supervisor"),
    )
    assert made.status_code == 201, made.text
    alarm = world.new_alarm("open", kind="absence")
    world.end_alarm(alarm, "window_end")
    first = centre.client.get(f"/api/alarms/{alarm}", headers=centre.headers("operator")).json()
    assert first["known_absence"]
    taken = centre.client.post(
        f"/api/alarms/{alarm}/acknowledge", headers=centre.headers("operator")
    )
    assert taken.status_code == 200
    monkeypatch.setattr(clock, "now", lambda: now + timedelta(hours=2))  # the absence is over
    world.raise_again(alarm)
    (back,) = [
        a
        for a in centre.client.get(
            "/api/alarms?to_take=true", headers=centre.headers("operator")
        ).json()
        if a["id"] == alarm
    ]
    assert back["to_take"] and not back["known_absence"]  # sounded, as any alarm to take
    with centre.db.session() as session:
        later = clock.now() + timedelta(hours=1)
        assert [a.id for a in workflow.escalate_overdue(session, later, 600)] == [alarm]

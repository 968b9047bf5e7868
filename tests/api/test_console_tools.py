"""The tools of the night shift, through the API on both databases: search, bulk acknowledge,
known absences, the handover log, the wearers' map, escalation delays per priority, a closed
alarm's track and the timeline's actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.api.world import World, build
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import workflow
from vigie.cases import devices
from vigie.cases.forms import AssignmentIn, DeviceIn
from vigie.store.models import Alarm, AlarmAction, AuditEntry, Placement


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)


def audited(world: World, action: str) -> list[AuditEntry]:
    with world.centre.db.session() as session:
        found = session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        return list(found)


def get(world: World, path: str, role: str, **params: Any) -> Any:
    return world.centre.client.get(path, params=params, headers=world.centre.headers(role))


def post(world: World, path: str, role: str, body: Any = None) -> Any:
    return world.centre.client.post(path, json=body, headers=world.centre.headers(role))


# Search


def test_search_finds_a_case_by_reference_name_or_device_in_any_case(world: World) -> None:
    by_ref = get(world, "/api/search", "operator", q="c1").json()
    assert [(f["case_ref"], f["match"]) for f in by_ref] == [("C1", "case")]
    by_name = get(world, "/api/search", "operator", q="MARt").json()
    assert {(f["case_ref"], f["match"], f["label"]) for f in by_name} == {
        ("C1", "wearer", "Martin Paul"),
        ("C2", "wearer", "Martin Paul"),
    }
    by_first_last = get(world, "/api/search", "operator", q="paul mart").json()
    assert {f["case_ref"] for f in by_first_last} == {"C1", "C2"}
    by_device = get(world, "/api/search", "operator", q="h1").json()
    assert [(f["case_ref"], f["match"], f["label"]) for f in by_device] == [("C1", "device", "H1")]
    assert by_device[0]["placement_id"] == world.placement
    assert get(world, "/api/search", "operator", q="%_").json() == []  # literal, not wildcards
    searched = [e.detail["q"] for e in audited(world, "search")]
    assert searched == ["c1", "MARt", "paul mart", "h1", "%_"]


def test_search_keeps_to_the_cases_a_judge_may_see(world: World) -> None:
    for q in ("C1", "Martin", "B1", "durand"):  # durand: the protected person of C2
        assert get(world, "/api/search", "judge", q=q).json(), q
        stranger = world.centre.client.get(
            "/api/search", params={"q": q}, headers=world.centre.headers("judge", "judge9")
        )
        assert stranger.status_code == 200 and stranger.json() == [], q


def test_search_refuses_a_one_letter_query_naming_q(world: World) -> None:
    answer = get(world, "/api/search", "operator", q="C")
    assert answer.status_code == 422
    assert answer.json()["field"] == "q"
    assert get(world, "/api/search", "integration", q="C1").status_code == 403


# Bulk acknowledge


def test_bulk_acknowledge_takes_informational_alarms_with_one_note(world: World) -> None:
    ids = [world.new_alarm(kind=k) for k in ("signal_lost", "low_battery", "power")]
    answer = post(
        world, "/api/alarms/acknowledge-many", "operator", {"ids": ids, "note": "tournée"}
    )
    assert answer.status_code == 200, answer.text
    assert [a["status"] for a in answer.json()] == ["acknowledged"] * 3
    with world.centre.db.session() as session:
        notes = session.scalars(select(AlarmAction).where(AlarmAction.alarm_id.in_(ids)))
        assert sorted((n.alarm_id, n.note) for n in notes) == [(i, "tournée") for i in ids]
    (entry,) = audited(world, "bulk_acknowledge")
    assert entry.detail == {"ids": ids, "note": "tournée"} and entry.actor == "operator1"


@pytest.mark.parametrize("kind", ["alert", "pre_alert", "tamper", "absence", "zone_exit", "sos"])
def test_bulk_acknowledge_refuses_any_other_kind_in_french_naming_it(
    world: World, kind: str
) -> None:
    info = world.new_alarm(kind="signal_lost")
    other = world.new_alarm(kind=kind, bar=kind in ("alert", "pre_alert"))
    answer = post(
        world, "/api/alarms/acknowledge-many", "operator", {"ids": [info, other], "note": "x"}
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["field"] == "ids[1]" and body["alarm_id"] == other
    assert f"l'alarme n° {other}" in body["message"] and "n'est pas informative" in body["message"]
    with world.centre.db.session() as session:  # nothing was acknowledged, not even the first
        assert session.get_one(Alarm, info).status == "open"
    assert audited(world, "bulk_acknowledge") == []


def test_bulk_acknowledge_refuses_an_alarm_already_taken_and_other_roles(world: World) -> None:
    taken = world.new_alarm("acknowledged", kind="low_battery")
    answer = post(world, "/api/alarms/acknowledge-many", "operator", {"ids": [taken], "note": "x"})
    assert answer.status_code == 422 and "n'est plus ouverte" in answer.json()["message"]
    fresh = world.new_alarm(kind="low_battery")
    body = {"ids": [fresh], "note": "x"}
    assert post(world, "/api/alarms/acknowledge-many", "judge", body).status_code == 403
    blank = post(world, "/api/alarms/acknowledge-many", "operator", {"ids": [fresh], "note": " "})
    assert blank.status_code == 422 and blank.json()["field"] == "note"


# Known absences


def _suspend(world: World, role: str = "supervisor", **fields: Any) -> Any:
    now = clock.now()
    body = {
        "reason": "hospital",
        "note": "hospitalisé à Lariboisière",
        "starts_at": (now - timedelta(minutes=10)).isoformat(),
        "ends_at": (now + timedelta(hours=2)).isoformat(),
    } | fields
    return post(world, f"/api/placements/{world.placement}/suspensions", role, body)


def test_a_known_absence_marks_alarms_but_never_tamper_and_is_audited(world: World) -> None:
    made = _suspend(world)
    assert made.status_code == 201, made.text
    assert made.json()["active"] and made.json()["created_by"] == "supervisor1"
    absence, tamper = world.new_alarm(kind="absence"), world.new_alarm(kind="tamper")
    queue = {a["id"]: a for a in get(world, "/api/alarms", "operator").json()}
    assert queue[absence]["known_absence"] is True  # still raised and listed
    assert queue[tamper]["known_absence"] is False
    assert get(world, f"/api/alarms/{absence}", "operator").json()["known_absence"] is True
    (entry,) = audited(world, "suspend_alerts")
    assert entry.actor == "supervisor1" and entry.detail["reason"] == "hospital"
    # Shown on the case to those who may read it, the judge of the case included.
    listed = get(world, f"/api/placements/{world.placement}/suspensions", "judge").json()
    assert [s["note"] for s in listed] == ["hospitalisé à Lariboisière"]


def test_a_known_absence_is_not_escalated_and_ends_by_itself(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _suspend(world).status_code == 201
    absence, tamper = world.new_alarm(kind="absence"), world.new_alarm(kind="tamper")
    later = clock.now() + timedelta(minutes=30)
    with world.centre.db.session() as session:
        escalated = workflow.escalate_overdue(session, later, 60)
        assert [a.id for a in escalated] == [tamper]
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(hours=3))
    after = world.new_alarm(kind="absence")  # raised after its end: an ordinary alarm again
    queue = {a["id"]: a for a in get(world, "/api/alarms", "operator").json()}
    assert queue[absence]["known_absence"] is True and queue[after]["known_absence"] is False
    listed = get(world, f"/api/placements/{world.placement}/suspensions", "supervisor").json()
    assert listed[0]["active"] is False


def test_a_suspension_ended_early_covers_nothing_after(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _suspend(world).json()
    ended = post(world, f"/api/suspensions/{made['id']}/end", "supervisor")
    assert ended.status_code == 200 and ended.json()["ended_by"] == "supervisor1"
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(seconds=1))
    alarm = world.new_alarm(kind="absence")
    assert get(world, f"/api/alarms/{alarm}", "operator").json()["known_absence"] is False
    assert len(audited(world, "end_alert_suspension")) == 1


def test_a_suspension_is_for_supervisors_and_a_bounded_period(world: World) -> None:
    assert _suspend(world, "operator").status_code == 403
    assert _suspend(world, "judge").status_code == 403
    now = clock.now()
    backwards = _suspend(world, ends_at=(now - timedelta(minutes=20)).isoformat())
    assert backwards.status_code == 422 and backwards.json()["field"] == "ends_at"
    too_long = _suspend(world, ends_at=(now + timedelta(days=40)).isoformat())
    assert too_long.status_code == 422 and too_long.json()["field"] == "ends_at"
    naive = _suspend(world, starts_at="2026-11-30T10:00:00")
    assert naive.status_code == 422 and naive.json()["field"] == "starts_at"
    assert _suspend(world, reason="holiday").json()["field"] == "reason"
    assert audited(world, "suspend_alerts") == []


# Handover


def test_the_handover_is_shown_to_the_next_operator_until_read(world: World) -> None:
    client = world.centre.client
    written = post(world, "/api/handover", "operator", {"text": "C1 : batterie à surveiller"})
    assert written.status_code == 201
    note = written.json()["id"]
    assert get(world, "/api/handover/pending", "operator").json() == []  # not to its author
    night = world.centre.headers("operator", "operator2")
    pending = client.get("/api/handover/pending", headers=night).json()
    assert [(n["text"], n["author"]) for n in pending] == [
        ("C1 : batterie à surveiller", "operator1")
    ]
    assert client.post(f"/api/handover/{note}/read", headers=night).status_code == 200
    assert client.get("/api/handover/pending", headers=night).json() == []
    assert client.post(f"/api/handover/{note}/read", headers=night).status_code == 409
    assert client.post("/api/handover/99999/read", headers=night).status_code == 404
    recent = get(world, "/api/handover", "supervisor").json()
    assert [r["user"] for r in recent[0]["read_by"]] == ["operator2"]
    assert [e.actor for e in audited(world, "handover_read")] == ["operator2"]
    assert len(audited(world, "handover_written")) == 1
    assert post(world, "/api/handover", "judge", {"text": "x"}).status_code == 403
    assert post(world, "/api/handover", "operator", {"text": "  "}).json()["field"] == "text"


# The wearers' map


def _fix(world: World, device: str, lat: float, lon: float, ago_s: float = 0) -> None:
    t = (clock.now() - timedelta(seconds=ago_s)).isoformat()
    obs = {"device": device, "t": t, "type": "position", "lat": lat, "lon": lon, "accuracy_m": 9}
    answer = post(world, "/api/observations", "integration", {"observations": [obs]})
    assert answer.status_code in (200, 201), answer.text


def _bar_devices(world: World) -> None:
    with world.centre.db.session() as session:
        bar = session.get_one(Placement, world.bar_placement)
        devices.create_device(session, DeviceIn(id="BW", kind="bracelet"), "t")
        devices.create_device(session, DeviceIn(id="PV", kind="protected_device"), "t")
        devices.assign(session, bar, AssignmentIn(device_id="BW", role="wearer"), "t")
        devices.assign(session, bar, AssignmentIn(device_id="PV", role="protected"), "t")


def test_the_map_shows_wearers_never_her_device_nor_a_blacked_out_fix(world: World) -> None:
    _bar_devices(world)
    _fix(world, "B1", 48.85, 2.35, ago_s=60)
    _fix(world, "B1", 48.86, 2.36)
    _fix(world, "BW", 45.01, 4.01)
    _fix(world, "PV", 45.0, 4.0)
    shown = get(world, "/api/console/wearers", "supervisor").json()
    assert sorted((w["case"], w["device"], w["lat"]) for w in shown["wearers"]) == [
        ("C1", "B1", 48.86),
        ("C2", "BW", 45.01),
    ]
    assert shown["withheld"] == 0
    # A BAR alert on C2 now: the wearer's fix near it would pair with its distance: withheld.
    world.new_alarm(kind="alert", bar=True)
    shown = get(world, "/api/console/wearers", "supervisor").json()
    devices_shown = {w["device"] for w in shown["wearers"]}
    assert devices_shown == {"B1"} and shown["withheld"] == 1
    lats = {round(w["lat"], 2) for w in shown["wearers"]}
    assert 45.0 not in lats and 45.01 not in lats
    assert get(world, "/api/console/wearers", "operator").status_code == 403


def test_the_map_filters_by_measure_and_alarm_state(world: World) -> None:
    _bar_devices(world)
    _fix(world, "B1", 48.86, 2.36)
    _fix(world, "BW", 45.01, 4.01)
    cases = lambda **p: sorted(  # noqa: E731
        w["case"] for w in get(world, "/api/console/wearers", "supervisor", **p).json()["wearers"]
    )
    assert cases() == ["C1", "C2"]
    assert cases(measure="bar") == ["C2"]
    assert cases(alarm="live") == []
    world.new_alarm(kind="absence")
    assert cases(alarm="live") == ["C1"] and cases(alarm="none") == ["C2"]
    assert cases(alarm="escalated") == []
    bad = get(world, "/api/console/wearers", "supervisor", alarm="red")
    assert bad.status_code == 422 and bad.json()["field"] == "alarm"


# Escalation per priority


def test_a_bar_alert_escalates_sooner_than_a_low_battery(world: World) -> None:
    alert = world.new_alarm(kind="alert", bar=True)
    battery = world.new_alarm(kind="low_battery")
    factors = {1: 0.25, 5: 5.0}
    with world.centre.db.session() as session:
        start = session.get_one(Alarm, alert).opened_at
        assert workflow.escalate_overdue(session, start + timedelta(seconds=29), 120, factors) == []
        soon = workflow.escalate_overdue(session, start + timedelta(seconds=31), 120, factors)
        assert [a.id for a in soon] == [alert]
        early = workflow.escalate_overdue(session, start + timedelta(seconds=599), 120, factors)
        assert early == []
        late = workflow.escalate_overdue(session, start + timedelta(seconds=601), 120, factors)
        assert [a.id for a in late] == [battery]
    escalated = get(world, "/api/alarms", "supervisor", escalated="true").json()
    assert {a["id"] for a in escalated} == {alert, battery}


# The case's track and timeline


def test_a_closed_alarms_track_ends_at_its_closing(world: World) -> None:
    alarm = world.new_alarm("closed", kind="absence")
    with world.centre.db.session() as session:
        closed_at = session.get_one(Alarm, alarm).closed_at
    assert closed_at is not None
    _fix(world, "B1", 48.85, 2.35, ago_s=(clock.now() - closed_at).total_seconds() + 30)
    _fix(world, "B1", 48.86, 2.36)  # after the closing
    context = get(world, f"/api/console/alarms/{alarm}/context", "operator").json()
    assert [p["lat"] for p in context["track"]] == [48.85]
    activity = get(world, f"/api/console/placements/{world.placement}/activity", "operator").json()
    assert [p["lat"] for p in activity["track"]] == [48.85, 48.86]
    # The timeline's actions: what the operator did on the case's alarms, by whom.
    assert ("call_wearer", "operator1") in {(a["action"], a["by"]) for a in activity["actions"]}

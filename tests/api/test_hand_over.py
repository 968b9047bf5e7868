"""A taken alarm handed to another operator (vigie.alarms.handing): its holder, or a supervisor
for a holder gone, gives it to an operator on duty; her position goes with it."""

from __future__ import annotations

import json
from datetime import timedelta
from importlib.resources import files
from typing import Any

import pytest
from alembic import command
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from tests.api.test_protected_privacy import HER, offset
from tests.api.test_sos import fix, pipeline, post, queue
from tests.api.world import equip
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import holder_gone, workflow
from vigie.settings import Settings
from vigie.store.models import Alarm, AlarmAction, AuditEntry, User
from vigie.store.schema import alembic_config, upgrade

TOKEN = "a-scraper-token-of-at-least-32-characters"


@pytest.fixture
def centre_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, run_pipeline=False, tick_s=0.05, metrics_token=TOKEN)


def gauges(centre: Centre) -> dict[str, float]:
    scraped = centre.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200, scraped.text
    return {
        s.name: s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }


def raised_alert(centre: Centre) -> int:
    """A BAR alert raised by the real pipeline: the wearer 500 m from her."""
    equip(centre)
    t = clock.now() - timedelta(minutes=5)
    post(
        centre, [fix("PP", t, HER, 8.0), fix("WB", t + timedelta(seconds=30), offset(HER, 90, 500))]
    )
    pipeline(centre).step()
    (alert,) = [a for a in queue(centre) if a["kind"] == "alert"]
    return int(alert["id"])


def taken_alert(centre: Centre) -> int:
    """A live BAR alert, taken by operator1."""
    alarm_id = raised_alert(centre)
    taken = centre.client.post(
        f"/api/alarms/{alarm_id}/acknowledge", headers=centre.headers("operator")
    )
    assert taken.status_code == 200 and taken.json()["holding"], taken.text
    return alarm_id


def hand(centre: Centre, alarm_id: int, by: dict[str, str], **body: Any) -> Any:
    return centre.client.post(f"/api/alarms/{alarm_id}/hand-over", json=body, headers=by)


def locate(centre: Centre, alarm_id: int, username: str) -> int:
    headers = centre.headers("operator", username)
    where = f"/api/alarms/{alarm_id}/protected-position"
    return int(centre.client.get(where, headers=headers).status_code)


def test_the_holder_hands_a_bar_alert_over_and_her_position_goes_with_it(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    op1, op2 = centre.headers("operator"), centre.headers("operator", "operator2")
    offered = centre.client.get(f"/api/alarms/{alarm_id}/hand-over", headers=op1)
    assert offered.status_code == 200
    assert [o["username"] for o in offered.json()] == ["operator2"]  # not its holder
    assert centre.client.get(f"/api/alarms/{alarm_id}", headers=op1).json()["may_hand_over"]
    assert not centre.client.get(f"/api/alarms/{alarm_id}", headers=op2).json()["may_hand_over"]

    handed = hand(centre, alarm_id, op1, to="operator2", reason="  relève de poste ")
    assert handed.status_code == 200, handed.text
    body = handed.json()
    assert body["holder"]["username"] == "operator2"
    assert not body["holding"] and not body["may_hand_over"]  # no longer hers to locate, for op1
    assert body["status"] == "acknowledged"  # its workflow goes on
    assert locate(centre, alarm_id, "operator2") == 200
    assert locate(centre, alarm_id, "operator1") == 403
    whole = centre.client.get(f"/api/alarms/{alarm_id}", headers=op2).json()
    assert whole["holding"] and whole["may_hand_over"]
    (logged,) = [a for a in whole["actions"] if a["action"] == "hand_over"]
    assert (logged["user"], logged["to_user"], logged["note"]) == (
        "operator1",
        "operator2",
        "relève de poste",
    )
    with centre.db.session() as session:
        alarm = session.get_one(Alarm, alarm_id)
        first = session.scalars(select(User).where(User.username == "operator1")).one()
        second = session.scalars(select(User).where(User.username == "operator2")).one()
        assert (alarm.acknowledged_by, alarm.held_by) == (first.id, second.id)  # first take kept
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "hand_over")).one()
        assert (audited.actor, audited.target) == ("operator1", f"alarm:{alarm_id}")
        assert audited.detail == {
            "to": "operator2",
            "holder_before": first.id,
            "reason": "relève de poste",
        }

    # The new holder closes it; the judge's report tells the first take and the hand-over.
    closed = centre.client.post(
        f"/api/alarms/{alarm_id}/close", json={"qualification": "breach"}, headers=op2
    )
    assert closed.status_code == 200, closed.text
    report = centre.client.get(f"/api/alarms/{alarm_id}/report.html", headers=op2).text
    assert "operator1 prend l&#39;alarme en compte." in report
    assert "operator1 : Alarme confiée à operator2 — « relève de poste »." in report
    assert "operator2 prend" not in report


def test_a_supervisor_hands_over_the_alarm_of_a_holder_gone(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    centre.headers("operator", "operator3")
    boss = centre.headers("supervisor")
    offered = centre.client.get(f"/api/alarms/{alarm_id}/hand-over", headers=boss).json()
    assert [o["username"] for o in offered] == ["operator3"]  # operators only, not its holder
    handed = hand(centre, alarm_id, boss, to="operator3", reason="operator1 parti malade")
    assert handed.status_code == 200, handed.text
    assert handed.json()["holder"]["username"] == "operator3"
    assert locate(centre, alarm_id, "operator3") == 200
    assert locate(centre, alarm_id, "operator1") == 403
    with centre.db.session() as session:
        (entry,) = session.scalars(
            select(AlarmAction).where(AlarmAction.action == "hand_over")
        ).all()
        supervisor = session.scalars(select(User).where(User.username == "supervisor1")).one()
        assert entry.user_id == supervisor.id


def test_who_may_not_hand_over_what_and_to_whom(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    op1 = centre.headers("operator")
    centre.headers("operator", "operator2")
    centre.headers("supervisor")

    # Another operator cannot take it for himself this way: refused and audited.
    other = hand(
        centre, alarm_id, centre.headers("operator", "operator3"), to="operator3", reason="x"
    )
    assert other.status_code == 403, other.text
    with centre.db.session() as session:
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "hand_over_denied")
        ).one()
        assert (denied.actor, denied.target) == ("operator3", f"alarm:{alarm_id}")
        assert denied.detail["to"] == "operator3"
    for role in ("judge", "spip", "prosecutor", "admin"):
        assert (
            hand(centre, alarm_id, centre.headers(role), to="operator2", reason="x").status_code
            == 403
        )

    # To whom: an active operator, not its holder; a reason said.
    for to in ("nobody", "supervisor1", "admin1", ""):
        refused = hand(centre, alarm_id, op1, to=to, reason="relève")
        assert refused.status_code == 422, (to, refused.text)
        assert refused.json()["field"] == "to"
    assert hand(centre, alarm_id, op1, to="operator1", reason="relève").status_code == 409
    for reason in ("", "   ", "x" * 1001, "a\x00b"):
        refused = hand(centre, alarm_id, op1, to="operator2", reason=reason)
        assert refused.status_code == 422, (reason, refused.text)
    assert hand(centre, alarm_id, op1, to="operator2").status_code == 422
    with centre.db.session() as session:
        operator2 = session.scalars(select(User).where(User.username == "operator2")).one()
        operator2.active = False
    assert hand(centre, alarm_id, op1, to="operator2", reason="relève").status_code == 422
    assert hand(centre, 10**6, op1, to="operator2", reason="relève").status_code == 404
    with centre.db.session() as session:
        assert (
            session.scalars(select(AlarmAction).where(AlarmAction.action == "hand_over")).all()
            == []
        )
        assert (
            session.get_one(Alarm, alarm_id).held_by
            == session.scalars(select(User.id).where(User.username == "operator1")).one()
        )


def handed_ids(centre: Centre, username: str) -> list[int]:
    headers = centre.headers("operator", username)
    listed = centre.client.get("/api/alarms?handed_to_me=true", headers=headers)
    assert listed.status_code == 200, listed.text
    return [a["id"] for a in listed.json()]


def to_take_ids(centre: Centre, username: str) -> list[int]:
    headers = centre.headers("operator", username)
    return [a["id"] for a in centre.client.get("/api/alarms?to_take=true", headers=headers).json()]


def take_over(centre: Centre, alarm_id: int, username: str) -> Any:
    headers = centre.headers("operator", username)
    return centre.client.post(f"/api/alarms/{alarm_id}/take-over", headers=headers)


def test_a_handed_alarm_is_its_new_holders_to_answer_until_he_takes_it_over(
    centre: Centre,
) -> None:
    """Taken, it sounds nowhere: handed to operator2 on another page, he would not know. It is
    his to answer (his bar reads `handed_to_me`) until he says he has it."""
    alarm_id = taken_alert(centre)
    op1 = centre.headers("operator")
    centre.headers("operator", "operator2")
    assert handed_ids(centre, "operator2") == []
    assert hand(centre, alarm_id, op1, to="operator2", reason="relève").status_code == 200

    assert handed_ids(centre, "operator2") == [alarm_id]
    assert handed_ids(centre, "operator1") == []  # not his any more
    # His to take over: in his list of alarms to take, not in anyone else's (taken).
    assert alarm_id in to_take_ids(centre, "operator2")
    assert alarm_id not in to_take_ids(centre, "operator3")
    (listed,) = centre.client.get(
        "/api/alarms?handed_to_me=true", headers=centre.headers("operator", "operator2")
    ).json()
    assert listed["handed_to_you"]["by"] == "operator1"
    assert listed["handed_to_you"]["reason"] == "relève"
    read = centre.client.get(f"/api/alarms/{alarm_id}", headers=op1).json()
    assert read["handed_to_you"] is None  # the one who handed it is not asked anything
    # Nobody else answers for him: refused (audited), nothing logged on the alarm.
    assert take_over(centre, alarm_id, "operator1").status_code == 409
    with centre.db.session() as session:
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "take_over_denied")
        ).one()
        assert (denied.actor, denied.target) == ("operator1", f"alarm:{alarm_id}")
    for role in ("supervisor", "judge", "spip"):  # only an operator is handed an alarm
        refused = centre.client.post(
            f"/api/alarms/{alarm_id}/take-over", headers=centre.headers(role)
        )
        assert refused.status_code == 403

    op2 = centre.headers("operator", "operator2")
    taken = take_over(centre, alarm_id, "operator2")
    assert taken.status_code == 200, taken.text
    assert taken.json()["handed_to_you"] is None and taken.json()["holding"]
    assert handed_ids(centre, "operator2") == []
    assert alarm_id not in to_take_ids(centre, "operator2")
    assert take_over(centre, alarm_id, "operator2").status_code == 409  # once
    read = centre.client.get(f"/api/alarms/{alarm_id}", headers=op2)
    assert read.json()["handed_to_you"] is None
    assert [a["action"] for a in read.json()["actions"]][-2:] == ["hand_over", "take_over"]
    with centre.db.session() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "take_over")).one()
        assert (audited.actor, audited.target) == ("operator2", f"alarm:{alarm_id}")
        assert audited.detail["waited_s"] >= 0

    # Handed back: operator1 has to answer it in turn.
    assert hand(centre, alarm_id, op2, to="operator1", reason="retour").status_code == 200
    assert handed_ids(centre, "operator1") == [alarm_id]
    assert handed_ids(centre, "operator2") == []
    preview = centre.client.post(
        f"/api/alarms/{alarm_id}/report/preview", json={"qualification": "breach"}, headers=op1
    )
    assert preview.status_code == 200, preview.text
    assert "operator2 : Prise en charge de l&#39;alarme confiée." in preview.text


def test_a_hand_over_left_unanswered_goes_back_to_whoever_is_on_duty(centre: Centre) -> None:
    """Handed to an operator who does not say he has it within its delay (his console open,
    himself away): released, to take again by anyone, as the alarm of a holder gone."""
    alarm_id = taken_alert(centre)
    op1 = centre.headers("operator")
    centre.headers("operator", "operator2")
    assert hand(centre, alarm_id, op1, to="operator2", reason="relève").status_code == 200
    assert gauges(centre)["vigie_alarms_handed_waiting"] == 1
    now = clock.now()
    with centre.db.session() as session:
        early = workflow.escalate_overdue(session, now + timedelta(seconds=50), 60)
        assert alarm_id not in [a.id for a in early]
    assert handed_ids(centre, "operator2") == [alarm_id]
    with centre.db.session() as session:
        # As detection runs it: for the partition it owns.
        partition = session.get_one(Alarm, alarm_id).partition
        elsewhere = workflow.escalate_overdue(session, now + timedelta(seconds=61), 60, {}, 7)
        assert partition != 7 and alarm_id not in [a.id for a in elsewhere]
        released = workflow.escalate_overdue(
            session, now + timedelta(seconds=61), 60, {}, partition
        )
        assert alarm_id in [a.id for a in released]
        alarm = session.get_one(Alarm, alarm_id)
        assert alarm.held_by is None
        assert alarm.raised_again_why == "hand_over_unanswered"
        operator2 = session.scalars(select(User.id).where(User.username == "operator2")).one()
        logged = session.scalars(
            select(AlarmAction).where(AlarmAction.action == "hand_over_unanswered")
        ).one()
        assert (logged.user_id, logged.to_user_id) == (None, operator2)
    assert handed_ids(centre, "operator2") == []
    waiting = gauges(centre)
    assert waiting["vigie_alarms_handed_waiting"] == 0
    assert waiting["vigie_alarms_released"] == waiting["vigie_alarms_raised_again"] == 1
    assert alarm_id in to_take_ids(centre, "operator1")
    assert alarm_id in to_take_ids(centre, "operator3")
    assert locate(centre, alarm_id, "operator2") == 403  # no longer his
    assert take_over(centre, alarm_id, "operator2").status_code == 409
    # Whoever answers takes it again, and has nothing to take over.
    op3 = centre.headers("operator", "operator3")
    retaken = centre.client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=op3)
    assert retaken.status_code == 200, retaken.text
    assert handed_ids(centre, "operator3") == []
    assert locate(centre, alarm_id, "operator3") == 200
    with centre.db.session() as session:
        later = workflow.escalate_overdue(session, now + timedelta(hours=1), 60)
        assert alarm_id not in [a.id for a in later]
    closed = centre.client.post(
        f"/api/alarms/{alarm_id}/close", json={"qualification": "breach"}, headers=op3
    )
    assert closed.status_code == 200, closed.text
    report = centre.client.get(f"/api/alarms/{alarm_id}/report.html", headers=op3).text
    assert "operator2 n&#39;a pas pris la suite de l&#39;alarme qui lui était confiée" in report


def test_a_released_alarm_handed_by_a_supervisor_is_taken_again_by_the_take_over(
    centre: Centre,
) -> None:
    """Its holder logged out without handing it: released, to take again by all. A supervisor
    gives it to operator2: it stays to take (every console sounds it) until operator2 takes it
    over, which is its take again: then it sounds nowhere, and it may be closed."""
    alarm_id = taken_alert(centre)
    op1 = centre.headers("operator")
    centre.headers("operator", "operator2")
    assert centre.client.post("/api/auth/logout", headers=op1).status_code == 204
    boss = centre.headers("supervisor")
    assert hand(centre, alarm_id, boss, to="operator2", reason="operator1 parti").status_code == 200
    assert handed_ids(centre, "operator2") == [alarm_id]
    assert alarm_id in to_take_ids(centre, "operator3")  # still sounding for everyone
    taken = take_over(centre, alarm_id, "operator2")
    assert taken.status_code == 200, taken.text
    assert taken.json()["to_take"] is False and taken.json()["raised_again_at"] is None
    assert alarm_id not in to_take_ids(centre, "operator3")
    assert handed_ids(centre, "operator2") == []
    op2 = centre.headers("operator", "operator2")
    actions = [
        a["action"]
        for a in centre.client.get(f"/api/alarms/{alarm_id}", headers=op2).json()["actions"]
    ]
    assert actions[-3:] == ["hand_over", "acknowledge_released", "take_over"]
    closed = centre.client.post(
        f"/api/alarms/{alarm_id}/close", json={"qualification": "breach"}, headers=op2
    )
    assert closed.status_code == 200, closed.text


def test_the_new_holder_working_the_alarm_has_taken_it_over(centre: Centre) -> None:
    """Handed an alarm he is looking at, operator2 logs a call without pressing "Je prends la
    suite": he has it. It stops sounding for him, and its delay running out does not take it
    (and her position) away from him in the middle of his work."""
    alarm_id = taken_alert(centre)
    op1, op2 = centre.headers("operator"), centre.headers("operator", "operator2")
    assert hand(centre, alarm_id, op1, to="operator2", reason="relève").status_code == 200
    # Another's note (the one who handed it, a supervisor's) does not answer for him.
    assert centre.client.post(
        f"/api/alarms/{alarm_id}/actions",
        json={"action": "note", "note": "elle a été prévenue"},
        headers=centre.headers("supervisor"),
    ).is_success
    assert handed_ids(centre, "operator2") == [alarm_id]
    called = centre.client.post(
        f"/api/alarms/{alarm_id}/actions", json={"action": "call_protected"}, headers=op2
    )
    assert called.status_code == 201, called.text
    assert handed_ids(centre, "operator2") == []
    with centre.db.session() as session:
        later = workflow.escalate_overdue(session, clock.now() + timedelta(hours=1), 60)
        assert alarm_id not in [a.id for a in later]
    assert locate(centre, alarm_id, "operator2") == 200


@pytest.mark.parametrize("status", ["open", "closed"])
def test_only_a_taken_alarm_is_handed_over(centre: Centre, status: str) -> None:
    alarm_id = raised_alert(centre) if status == "open" else taken_alert(centre)
    boss = centre.headers("supervisor")
    centre.headers("operator", "operator2")
    if status == "closed":
        closing = {"qualification": "breach"}
        where = f"/api/alarms/{alarm_id}/close"
        assert centre.client.post(
            where, json=closing, headers=centre.headers("operator")
        ).is_success
    refused = hand(centre, alarm_id, boss, to="operator2", reason="relève")
    assert refused.status_code == 409, refused.text
    assert "only a taken alarm is handed over" in refused.json()["message"]


def test_the_migration_gives_an_alarm_taken_again_its_first_taker_back(
    centre: Centre, database_url: str
) -> None:
    """Before 0043 a take again moved `acknowledged_by` to whoever answered (the report then
    said that operator took the alarm first); down to 0042 puts the store as that code left
    it, up again finds the first taker in the audit log and keeps the holder."""
    world = equip(centre)
    alarm_id = world.new_alarm("acknowledged", "alert", bar=True)
    other = world.new_alarm("in_progress")
    centre.headers("operator", "operator2")
    with centre.db.session() as session:
        first, second = (
            session.scalars(select(User.id).where(User.username == name)).one()
            for name in ("operator1", "operator2")
        )
        alarm = session.get_one(Alarm, alarm_id)
        alarm.held_by = second  # taken again by operator2, as `returned.retake` does
        session.add(
            AlarmAction(
                alarm_id=alarm_id, at=clock.now(), user_id=second, action="acknowledge_again"
            )
        )
    centre.db.dispose()
    command.downgrade(alembic_config(database_url), "0042")
    with centre.db.session() as session:
        rows = dict(session.execute(text("SELECT id, acknowledged_by FROM alarms")).all())
    assert rows[alarm_id] == second  # as the code before 0043 left it
    upgrade(database_url)
    with centre.db.session() as session:
        again = session.get_one(Alarm, alarm_id)
        assert (again.acknowledged_by, again.held_by) == (first, second)
        once = session.get_one(Alarm, other)  # taken once: the recovery leaves it
        assert (once.acknowledged_by, once.held_by) == (first, first)


def test_a_case_export_takes_every_reason_an_alarm_was_released() -> None:
    """An export carries `raised_again_why`: its schema must take each one (a release whose
    reason it lacked would make the whole case's export fail its own check)."""
    schema = json.loads((files("vigie.export") / "schemas" / "alarm.schema.json").read_text())
    assert set(schema["properties"]["raised_again_why"]["enum"]) == {*holder_gone.WHY, None}


def test_hostile_calls_to_the_take_over_and_the_handed_list(centre: Centre) -> None:
    """Wrong types, ids out of range or of no alarm, a body where none is taken, a flag that is
    no boolean, no token: each a clear refusal, nothing logged on the alarm."""
    alarm_id = taken_alert(centre)
    op1, op2 = centre.headers("operator"), centre.headers("operator", "operator2")
    assert hand(centre, alarm_id, op1, to="operator2", reason="relève").status_code == 200
    for bad in ("abc", "-1", "0", str(2**63), "1.5", "%00"):
        refused = centre.client.post(f"/api/alarms/{bad}/take-over", headers=op2)
        assert refused.status_code in (404, 422), (bad, refused.text)
    assert centre.client.post("/api/alarms/999999/take-over", headers=op2).status_code == 404
    assert centre.client.post(f"/api/alarms/{alarm_id}/take-over").status_code == 401
    listed = centre.client.get("/api/alarms?handed_to_me=perhaps", headers=op2)
    assert listed.status_code == 422 and listed.json()["field"] == "handed_to_me"
    # A body is not read: the take-over is his, whatever it says of another holder.
    body = {"user": "operator1", "x": "y" * 10_000}
    taken = centre.client.post(f"/api/alarms/{alarm_id}/take-over", json=body, headers=op2)
    assert taken.status_code == 200, taken.text
    with centre.db.session() as session:
        actions = session.scalars(
            select(AlarmAction.action).where(AlarmAction.alarm_id == alarm_id)
        ).all()
        assert actions.count("take_over") == 1

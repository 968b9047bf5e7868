"""A taken alarm handed to another operator (vigie.alarms.handing): its holder, or a supervisor
for a holder gone, gives it to an operator on duty; her position goes with it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, text

from tests.api.test_protected_privacy import HER, offset
from tests.api.test_sos import fix, pipeline, post, queue
from tests.api.world import equip
from tests.conftest import Centre
from vigie import clock
from vigie.store.models import Alarm, AlarmAction, AuditEntry, User
from vigie.store.schema import alembic_config, upgrade


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

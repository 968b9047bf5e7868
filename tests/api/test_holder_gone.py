"""A taken alarm whose holder has gone comes back to the queue (vigie.alarms.holder_gone): he
logged out, his account was disabled, or his console fell silent while another was heard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import select, text

from tests.api.test_hand_over import locate, taken_alert
from tests.api.world import equip
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import holder_gone, workflow
from vigie.store.models import Alarm, AlarmAction, AuditEntry, User
from vigie.store.schema import alembic_config, upgrade

LONG = 10**6  # an escalation delay no test reaches: the sweep alone acts


def user_id(centre: Centre, username: str) -> int:
    with centre.db.session() as session:
        return int(session.scalars(select(User.id).where(User.username == username)).one())


def to_take(centre: Centre) -> dict[int, dict[str, object]]:
    answer = centre.client.get(
        "/api/alarms?to_take=true", headers=centre.headers("operator", "operator2")
    )
    assert answer.status_code == 200, answer.text
    return {a["id"]: a for a in answer.json()}


def seen(centre: Centre, **ago: timedelta | None) -> None:
    """Each named user's console last heard that long ago (None: never opened one)."""
    now = clock.now()
    with centre.db.session() as session:
        for name, delay in ago.items():
            user = session.scalars(select(User).where(User.username == name)).one()
            user.console_seen_at = None if delay is None else now - delay


def released_entry(centre: Centre) -> AuditEntry:
    """The one audit entry of a release."""
    with centre.db.session() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == "holder_gone")).one()


def test_a_holder_who_logs_out_leaves_his_alarm_to_whoever_is_on_duty(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    op1, op2 = centre.headers("operator"), centre.headers("operator", "operator2")
    assert alarm_id not in to_take(centre)

    assert centre.client.post("/api/auth/logout", headers=op1).status_code == 204
    back = to_take(centre)[alarm_id]
    assert back["raised_again_why"] == "holder_logged_out"
    assert back["holder"] is None and back["status"] == "acknowledged"
    assert not back["holding"]
    assert locate(centre, alarm_id, "operator2") == 403  # nobody's until taken
    with centre.db.session() as session:
        logged = session.scalars(
            select(AlarmAction).where(AlarmAction.action == "holder_logged_out")
        ).one()
        assert (logged.user_id, logged.to_user_id) == (None, user_id(centre, "operator1"))
    audited = released_entry(centre)
    assert (audited.actor, audited.target) == ("operator1", f"alarm:{alarm_id}")
    assert audited.detail == {"holder": "operator1", "why": "holder_logged_out"}

    # operator1 back with a new token: no longer hers to locate, for him either.
    again = centre.client.post(
        "/api/auth/token", json={"username": "operator1", "password": "correct horse battery"}
    ).json()["access_token"]
    where = f"/api/alarms/{alarm_id}/protected-position"
    assert centre.client.get(where, headers={"Authorization": f"Bearer {again}"}).status_code == 403

    taken = centre.client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=op2)
    assert taken.status_code == 200, taken.text
    body = taken.json()
    assert body["holding"] and not body["to_take"] and body["raised_again_why"] is None
    assert locate(centre, alarm_id, "operator2") == 200
    closed = centre.client.post(
        f"/api/alarms/{alarm_id}/close", json={"qualification": "breach"}, headers=op2
    )
    assert closed.status_code == 200, closed.text
    report = centre.client.get(f"/api/alarms/{alarm_id}/report.html", headers=op2).text
    assert "operator1 prend l&#39;alarme en compte." in report
    assert (
        "operator1 s&#39;est déconnecté sans confier l&#39;alarme : elle est remise en attente "
        "d&#39;un opérateur." in report
    )
    assert "operator2 : Prise en charge de l&#39;alarme laissée par son opérateur." in report


def test_another_operators_logout_leaves_the_alarm_to_its_holder(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    other = centre.client.post("/api/auth/logout", headers=centre.headers("operator", "operator3"))
    assert other.status_code == 204
    assert alarm_id not in to_take(centre)
    with centre.db.session() as session:
        assert session.get_one(Alarm, alarm_id).held_by == user_id(centre, "operator1")
        gone = select(AuditEntry).where(AuditEntry.action == "holder_gone")
        assert session.scalars(gone).all() == []


def test_a_disabled_holders_alarm_comes_back_at_once(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    holder = user_id(centre, "operator1")
    done = centre.client.post(f"/api/users/{holder}/disable", headers=centre.headers("admin"))
    assert done.status_code == 200, done.text
    back = to_take(centre)[alarm_id]
    assert back["raised_again_why"] == "holder_disabled" and back["holder"] is None
    audited = released_entry(centre)
    assert audited.actor == "admin1" and audited.detail["why"] == "holder_disabled"


def test_an_account_disabled_another_way_is_found_by_the_sweep(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    with centre.db.session() as session:
        session.scalars(select(User).where(User.username == "operator1")).one().active = False
        released = workflow.escalate_overdue(session, clock.now(), LONG)
    assert [a.id for a in released] == [alarm_id]
    assert to_take(centre)[alarm_id]["raised_again_why"] == "holder_disabled"


@pytest.mark.parametrize(
    ("holder_ago", "other_ago", "released"),
    [
        (timedelta(minutes=6), timedelta(seconds=30), True),  # his console silent, another heard
        (timedelta(minutes=4), timedelta(seconds=30), False),  # not silent long enough
        (timedelta(minutes=6), timedelta(minutes=10), False),  # nobody heard: unreachable
        (None, timedelta(seconds=30), False),  # never opened a console (a program on the API)
    ],
)
def test_a_holder_whose_console_fell_silent_has_gone(
    centre: Centre,
    holder_ago: timedelta | None,
    other_ago: timedelta,
    released: bool,
) -> None:
    alarm_id = taken_alert(centre)
    centre.headers("supervisor")
    seen(centre, operator1=holder_ago, supervisor1=other_ago)
    with centre.db.session() as session:
        found = workflow.escalate_overdue(session, clock.now(), LONG)
    assert [a.id for a in found] == ([alarm_id] if released else [])
    back = to_take(centre)
    assert (alarm_id in back) is released
    if released:
        assert back[alarm_id]["raised_again_why"] == "holder_absent"
        audited = released_entry(centre)
        assert audited.actor == "system" and audited.detail["why"] == "holder_absent"


def test_a_released_alarm_nobody_takes_is_the_supervisors(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    holder = user_id(centre, "operator1")
    disabled = centre.client.post(f"/api/users/{holder}/disable", headers=centre.headers("admin"))
    assert disabled.is_success
    later = clock.now() + timedelta(hours=1)
    with centre.db.session() as session:
        flagged = workflow.escalate_overdue(session, later, 60)
    assert alarm_id in [a.id for a in flagged]  # (with the pre-alert left open beside it)
    sup = centre.headers("supervisor")
    escalated = centre.client.get("/api/alarms?escalated=true", headers=sup).json()
    assert alarm_id in [a["id"] for a in escalated]
    op2 = centre.headers("operator", "operator2")
    assert centre.client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=op2).is_success
    closing = {"qualification": "breach"}
    assert centre.client.post(f"/api/alarms/{alarm_id}/close", json=closing, headers=op2).is_success
    report = centre.client.get(f"/api/alarms/{alarm_id}/report.html", headers=sup).text
    assert "Le compte de operator1 est désactivé : elle est remise en attente" in report
    assert (
        "Faute de prise en charge de l&#39;alarme laissée par son opérateur, le superviseur est "
        "alerté." in report
    )


def test_a_return_of_its_situation_keeps_its_time_and_reason_when_released(
    centre: Centre,
) -> None:
    world = equip(centre)
    alarm_id = world.new_alarm("acknowledged", "alert", bar=True)
    world.end_alarm(alarm_id, "fix")
    world.raise_again(alarm_id)
    with centre.db.session() as session:
        came_back = session.get_one(Alarm, alarm_id).raised_again_at
        assert came_back is not None
        released = holder_gone.release(
            session, user_id(centre, "operator1"), holder_gone.LOGGED_OUT, "operator1", clock.now()
        )
        assert [a.id for a in released] == [alarm_id]
    with centre.db.session() as session:
        alarm = session.get_one(Alarm, alarm_id)
        assert alarm.held_by is None and alarm.raised_again_why is None
        assert alarm.raised_again_at == came_back


def test_an_open_console_says_so(centre: Centre) -> None:
    headers = centre.headers("operator")
    with centre.client.stream("GET", "/api/console/stream", headers=headers) as stream:
        assert next(stream.iter_lines()) == "event: changed"
        with centre.db.session() as session:
            user = session.scalars(select(User).where(User.username == "operator1")).one()
            assert user.console_seen_at is not None
            assert abs((user.console_seen_at - clock.now()).total_seconds()) < 60
        assert centre.client.post("/api/auth/logout", headers=headers).status_code == 204


def test_the_migration_adds_and_removes_its_columns(centre: Centre, database_url: str) -> None:
    alarm_id = taken_alert(centre)
    assert centre.client.post("/api/auth/logout", headers=centre.headers("operator")).is_success
    centre.db.dispose()
    command.downgrade(alembic_config(database_url), "0043")
    with centre.db.session() as session:
        (held, back) = session.execute(
            text("SELECT held_by, raised_again_at FROM alarms WHERE id = :id"), {"id": alarm_id}
        ).one()
        assert held is None and back is not None  # still to take, under the older code
    upgrade(database_url)
    with centre.db.session() as session:
        alarm = session.get_one(Alarm, alarm_id)
        assert alarm.raised_again_why is None  # its reason went with the column


def test_the_hand_over_list_says_whose_console_is_open(centre: Centre) -> None:
    alarm_id = taken_alert(centre)
    op1 = centre.headers("operator")
    for name in ("operator2", "operator3", "operator4"):
        centre.headers("operator", name)
    seen(centre, operator2=timedelta(seconds=20), operator3=timedelta(minutes=6), operator4=None)
    offered = centre.client.get(f"/api/alarms/{alarm_id}/hand-over", headers=op1)
    assert offered.status_code == 200, offered.text
    assert {o["username"]: o["online"] for o in offered.json()} == {
        "operator2": True,
        "operator3": False,  # silent past ABSENT_AFTER: gone
        "operator4": False,  # never opened a console
    }

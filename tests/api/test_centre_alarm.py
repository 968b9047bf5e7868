"""The API with the centre's own alarm (a detection partition unwatched): in the queue and its
filters for the centre's staff, nobody else's; its page says there is no case; closing it makes
no incident report for a judge, and the report endpoints say why."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.alarms import blindness
from vigie.alarms.obligations import CENTRE_REF
from vigie.store.models import OutboxMessage, Report


def _raise(centre: Centre, partition: int = 5) -> int:
    with centre.db.session() as session:
        blindness.sync(session, {partition: clock.now()}, set(), clock.now(), 120.0)
    operator = centre.headers("operator")
    (alarm,) = centre.client.get("/api/alarms?kind=unwatched", headers=operator).json()
    return int(alarm["id"])


def test_the_queue_puts_it_first_with_the_bar_alerts_and_only_for_the_centre(
    centre: Centre,
) -> None:
    world = build(centre)
    tamper = world.new_alarm("open", kind="tamper")
    alarm_id = _raise(centre)
    operator = centre.headers("operator")

    queue = centre.client.get("/api/alarms", headers=operator)
    assert queue.status_code == 200
    rows = queue.json()
    assert [r["id"] for r in rows][:1] == [alarm_id] and tamper in [r["id"] for r in rows]
    top = rows[0]
    assert (top["kind"], top["case"], top["centre"], top["priority"]) == (
        "unwatched",
        CENTRE_REF,
        True,
        1,
    )
    assert (top["wearer"], top["measure"], top["placement_id"]) == (None, None, None)
    assert top["detail"] == {"partition": 5, "cases": 0, "devices": 0}
    assert top["qualifications"] == ["technical_fault", "false_alarm"]
    assert not any(r["centre"] for r in rows if r["id"] != alarm_id)
    by_case = centre.client.get(f"/api/alarms?case={CENTRE_REF}", headers=operator).json()
    assert [r["id"] for r in by_case] == [alarm_id]
    # Not a case of theirs: a SPIP officer or a judge neither lists nor reads it.
    for role in ("spip", "judge"):
        headers = centre.headers(role)
        assert alarm_id not in [
            r["id"] for r in centre.client.get("/api/alarms", headers=headers).json()
        ]
        assert centre.client.get(f"/api/alarms/{alarm_id}", headers=headers).status_code == 404


def test_its_page_has_no_case_and_closing_makes_no_report(centre: Centre) -> None:
    build(centre)
    alarm_id = _raise(centre)
    operator = centre.headers("operator")
    context = centre.client.get(f"/api/console/alarms/{alarm_id}/context", headers=operator)
    assert context.status_code == 200
    assert context.json()["placement"] is None and "alarme du centre" in context.json()["article"]
    contacts = centre.client.get(f"/api/alarms/{alarm_id}/contacts", headers=operator).json()
    assert (contacts["wearer"], contacts["judge"], contacts["protected"]) == (None, None, None)

    assert centre.client.post(f"/api/alarms/{alarm_id}/acknowledge", headers=operator).is_success
    call = centre.client.post(
        f"/api/alarms/{alarm_id}/actions", json={"action": "call_wearer"}, headers=operator
    )
    assert call.status_code == 409 and "only note" in call.json()["message"]
    note = centre.client.post(
        f"/api/alarms/{alarm_id}/actions",
        json={"action": "note", "note": "worker-b restarted"},
        headers=operator,
    )
    assert note.status_code == 201
    preview = centre.client.post(
        f"/api/alarms/{alarm_id}/report/preview",
        json={"qualification": "technical_fault"},
        headers=operator,
    )
    assert preview.status_code == 409 and "no incident report" in preview.json()["message"]
    breach = centre.client.post(
        f"/api/alarms/{alarm_id}/close", json={"qualification": "breach"}, headers=operator
    )
    assert breach.status_code == 422 and "aucune personne" in breach.json()["message"]

    closed = centre.client.post(
        f"/api/alarms/{alarm_id}/close",
        json={"qualification": "technical_fault", "note": "worker-b restarted"},
        headers=operator,
    )
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["status"], body["report_id"], body["report_recipients"]) == ("closed", None, [])
    with centre.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    download = centre.client.get(f"/api/alarms/{alarm_id}/report.pdf", headers=operator)
    assert download.status_code == 404 and "no incident report" in download.json()["message"]

"""The incident report previewed before closing: what closing would produce, and nothing written."""

from sqlalchemy import func, select

from tests.api.world import build
from tests.conftest import Centre
from vigie.store.models import Alarm, OutboxMessage, Report


def test_preview_shows_the_proposed_closing_and_writes_nothing(centre: Centre) -> None:
    world = build(centre)
    alarm_id = world.new_alarm("in_progress")
    operator = centre.headers("operator")
    body = {"qualification": "technical_fault", "note": "bracelet battery swollen"}

    response = centre.client.post(
        f"/api/alarms/{alarm_id}/report/preview", json=body, headers=operator
    )

    assert response.status_code == 200, response.text
    html = response.text
    assert "PROJET" in html and "bracelet battery swollen" in html
    assert "<strong>incident technique</strong>" in html
    with centre.db.session() as session:
        alarm = session.get_one(Alarm, alarm_id)
        assert (alarm.status, alarm.qualification, alarm.closed_at) == ("in_progress", None, None)
        assert session.scalar(select(func.count()).select_from(Report)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_preview_refuses_a_closed_alarm_and_a_bad_qualification(centre: Centre) -> None:
    world = build(centre)
    operator = centre.headers("operator")
    closed = world.new_alarm("closed")
    refused = centre.client.post(
        f"/api/alarms/{closed}/report/preview", json={"qualification": "breach"}, headers=operator
    )
    assert refused.status_code == 409 and "download its report" in refused.json()["message"]
    live = world.new_alarm("in_progress")
    bad = centre.client.post(
        f"/api/alarms/{live}/report/preview", json={"qualification": "maybe"}, headers=operator
    )
    assert bad.status_code == 422 and bad.json()["field"].endswith("qualification")

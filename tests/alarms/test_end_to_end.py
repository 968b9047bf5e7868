"""End to end, through the API with the live pipeline running: an observation is posted, the
alarm appears, an operator works and closes it, and the report lands in a real SMTP mailbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.world import build
from tests.conftest import Centre, Mailbox
from vigie import clock
from vigie.api import create_app
from vigie.settings import Settings
from vigie.store import Database


def eventually(probe: Callable[[], Any], timeout_s: float = 20) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s} s")


def test_observation_to_alarm_to_report_by_mail(
    db: Database, database_url: str, smtp_server: tuple[str, int, Mailbox]
) -> None:
    host, port, mailbox = smtp_server
    config = Settings(
        database_url=database_url, tick_s=0.05, smtp_host=host, smtp_port=port, run_pipeline=True
    )
    with TestClient(create_app(config)) as client:
        centre = Centre(client, db)
        world = build(centre)
        zone_id = world.new_zone()  # an exclusion square around (45.0, 5.0) on case C1
        operator = centre.headers("operator")
        now = clock.now().isoformat().replace("+00:00", "Z")
        fix = {
            "device": "B1",
            "t": now,
            "type": "position",
            "lat": 45.0,
            "lon": 5.0,
            "accuracy_m": 5,
        }
        feed = centre.headers("integration")
        posted = client.post("/api/observations", json={"observations": [fix]}, headers=feed)
        assert posted.status_code == 200 and posted.json()["accepted"] == 1

        def zone_alarm() -> dict[str, Any] | None:
            listed = client.get("/api/alarms", params={"kind": "zone_entry"}, headers=operator)
            return next(iter(listed.json()), None)

        alarm = eventually(zone_alarm)
        assert (alarm["case"], alarm["status"], alarm["detail"]["zone"]) == ("C1", "open", zone_id)
        assert (
            client.post(f"/api/alarms/{alarm['id']}/acknowledge", headers=operator).status_code
            == 200
        )
        action = client.post(
            f"/api/alarms/{alarm['id']}/actions",
            json={"action": "police_alerted", "note": "patrouille envoyée"},
            headers=operator,
        )
        assert action.json()["status"] == "in_progress"
        closed = client.post(
            f"/api/alarms/{alarm['id']}/close",
            json={"qualification": "breach", "note": "présent dans la zone"},
            headers=operator,
        ).json()
        assert closed["status"] == "closed" and len(closed["report_recipients"]) == 3

        eventually(lambda: len(mailbox.messages) == 3)
        assert all("dossier C1" in m["Subject"] for m in mailbox.messages)
        html = next(
            part.get_content()
            for part in mailbox.messages[0].iter_attachments()
            if part.get_content_type() == "text/html"
        )
        assert "patrouille envoyée" in html and "la zone d&#39;exclusion" in html
        pdf = client.get(f"/api/alarms/{alarm['id']}/report.pdf", headers=operator)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_breach_going_on_after_its_close_comes_back(db: Database, database_url: str) -> None:
    """Through the API with the live pipeline: closed with the wearer still in the zone, the
    alarm is raised again once its delay has passed (vigie.alarms.ongoing)."""
    config = Settings(
        database_url=database_url,
        tick_s=0.05,
        run_pipeline=True,
        ongoing_remind_s=60,
        escalation_factors={2: 0.02},  # a zone entry comes back 1.2 s after its close
    )
    with TestClient(create_app(config)) as client:
        centre = Centre(client, db)
        build(centre).new_zone()  # an exclusion square around (45.0, 5.0) on case C1
        operator, feed = centre.headers("operator"), centre.headers("integration")

        def inside() -> None:
            fix = {"device": "B1", "t": clock.now().isoformat().replace("+00:00", "Z")}
            fix |= {"type": "position", "lat": 45.0, "lon": 5.0, "accuracy_m": 5}
            posted = client.post("/api/observations", json={"observations": [fix]}, headers=feed)
            assert posted.json()["accepted"] == 1

        def entries() -> list[dict[str, Any]]:
            every = {"kind": "zone_entry", "status": ["open", "acknowledged", "closed"]}
            return list(client.get("/api/alarms", params=every, headers=operator).json())

        inside()
        (first,) = eventually(entries)
        assert first["ongoing"]
        client.post(f"/api/alarms/{first['id']}/acknowledge", headers=operator)
        closed = client.post(
            f"/api/alarms/{first['id']}/close", json={"qualification": "breach"}, headers=operator
        ).json()
        assert closed["status"] == "closed" and closed["ongoing"]

        def again() -> dict[str, Any] | None:
            inside()  # he stays
            return next((a for a in entries() if a["id"] != first["id"]), None)

        back = eventually(again)
        assert back["status"] == "open" and back["detail"]["closed_alarm"] == first["id"]
        assert not client.get(f"/api/alarms/{first['id']}", headers=operator).json()["ongoing"]

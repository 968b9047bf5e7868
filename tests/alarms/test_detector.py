"""Detection in its own process: it finds alarms, reports its health, and is restarted when it
dies, resuming from the stored snapshot."""

from __future__ import annotations

import os
import signal
from typing import Any

from fastapi.testclient import TestClient

from tests.alarms.test_end_to_end import eventually
from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.api import create_app
from vigie.settings import Settings
from vigie.store import Database


def fix_in_zone(device: str = "B1") -> dict[str, Any]:
    now = clock.now().isoformat().replace("+00:00", "Z")
    return {
        "device": device,
        "t": now,
        "type": "position",
        "lat": 45.0,
        "lon": 5.0,
        "accuracy_m": 5,
    }


def test_a_killed_detector_is_restarted_and_resumes(db: Database, database_url: str) -> None:
    config = Settings(
        database_url=database_url, tick_s=0.05, run_pipeline=True, pipeline_process=True
    )
    with TestClient(create_app(config)) as client:
        detector = client.app.state.pipeline  # type: ignore[attr-defined]
        eventually(lambda: client.get("/api/health").status_code == 200)
        first = detector.pid
        assert first is not None and first != os.getpid()
        centre = Centre(client, db)
        build(centre).new_zone()  # an exclusion square around (45.0, 5.0) on case C1
        operator = centre.headers("operator")

        os.kill(first, signal.SIGKILL)
        down = eventually(lambda: (r := client.get("/api/health")).status_code == 503 and r)
        assert "detection process exited" in down.json()["pipeline"]["last_error"]
        eventually(lambda: client.get("/api/health").status_code == 200)
        assert detector.pid not in (None, first)

        posted = client.post(
            "/api/observations",
            json={"observations": [fix_in_zone()]},
            headers=centre.headers("integration"),
        )
        assert posted.status_code == 200

        def zone_alarm() -> list[dict[str, Any]]:
            listed = client.get("/api/alarms", params={"kind": "zone_entry"}, headers=operator)
            return list(listed.json())

        (alarm,) = eventually(zone_alarm)
        assert alarm["case"] == "C1"
    assert detector.health.warm  # its last report before it was asked to stop

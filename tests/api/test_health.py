"""GET /api/health: open without a token, no personal data, and honest about detection."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.alarms.test_end_to_end import eventually
from tests.api.world import build
from tests.conftest import Centre
from tests.documents import floats
from vigie import clock
from vigie.alarms.pipeline import Pipeline
from vigie.api import create_app
from vigie.settings import Settings
from vigie.store import Database, spans

FIELDS = {"status", "database", "unspanned", "pipeline"}
PIPELINE_FIELDS = {
    "warm",
    "cursor",
    "backlog",
    "last_step_at",
    "last_error",
    "blind_since",
    "quarantined",
    "standby",
}


def test_health_follows_the_pipeline_as_it_consumes(db: Database, database_url: str) -> None:
    config = Settings(database_url=database_url, tick_s=0.05, run_pipeline=True, span_every_s=0.2)
    with TestClient(create_app(config)) as client:
        ready = eventually(lambda: (r := client.get("/api/health")).status_code == 200 and r)
        body = ready.json()
        assert set(body) == FIELDS and set(body["pipeline"]) == PIPELINE_FIELDS
        assert body["status"] == "ok" and body["database"] == "ok"
        assert body["pipeline"]["warm"] and body["pipeline"]["last_error"] is None
        centre = Centre(client, db)
        build(centre)
        fix = {
            "device": "B1",
            "t": clock.now().isoformat().replace("+00:00", "Z"),
            "type": "position",
            "lat": 44.0,
            "lon": 4.0,
            "accuracy_m": 5,
        }
        posted = client.post(
            "/api/observations", json={"observations": [fix]}, headers=centre.headers("integration")
        ).json()

        def consumed() -> dict[str, int] | None:
            state = client.get("/api/health").json()["pipeline"]
            return state if state["cursor"] >= posted["ids"][0] else None

        state = eventually(consumed)
        assert state["backlog"] == 0
        # The API's compaction spans it (`vigie.store.spans`): nothing left for reads to scan.
        eventually(lambda: client.get("/api/health").json()["unspanned"] == 0)
        with db.reading() as session:
            assert spans.watermark(session) >= posted["ids"][0]
        assert 44.0 not in floats(client.get("/api/health").json())  # no position, ever


def test_health_without_detection_in_this_process(centre: Centre) -> None:
    response = centre.client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "unspanned": 0, "pipeline": None}


def test_a_failing_pipeline_is_reported_as_such(db: Database, database_url: str) -> None:
    config = Settings(database_url=database_url, tick_s=0.05, run_pipeline=True)
    with TestClient(create_app(config)) as client:
        eventually(lambda: client.get("/api/health").status_code == 200)
        with db.session() as session:  # the engine's saved state gone: every step now fails
            session.execute(text("DROP TABLE engine_state"))
        client.post(
            "/api/observations",
            json={
                "observations": [
                    {"device": "X", "t": clock.now().isoformat(), "type": "battery", "level": 0.5}
                ]
            },
            headers=Centre(client, db).headers("integration"),
        )
        failing = eventually(lambda: (r := client.get("/api/health")).status_code == 503 and r)
        body = failing.json()
        assert body["status"] == "failing" and body["database"] == "ok"
        assert body["pipeline"]["last_error"] and not body["pipeline"]["warm"]
        assert body["pipeline"]["blind_since"] is not None  # the console's banner says since when


def test_a_database_that_cannot_answer_is_reported(db: Database, database_url: str) -> None:
    config = Settings(database_url=database_url, run_pipeline=False)
    with TestClient(create_app(config)) as client:
        with db.session() as session:
            session.execute(text("ALTER TABLE observations RENAME TO observations_away"))
        response = client.get("/api/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "failing",
        "database": "failing",
        "unspanned": None,
        "pipeline": None,
    }


class Stopped:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def test_a_detector_that_stops_stepping_while_observations_wait_is_blind(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = Stopped(clock.now())
    monkeypatch.setattr(clock, "now", at)
    pipeline = Pipeline(centre.db, Settings(), at)
    centre.client.app.state.pipeline = pipeline  # type: ignore[attr-defined]
    pipeline.step()
    assert centre.client.get("/api/health").status_code == 200
    battery = {"device": "X", "t": at.now.isoformat(), "type": "battery", "level": 0.5}
    posted = centre.client.post(
        "/api/observations", json={"observations": [battery]}, headers=centre.headers("integration")
    )
    assert posted.is_success
    at.now += timedelta(seconds=29)  # under VIGIE_BLIND_AFTER_S (30): a step may be under way
    assert centre.client.get("/api/health").status_code == 200
    last_step = pipeline.health.last_step_at
    at.now += timedelta(seconds=2)
    stalled = centre.client.get("/api/health")
    assert stalled.status_code == 503
    body = stalled.json()
    assert body["status"] == "stalled" and body["pipeline"]["backlog"] == 1
    assert last_step is not None
    assert datetime.fromisoformat(body["pipeline"]["blind_since"]) == last_step
    pipeline.step()
    assert centre.client.get("/api/health").status_code == 200


def test_a_detector_that_does_not_even_tick_is_blind(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = Stopped(clock.now())
    monkeypatch.setattr(clock, "now", at)
    pipeline = Pipeline(centre.db, Settings(), at)
    centre.client.app.state.pipeline = pipeline  # type: ignore[attr-defined]
    pipeline.step()
    at.now += timedelta(seconds=59)  # nothing waits: only the engine's clock is late
    assert centre.client.get("/api/health").status_code == 200
    at.now += timedelta(seconds=2)
    assert centre.client.get("/api/health").json()["status"] == "stalled"

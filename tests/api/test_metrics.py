"""GET /metrics: the centre's state in Prometheus's text format, for the scraper holding its
token only, and never a case, a person, a device or a place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy import select, update

from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.api import create_app
from vigie.settings import Settings
from vigie.store import audit
from vigie.store.models import Alarm, AuditEntry, OutboxMessage

TOKEN = "a-scraper-token-of-at-least-32-characters"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def centre_settings(database_url: str) -> Any:
    return Settings(database_url=database_url, run_pipeline=False, metrics_token=TOKEN)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Each sample by name and labels, as Prometheus reads the page."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_what_waits_and_nothing_that_names_anyone(centre: Centre) -> None:
    world = build(centre)
    waiting = world.new_alarm("open", kind="absence")
    world.new_alarm("open", kind="absence")
    world.new_alarm("acknowledged", kind="strap")
    bar = world.new_alarm("open", kind="bar_alert", bar=True)
    world.new_alarm("closed", kind="absence")  # closed: not counted; its reports queued
    now = clock.now()
    with centre.db.session() as session:
        session.execute(
            update(Alarm).where(Alarm.id == waiting).values(opened_at=now - timedelta(seconds=90))
        )
        session.execute(update(Alarm).where(Alarm.id == bar).values(escalated_at=now))
        first = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        assert first is not None
        first.attempts = 8  # VIGIE_OUTBOX_MAX_ATTEMPTS: the outbox gave it up

    answer = centre.client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    got = samples(answer.text)
    assert got[("vigie_status", (("status", "ok"),))] == 1
    assert got[("vigie_status", (("status", "stalled"),))] == 0
    assert got[("vigie_database_up", ())] == 1
    assert got[("vigie_detection_blind", ())] == 0
    assert got[("vigie_alarms", (("kind", "absence"), ("status", "open")))] == 2
    assert got[("vigie_alarms", (("kind", "strap"), ("status", "acknowledged")))] == 1
    assert got[("vigie_alarms", (("kind", "bar_alert"), ("status", "open")))] == 1
    assert ("vigie_alarms", (("kind", "absence"), ("status", "closed"))) not in got
    assert got[("vigie_alarms_escalated", ())] == 1
    assert 90 <= got[("vigie_alarm_oldest_unacknowledged_seconds", ())] < 150
    assert got[("vigie_outbox_undelivered", ())] == 1
    for named in (world.case_ref, world.bar_case_ref, "Durand", "MARTIN", "operator1", "X1"):
        assert named not in answer.text  # counts only: no case, person, user or device
    assert "48.85" not in answer.text  # nor her position


def test_metrics_need_the_token(centre: Centre, caplog: pytest.LogCaptureFixture) -> None:
    assert centre.client.get("/metrics").status_code == 401
    wrong = centre.client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 40})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "unauthorized" and "vigie_" not in wrong.text
    assert "refused a scrape" in caplog.text
    # An operator's own token is not the scraper's.
    assert centre.client.get("/metrics", headers=centre.headers("admin")).status_code == 401
    # Audited once a minute, the others counted in the next entry: a guesser is seen, and
    # cannot flood the chain.
    with centre.db.reading() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "metrics_refused")
        ).all()
        assert audit.verify(session)[1] is None
    assert [(e.actor, e.target, e.detail) for e in entries] == [
        (
            "metrics",
            "route:GET /metrics",
            {"client": "testclient", "token": "none", "refused_since_last_entry": 0},
        )
    ]


def test_metrics_are_off_without_a_token(database_url: str) -> None:
    config = Settings(database_url=database_url, run_pipeline=False)
    with TestClient(create_app(config)) as client:
        off = client.get("/metrics", headers=SCRAPER)
    assert off.status_code == 404
    assert "VIGIE_METRICS_TOKEN" in off.json()["message"]


def test_a_short_metrics_token_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(metrics_token="guessable")


@pytest.mark.parametrize(
    "table",
    [
        "observations",  # health's own read fails
        "alarms",  # health's read answered, the alarms' did not
    ],
)
def test_a_database_that_cannot_answer_is_a_metric_not_a_failed_scrape(
    centre: Centre, table: str
) -> None:
    """The scrape goes on when the database fails, saying so: the page is how ops learn it,
    not a 500 that drops every figure."""
    from sqlalchemy import text

    with centre.db.session() as session:
        session.execute(text(f"ALTER TABLE {table} RENAME TO {table}_away"))
    answer = centre.client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200
    got = samples(answer.text)
    assert got[("vigie_database_up", ())] == 0
    assert got[("vigie_status", (("status", "failing"),))] == 1
    assert not any(name.startswith("vigie_alarm") for name, _ in got)

"""What the night-shift console relies on: a token renewed before it expires (audited, refused
to a disabled account or a revoked token), and a BAR pre-alert that is never closed as a breach."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.api.world import World, build
from tests.conftest import Centre
from vigie import clock
from vigie.api.security import disable
from vigie.store.models import Alarm, AuditEntry, User


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    now = [clock.now()]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    yield now


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_refresh_gives_a_fresh_token_and_retires_the_old_one(
    world: World, frozen: list[datetime]
) -> None:
    client = world.centre.client
    old = world.centre.headers("operator")
    frozen[0] += timedelta(hours=7, minutes=55)  # five minutes before the 8 h expiry
    answer = client.post("/api/auth/refresh", headers=old)
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == "operator"
    new = bearer(answer.json()["access_token"])
    assert client.get("/api/alarms", headers=old).status_code == 401  # revoked by the renewal
    frozen[0] += timedelta(hours=1)  # past the old token's expiry, well within the new one's
    assert client.get("/api/alarms", headers=new).status_code == 200
    with world.centre.db.session() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == "operator1")
        ).all()
    assert "token_refreshed" in actions


def test_refresh_is_refused_to_an_expired_token_and_a_disabled_account(
    world: World, frozen: list[datetime]
) -> None:
    client = world.centre.client
    spip = world.centre.headers("spip")
    judge = world.centre.headers("judge")
    with world.centre.db.session() as session:
        disable(session.scalars(select(User).where(User.username == "judge1")).one())
    refused = client.post("/api/auth/refresh", headers=judge)
    assert refused.status_code == 401
    assert client.post("/api/auth/refresh").status_code == 401  # no token at all
    frozen[0] += timedelta(hours=8, seconds=1)
    expired = client.post("/api/auth/refresh", headers=spip)
    assert expired.status_code == 401
    assert "expired" in expired.json()["message"]


def test_a_bar_pre_alert_is_never_closed_as_a_breach(world: World) -> None:
    client = world.centre.client
    operator = world.centre.headers("operator")
    pre_alert = world.new_alarm("in_progress", kind="pre_alert", bar=True)
    shown = client.get(f"/api/alarms/{pre_alert}", headers=operator).json()
    assert shown["qualifications"] == ["technical_fault", "false_alarm", "authorised_absence"]
    for path in (f"/api/alarms/{pre_alert}/report/preview", f"/api/alarms/{pre_alert}/close"):
        refused = client.post(path, json={"qualification": "breach"}, headers=operator)
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert body["field"] == "qualification"
        assert "pré-alerte" in body["message"] and "R24-20" in body["message"]
    with world.centre.db.session() as session:
        assert session.get(Alarm, pre_alert).status == "in_progress"  # nothing was closed
    closed = client.post(
        f"/api/alarms/{pre_alert}/close", json={"qualification": "false_alarm"}, headers=operator
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["qualification"] == "false_alarm"


def test_a_bar_alert_may_still_be_closed_as_a_breach(world: World) -> None:
    client = world.centre.client
    operator = world.centre.headers("operator")
    alert = world.new_alarm("in_progress", kind="alert", bar=True)
    assert "breach" in client.get(f"/api/alarms/{alert}", headers=operator).json()["qualifications"]
    closed = client.post(
        f"/api/alarms/{alert}/close", json={"qualification": "breach"}, headers=operator
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["qualification"] == "breach"

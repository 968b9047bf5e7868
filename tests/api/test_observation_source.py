"""Who sent this: only integration accounts post observations, each row names its sender, each
batch is audited, and a sequence number reused with other content is kept as a conflict."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.api.world import build
from tests.conftest import Centre
from vigie import clock
from vigie.cases import device_secrets
from vigie.store.models import Alarm, AuditEntry, Device, Observation

# A fix of a few minutes ago by the centre's clock (a fixed date would fall past the horizon).
FIX = {
    "device": "B1",
    "seq": 9,
    "t": (clock.now() - timedelta(minutes=5)).isoformat(),
    "type": "position",
}


def post(centre: Centre, role: str, *observations: dict[str, Any], user: str | None = None) -> Any:
    return centre.client.post(
        "/api/observations",
        json={"observations": list(observations)},
        headers=centre.headers(role, user),
    )


def test_a_forged_fix_from_a_person_account_is_refused(centre: Centre) -> None:
    """The review's attack: an operator posting a fix for a registered bracelet. Refused (403)
    for every person's role, nothing stored, no alarm touched."""
    world = build(centre)
    alarm = world.new_alarm("acknowledged", "alert", bar=True)
    forged = FIX | {"lat": 45.0, "lon": 5.0, "accuracy_m": 5}
    for role in ("operator", "supervisor", "admin", "spip", "judge", "prosecutor"):
        answer = post(centre, role, forged)
        assert answer.status_code == 403, (role, answer.text)
        assert "integration" in answer.json()["message"]
    with centre.db.session() as session:
        assert session.scalars(select(Observation)).all() == []
        assert session.get(Alarm, alarm).status == "acknowledged"  # type: ignore[union-attr]


def test_every_row_records_the_integration_account_and_the_batch_is_audited(
    centre: Centre,
) -> None:
    fix = FIX | {"lat": 45.0, "lon": 5.0, "accuracy_m": 5}
    first = post(centre, "integration", fix, user="feed-a")
    second = post(centre, "integration", fix | {"seq": 10}, user="feed-b")
    assert first.status_code == second.status_code == 200, first.text
    with centre.db.session() as session:
        sources = session.scalars(select(Observation.source).order_by(Observation.id)).all()
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "post_observations")
        ).all()
    assert sources == ["api:feed-a", "api:feed-b"]
    assert [(e.actor, e.target) for e in entries] == [
        ("feed-a", "api:feed-a"),
        ("feed-b", "api:feed-b"),
    ]
    assert entries[0].detail["accepted"] == 1 and entries[0].detail["first_id"] is not None


def test_a_sequence_number_reused_with_other_content_is_kept_as_a_conflict(
    centre: Centre,
) -> None:
    """The forged fix reuses the genuine one's sequence number: stored and flagged (the receipt
    says so, the audit too), not counted as a duplicate; an identical resend is a duplicate."""
    genuine = FIX | {"lat": 45.0, "lon": 5.0, "accuracy_m": 5}
    forged = genuine | {"lat": 45.2}
    stored = post(centre, "integration", genuine).json()
    clash = post(centre, "integration", forged).json()
    resend = post(centre, "integration", genuine).json()
    assert (stored["accepted"], stored["conflicts"]) == (1, [])
    assert (clash["accepted"], clash["duplicates"], len(clash["conflicts"])) == (0, 0, 1)
    assert (resend["accepted"], resend["duplicates"], resend["conflicts"]) == (0, 1, [])
    with centre.db.session() as session:
        row = session.get(Observation, clash["conflicts"][0])
        audited = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "post_observations")
        ).all()
    assert row is not None and row.conflict_of == stored["ids"][0]
    assert row.record["lat"] == 45.2 and row.source == "api:integration1"
    assert audited[1]["conflicts"] == clash["conflicts"]


def test_a_device_secret_is_issued_by_the_api_once_and_stored_hashed(centre: Centre) -> None:
    admin = centre.headers("admin")
    assert (
        centre.client.post(
            "/api/devices", json={"id": "P7", "kind": "protected_device"}, headers=admin
        ).json()["has_secret"]
        is False
    )
    issued = centre.client.post("/api/devices/P7/secret", headers=admin)
    assert issued.status_code == 201, issued.text
    secret = issued.json()["secret"]
    listed = centre.client.get("/api/devices", headers=admin).json()
    assert listed == [
        {
            "id": "P7",
            "kind": "protected_device",
            "model": None,
            "has_secret": True,
            "uncertain_since": None,  # its position is not held uncertain (issue 20)
            "withdrawn": None,  # in service
            "assigned": None,  # on the shelf
        }
    ]
    with centre.db.session() as session:
        hashed = session.get_one(Device, "P7").secret_hash
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "issue_device_secret")
        ).one()
    assert hashed is not None and device_secrets.verify(secret, hashed) and secret not in hashed
    assert (entry.actor, entry.target) == ("admin1", "device:P7") and secret not in str(
        entry.detail
    )
    missing = centre.client.post("/api/devices/NOPE/secret", headers=admin)
    assert missing.status_code == 404

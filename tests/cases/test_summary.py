"""The measure's summary (bilan de la mesure), through the API on both databases: the order, its
end, the devices, the alarms counted by kind and qualification, each incident; for the case's
readers only, every read audited; nothing in it locates the protected person."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.api.world import World, build
from tests.conftest import Centre
from vigie.store.models import AuditEntry, Person


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)  # C1 (DDSE, B1 and H1), C2 (BAR) with her


def summary(world: World, placement: int, role: str = "judge", fmt: str = "html") -> Any:
    return world.centre.client.get(
        f"/api/placements/{placement}/summary.{fmt}", headers=world.centre.headers(role)
    )


def audited(world: World, action: str) -> list[AuditEntry]:
    with world.centre.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_the_summary_counts_the_alarms_and_says_how_the_measure_ended(world: World) -> None:
    closed = [world.new_alarm("closed"), world.new_alarm("closed", kind="tamper")]
    pending = world.new_alarm("open")
    answer = summary(world, world.placement)
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "Bilan de la mesure" in page and "C1" in page and "mesure en cours" in page
    assert "3 alarme(s) levée(s) par le centre sur ce dossier, dont 1 en cours" in page
    assert "absence du domicile aux heures fixées" in page
    assert "arrachement ou ouverture du dispositif" in page
    assert all(f"n° {i}" in page for i in [*closed, pending])
    assert "en cours de traitement" in page and "manquement" in page
    assert "B1" in page and "boîtier de domicile" in page
    (entry,) = audited(world, "read_summary")
    assert (entry.actor, entry.target) == ("judge1", f"placement:{world.placement}")

    ended = world.centre.client.post(
        f"/api/placements/{world.placement}/end",
        json={"reason": "revoked", "decision_ref": "JAP-2026-0311", "note": "retrait"},
        headers=world.centre.headers("supervisor"),
    )
    assert ended.status_code == 200, ended.text
    page = summary(world, world.placement, "spip").text
    assert "retrait ou révocation, décision JAP-2026-0311" in page
    assert "enregistrée par supervisor1" in page and "mesure en cours" not in page

    pdf = summary(world, world.placement, "prosecutor", "pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert 'filename="bilan-C1.pdf"' in pdf.headers["content-disposition"]


def test_a_bar_summary_never_locates_her(world: World) -> None:
    world.new_alarm("closed", kind="alert", bar=True)  # its events carry her position
    page = summary(world, world.bar_placement, "supervisor").text
    assert "alerte BAR" in page and "Personne protégée" in page
    with world.centre.db.session() as session:
        her = session.get_one(Person, world.victim)
        name = her.last_name
    for secret in ("48.85", "2.35", "45.0", "4.0", name, "protected_lat"):
        assert secret not in page, secret


def test_the_summary_is_for_the_cases_readers_and_a_refusal_is_audited(world: World) -> None:
    assert summary(world, world.placement, "admin").status_code == 403
    assert summary(world, world.placement, "integration").status_code == 403
    probe = summary(world, 987654)
    assert probe.status_code == 404
    (entry,) = audited(world, "read_summary_refused")
    assert entry.target == "placement:987654" and entry.actor == "judge1"
    assert summary(world, world.placement, fmt="docx").status_code == 422
    # Another court's judge: the case is not theirs, so it is not there, and the try is audited.
    other = world.centre.client.get(
        f"/api/placements/{world.placement}/summary.pdf",
        headers=world.centre.headers("judge", "judge9"),
    )
    assert other.status_code == 404
    assert [e.actor for e in audited(world, "read_summary_refused")] == ["judge1", "judge9"]

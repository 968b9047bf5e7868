"""The measure's summary goes to the judge, the prosecutor and the SPIP when the measure ends, on
both databases: owed with the end, made and queued by the outbox's pass, sent by real SMTP, kept
as a report; never lost by a failure, never queued twice, shown to supervisors when undelivered."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import select, update

from tests.api.world import World, build
from tests.conftest import Centre, Mailbox
from vigie import clock
from vigie.alarms import outbox, summaries_owed
from vigie.alarms import summary as summary_module
from vigie.ports import free_port
from vigie.settings import Settings
from vigie.store.models import AuditEntry, OutboxMessage, Placement, Report, SummaryOwed
from vigie.store.schema import alembic_config, upgrade

LIFTED = {"reason": "lifted", "decision_ref": "JAP-2026-0107", "note": "mainlevée à l'audience"}
SUBJECT = "[Vigie] Bilan de fin de mesure — dossier C1"


@pytest.fixture
def world(centre: Centre) -> World:
    return build(centre)  # C1 (DDSE), C2 (BAR)


@pytest.fixture
def centre_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, run_pipeline=False, outbox_max_attempts=2, outbox_retry_base_s=1
    )


def end(world: World, placement: int = 0) -> Any:
    answer = world.centre.client.post(
        f"/api/placements/{placement or world.placement}/end",
        json=LIFTED,
        headers=world.centre.headers("supervisor"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def summaries(world: World) -> list[Report]:
    with world.centre.db.session() as session:
        found = list(session.scalars(select(Report).where(Report.placement_id.is_not(None))))
        session.expunge_all()
        return found


def messages(world: World) -> list[OutboxMessage]:
    with world.centre.db.session() as session:
        found = list(
            session.scalars(
                select(OutboxMessage).where(OutboxMessage.subject == SUBJECT).order_by("id")
            )
        )
        session.expunge_all()
        return found


def audited(world: World, action: str) -> list[AuditEntry]:
    with world.centre.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def owed(world: World) -> list[int]:
    with world.centre.db.session() as session:
        return list(session.scalars(select(SummaryOwed.placement_id)))


def test_an_ended_measure_sends_its_summary_to_the_judge_the_prosecutor_and_the_spip(
    world: World, centre_settings: Settings, smtp_server: tuple[str, int, Mailbox]
) -> None:
    db = world.centre.db
    incident = world.new_alarm("closed")
    assert end(world)["summary_owed"] is True
    assert owed(world) == [world.placement]

    now = clock.now()
    assert summaries_owed.queue_owed(db, centre_settings, now) == 1
    assert summaries_owed.queue_owed(db, centre_settings, now) == 0  # settled: queued once
    assert owed(world) == []
    (report,) = summaries(world)
    assert (report.placement_id, report.alarm_id) == (world.placement, None)
    assert "Bilan de la mesure" in report.html and "JAP-2026-0107" in report.html
    assert f"n° {incident}" in report.html and report.pdf.startswith(b"%PDF")
    queued = messages(world)
    assert {m.recipient_role for m in queued} == {"judge", "prosecutor", "spip"}
    assert {m.report_id for m in queued} == {report.id}
    (entry,) = audited(world, "summary_queued")
    assert entry.target == f"placement:{world.placement}"
    assert entry.detail["report"] == report.id and entry.detail["case"] == "C1"

    host, port, mailbox = smtp_server
    up = Settings(**(centre_settings.model_dump() | {"smtp_host": host, "smtp_port": port}))
    assert outbox.deliver_due(db, up, now + timedelta(seconds=1)) == 6  # and the incident's 3
    sent = [m for m in mailbox.messages if m["Subject"] == SUBJECT]
    assert sorted(m["To"] for m in sent) == sorted(m.recipient for m in queued)
    for mail in sent:
        assert "le bilan de fin de mesure" in mail.get_body(("plain",)).get_content()
        names = [part.get_filename() for part in mail.iter_attachments()]
        assert names == ["bilan-C1.pdf", "bilan-C1.html"]
    assert all(m.sent_at is not None for m in messages(world))


def test_a_summary_that_fails_to_render_stays_owed_and_is_tried_again_later(
    world: World, centre_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = world.centre.db
    end(world)
    real = summary_module.render_pdf

    def broken(html: str) -> bytes:
        raise OSError("WeasyPrint: no fonts")

    monkeypatch.setattr(summary_module, "render_pdf", broken)
    now = clock.now()
    assert summaries_owed.queue_owed(db, centre_settings, now) == 0
    assert owed(world) == [world.placement] and summaries(world) == [] and messages(world) == []
    with db.session() as session:
        debt = session.get_one(SummaryOwed, world.placement)
        assert (debt.attempts, debt.last_error) == (1, "OSError: WeasyPrint: no fonts")
        assert debt.next_attempt_at == now + timedelta(seconds=1)  # the outbox's first delay
    assert summaries_owed.queue_owed(db, centre_settings, now) == 0  # not due: not tried
    assert audited(world, "summary_not_made") == []
    later = now + timedelta(seconds=1)
    assert summaries_owed.queue_owed(db, centre_settings, later) == 0  # the second failure
    (given_up,) = audited(world, "summary_not_made")  # as often as a delivery may fail
    assert given_up.detail == {"attempts": 2, "error": "OSError: WeasyPrint: no fonts"}
    assert owed(world) == [world.placement]  # still owed, never dropped
    shown = world.centre.client.get(
        "/api/console/supervision", headers=world.centre.headers("supervisor")
    )
    assert shown.status_code == 200, shown.text
    (item,) = shown.json()["summaries_not_made"]
    assert (item["placement_id"], item["case"], item["attempts"]) == (world.placement, "C1", 2)
    assert item["last_error"] == "OSError: WeasyPrint: no fonts"

    monkeypatch.setattr(summary_module, "render_pdf", real)
    assert summaries_owed.queue_owed(db, centre_settings, later + timedelta(seconds=2)) == 1
    assert owed(world) == [] and len(summaries(world)) == 1 and len(messages(world)) == 3
    shown = world.centre.client.get(
        "/api/console/supervision", headers=world.centre.headers("supervisor")
    )
    assert shown.json()["summaries_not_made"] == []


def test_two_passes_at_once_queue_a_summary_once(world: World, centre_settings: Settings) -> None:
    end(world)
    end(world, world.bar_placement)
    results: list[int] = []
    passes = [
        threading.Thread(
            target=lambda: results.append(
                summaries_owed.queue_owed(world.centre.db, centre_settings, clock.now())
            )
        )
        for _ in range(2)
    ]
    for thread in passes:
        thread.start()
    for thread in passes:
        thread.join()
    assert sum(results) == 2  # the two cases' summaries, each once
    assert sorted(r.placement_id for r in summaries(world)) == sorted(
        [world.placement, world.bar_placement]
    )
    assert len(messages(world)) == 3 and owed(world) == []


def test_an_imported_case_ended_here_owes_no_summary(
    world: World, centre_settings: Settings
) -> None:
    with world.centre.db.session() as session:
        session.execute(
            update(Placement).where(Placement.id == world.placement).values(status="imported")
        )
    assert end(world)["summary_owed"] is False
    assert owed(world) == []
    assert summaries_owed.queue_owed(world.centre.db, centre_settings, clock.now()) == 0


def test_an_undelivered_summary_is_shown_to_supervisors_and_can_be_resent(
    world: World, centre_settings: Settings
) -> None:
    centre, db = world.centre, world.centre.db
    end(world)
    now = clock.now()
    assert summaries_owed.queue_owed(db, centre_settings, now) == 1
    down = Settings(**(centre_settings.model_dump() | {"smtp_port": free_port()}))
    for attempt in range(3):  # two attempts, then nothing left to try
        assert outbox.deliver_due(db, down, now + timedelta(minutes=attempt)) == 0
    given_up = audited(world, "report_undelivered")
    assert len(given_up) == 3
    assert all(e.detail.get("placement") == world.placement for e in given_up)
    assert all("alarm" not in e.detail for e in given_up)

    listed = centre.client.get("/api/outbox/undelivered", headers=centre.headers("supervisor"))
    assert listed.status_code == 200, listed.text
    items = listed.json()
    assert {i["recipient_role"] for i in items} == {"judge", "prosecutor", "spip"}
    for item in items:
        assert (item["kind"], item["case"]) == ("summary", "C1")
        assert (item["placement_id"], item["alarm_id"]) == (world.placement, None)
    resent = centre.client.post(
        f"/api/outbox/{items[0]['id']}/resend", headers=centre.headers("supervisor")
    )
    assert resent.status_code == 200 and resent.json()["attempts"] == 0


def test_a_report_is_of_an_alarm_or_of_a_placement_never_both_nor_neither(world: World) -> None:
    from sqlalchemy.exc import IntegrityError

    alarm = world.new_alarm("open")
    for of in ({}, {"alarm_id": alarm, "placement_id": world.placement}):
        with pytest.raises(IntegrityError), world.centre.db.session() as session:
            session.add(Report(html="<p/>", pdf=b"%PDF", created_at=clock.now(), **of))


def test_the_migration_keeps_incident_reports_both_ways(
    world: World, centre_settings: Settings, database_url: str
) -> None:
    """Down to 0032 drops the summaries (an alarm's report only, then) and keeps the incident
    reports and their deliveries; up again, they are as they were."""
    incident = world.new_alarm("closed")
    end(world)
    assert summaries_owed.queue_owed(world.centre.db, centre_settings, clock.now()) == 1
    world.centre.db.dispose()
    command.downgrade(alembic_config(database_url), "0032")
    upgrade(database_url)
    with world.centre.db.session() as session:
        reports = [(r.alarm_id, r.placement_id) for r in session.scalars(select(Report))]
        left = {m.subject.split(" — ")[0] for m in session.scalars(select(OutboxMessage))}
    assert reports == [(incident, None)]
    assert left == {"[Vigie] Rapport d'incident"}
    assert owed(world) == []

"""Incident reports: rendered on close, PDF included, delivered by e-mail through the outbox."""

from datetime import UTC, datetime, timedelta

from tests.cases import factories as make
from tests.conftest import Mailbox
from vigie.alarms import episodes, outbox, report, workflow
from vigie.api.security import create_user
from vigie.cases import placements
from vigie.ports import free_port
from vigie.settings import Settings
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import OutboxMessage

T0 = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


def closed_alarm_with_report(db: Database) -> int:
    with db.session() as session:
        wearer, who = make.person(session), make.contacts(session)
        placements.create(session, make.placement_form(wearer, who, case_ref="C9"), "clerk")
        fix = {"kind": "obs", "device": "B9", "type": "position", "lat": 48.9, "lon": 2.4}
        log.append(
            session,
            [log.row_for(fix | {"accuracy_m": 8.0}, T0 + timedelta(minutes=1), T0, source="test")],
        )
        operator = create_user(session, "op", "op password 1", "operator", "Op")
        (alarm,) = episodes.fold(
            session,
            [
                {
                    "t": T0,
                    "case": "C9",
                    "kind": "absence",
                    "state": "raised",
                    "device": "B9",
                    "detail": {},
                }
            ],
            T0,
        )
        workflow.acknowledge(session, alarm, operator, T0 + timedelta(seconds=20))
        workflow.act(
            session, alarm, operator, "call_wearer", "no answer", T0 + timedelta(minutes=2)
        )
        workflow.close(session, alarm, operator, "breach", "not home", T0 + timedelta(minutes=5))
        made = report.produce(session, alarm, T0 + timedelta(minutes=5))
        outbox.enqueue(session, made, alarm)
        return alarm.id


def test_report_has_facts_timeline_positions_actions_and_article(db: Database) -> None:
    alarm_id = closed_alarm_with_report(db)
    with db.session() as session:
        from vigie.store.models import Report

        (made,) = session.query(Report).filter_by(alarm_id=alarm_id).all()
    assert made.pdf.startswith(b"%PDF")
    for expected in (
        "dossier C9",
        "être présent au domicile",
        "CP 131-4-1 / CPP 723-7",
        "CPP 723-7",  # from the law's decision for this case
        "Appel de la personne placée",
        "no answer",
        "48.90000",
        "manquement",
    ):
        assert expected in made.html, expected


def test_outbox_retries_until_the_smtp_server_answers(
    db: Database, smtp_server: tuple[str, int, Mailbox]
) -> None:
    host, port, mailbox = smtp_server
    closed_alarm_with_report(db)
    down = Settings(smtp_host="127.0.0.1", smtp_port=free_port(), outbox_retry_base_s=10)
    assert outbox.deliver_due(db, down, T0 + timedelta(minutes=6)) == 0
    with db.session() as session:
        messages = session.query(OutboxMessage).all()
        assert {m.attempts for m in messages} == {1}
        assert all(m.last_error for m in messages)
    up = Settings(smtp_host=host, smtp_port=port, outbox_retry_base_s=10)
    assert outbox.deliver_due(db, up, T0 + timedelta(minutes=6, seconds=5)) == 0  # not yet due
    assert outbox.deliver_due(db, up, T0 + timedelta(minutes=7)) == 3
    assert outbox.deliver_due(db, up, T0 + timedelta(minutes=8)) == 0  # sent once only
    recipients = sorted(r for _, rcpts in mailbox.envelopes for r in rcpts)
    assert recipients == ["judge@justice.test", "prosecutor@justice.test", "spip@justice.test"]
    attachment = next(mailbox.messages[0].iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_payload(decode=True).startswith(b"%PDF")

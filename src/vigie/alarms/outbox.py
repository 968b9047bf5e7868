"""Delivering reports by e-mail through an outbox: queued with the close (an incident report) or
after the end of a measure (its summary), retried until sent.

A report is never given up silently: after the last attempt the message stays in the outbox as
"undelivered", the give-up is audited, and supervisors see it (API and console) with a resend.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from vigie.alarms.narrative import KIND_LABELS, QUALIFICATION_LABELS
from vigie.alarms.summary import file_stem
from vigie.settings import Settings
from vigie.store import Database, audit
from vigie.store.models import Alarm, OutboxMessage, Placement, Report

logger = logging.getLogger(__name__)


def enqueue(session: Session, report: Report, alarm: Alarm) -> list[OutboxMessage]:
    """One message per recipient of the case: the judge, the prosecutor, the SPIP."""
    placement = session.get(Placement, alarm.placement_id) if alarm.placement_id else None
    if placement is None:
        return []
    # In French, as the report is: the kind and qualification in words, not the API's keys.
    kind = KIND_LABELS.get(alarm.kind, alarm.kind)
    qualified = QUALIFICATION_LABELS.get(alarm.qualification or "", "non qualifiée")
    subject = (
        f"[Vigie] Rapport d'incident — dossier {alarm.case_ref} — alarme {alarm.id} "
        f"({kind}, {qualified})"
    )
    return _queue(session, report, placement, subject)


def enqueue_summary(session: Session, report: Report, placement: Placement) -> list[OutboxMessage]:
    """The summary of a measure that ended, to the same recipients as its incident reports."""
    return _queue(
        session, report, placement, f"[Vigie] Bilan de fin de mesure — dossier {placement.case_ref}"
    )


def _queue(
    session: Session, report: Report, placement: Placement, subject: str
) -> list[OutboxMessage]:
    messages = [
        OutboxMessage(
            report_id=report.id,
            recipient=contact.email,
            recipient_role=contact.role,
            subject=subject,
            next_attempt_at=report.created_at,
        )
        for contact in (placement.judge, placement.prosecutor, placement.spip)
    ]
    session.add_all(messages)
    session.flush()
    return messages


def deliver_due(database: Database, config: Settings, now: datetime) -> int:
    """Send every message whose time has come; a failure is recorded and retried later.

    Each message is its own transaction, so one bad address never holds back the others, and
    a crash between send and commit re-sends (at least once) rather than losing the report.
    Any number of processes may deliver: each message is claimed by locking its row, still
    due, for the time of its sending (PostgreSQL: FOR UPDATE SKIP LOCKED, so another process
    passes over it), so no message is sent twice at once nor again once its sending committed.
    """
    with database.session() as session:
        due = session.scalars(select(OutboxMessage.id).where(_due(config, now))).all()
    sent = 0
    for message_id in due:
        with database.session() as session:
            message = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.id == message_id, _due(config, now))
                .with_for_update(skip_locked=True)
            ).first()
            if message is None:  # being sent by another process, or sent since
                continue
            report = session.get_one(Report, message.report_id)
            message.attempts += 1
            try:
                _send(config, message, report, _document(session, report))
            except (OSError, smtplib.SMTPException) as exc:
                message.last_error = f"{type(exc).__name__}: {exc}"
                delay = config.outbox_retry_base_s * 2 ** (message.attempts - 1)
                message.next_attempt_at = now + timedelta(seconds=delay)
                audit.record(
                    session,
                    "system",
                    "report_delivery_failed",
                    f"outbox:{message.id}",
                    {"attempt": message.attempts, "error": message.last_error},
                )
                if message.attempts >= config.outbox_max_attempts:
                    _give_up(session, message, report)
                continue
            message.sent_at = now
            message.last_error = None
            audit.record(
                session,
                "system",
                "report_delivered",
                f"outbox:{message.id}",
                {"to": message.recipient, "role": message.recipient_role},
            )
            sent += 1
    return sent


def _due(config: Settings, now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.attempts < config.outbox_max_attempts,
        OutboxMessage.next_attempt_at <= now,
    )


def _give_up(session: Session, message: OutboxMessage, report: Report) -> None:
    of = (
        {"alarm": report.alarm_id}
        if report.alarm_id is not None
        else {"placement": report.placement_id}
    )
    logger.error(
        "report %s (%s) NOT delivered to the %s after %d attempts: %s",
        report.id,
        ", ".join(f"{k} {v}" for k, v in of.items()),
        message.recipient_role,
        message.attempts,
        message.last_error,
    )
    audit.record(
        session,
        "system",
        "report_undelivered",
        f"outbox:{message.id}",
        of
        | {
            "role": message.recipient_role,
            "attempts": message.attempts,
            "error": message.last_error,
        },
    )


def is_undelivered(max_attempts: int) -> ColumnElement[bool]:
    """Messages the outbox stopped trying: unsent after its last attempt."""
    return and_(OutboxMessage.sent_at.is_(None), OutboxMessage.attempts >= max_attempts)


@dataclass(frozen=True, slots=True)
class Undelivered:
    message: OutboxMessage
    alarm_id: int | None  # an incident report's alarm
    placement_id: int | None  # a measure summary's placement
    case_ref: str


def undelivered(session: Session, max_attempts: int) -> list[Undelivered]:
    """Every report the outbox gave up on, oldest first, with what it is about."""
    rows = session.execute(
        select(
            OutboxMessage,
            Report.alarm_id,
            Report.placement_id,
            func.coalesce(Alarm.case_ref, Placement.case_ref),
        )
        .join(Report, Report.id == OutboxMessage.report_id)
        .outerjoin(Alarm, Alarm.id == Report.alarm_id)
        .outerjoin(Placement, Placement.id == Report.placement_id)
        .where(is_undelivered(max_attempts))
        .order_by(OutboxMessage.id)
    ).all()
    return [Undelivered(*row) for row in rows]


class AlreadyDelivered(Exception):
    """A resend of a message that was delivered."""


def resend(session: Session, message_id: int, actor: str, now: datetime) -> OutboxMessage | None:
    """Put an undelivered message back in the outbox with a fresh count of attempts; audited.

    A message still being retried is tried again at once. None when there is no such message.
    """
    message = session.get(OutboxMessage, message_id)
    if message is None:
        return None
    if message.sent_at is not None:
        raise AlreadyDelivered(f"message {message_id} was delivered at {message.sent_at}")
    previous = message.attempts
    message.attempts = 0
    message.next_attempt_at = now
    audit.record(
        session,
        actor,
        "report_resend",
        f"outbox:{message.id}",
        {"report": message.report_id, "role": message.recipient_role, "attempts": previous},
    )
    session.flush()
    return message


@dataclass(frozen=True, slots=True)
class Document:
    """What a report is called in its mail's text, and its attachments' name."""

    words: str
    stem: str


def _document(session: Session, report: Report) -> Document:
    if report.alarm_id is not None:
        return Document("le rapport d'incident", f"incident-{report.alarm_id}")
    placement = session.get_one(Placement, report.placement_id)
    return Document("le bilan de fin de mesure", file_stem(placement.case_ref))


def _send(config: Settings, message: OutboxMessage, report: Report, document: Document) -> None:
    mail = EmailMessage()
    mail["From"] = config.smtp_sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail.set_content(
        f"Veuillez trouver ci-joint {document.words} (PDF et HTML).\n"
        "Centre de surveillance électronique Vigie."
    )
    mail.add_attachment(
        report.pdf, maintype="application", subtype="pdf", filename=f"{document.stem}.pdf"
    )
    mail.add_attachment(report.html, subtype="html", filename=f"{document.stem}.html")
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=30) as smtp:
        if config.smtp_starttls:
            # Verified against the system's CAs, or the centre's own (VIGIE_SMTP_CA_FILE).
            context = ssl.create_default_context(cafile=config.smtp_ca_file or None)
            smtp.starttls(context=context)
        if config.smtp_username:
            if not config.smtp_starttls:
                raise smtplib.SMTPException("SMTP credentials are only sent over STARTTLS")
            smtp.login(config.smtp_username, config.smtp_password.get_secret_value())
        smtp.send_message(mail)


async def deliver_forever(
    database: Database,
    config: Settings,
    stopping: threading.Event,
    clock: Callable[[], datetime],
    prepare: Callable[[Database, Settings, datetime], int],
) -> None:
    """Send due reports every `tick_s` until `stopping`; apart from detection, so a slow mail
    server never delays alarms. `prepare` queues what is owed first (the summaries of measures
    that ended: `vigie.alarms.summaries_owed.queue_owed`)."""
    while not stopping.is_set():
        await asyncio.to_thread(stopping.wait, config.tick_s)
        if stopping.is_set():
            return
        try:
            await asyncio.to_thread(prepare, database, config, clock())
        except Exception:  # the reports already queued still go
            logger.exception("the outbox could not queue what is owed; will retry")
        try:
            await asyncio.to_thread(deliver_due, database, config, clock())
        except Exception:
            logger.exception("outbox delivery failed; will retry")

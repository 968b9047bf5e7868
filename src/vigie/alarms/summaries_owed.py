"""A measure's summary, sent when it ends: to the case's judge, prosecutor and SPIP through the
outbox, as an incident report is, and kept as a report.

The end of a measure (`vigie.cases.ending`) records the summary as owed, in the end's own
transaction. The outbox's loop makes each owed summary off the request: its HTML in a read, its
PDF outside any transaction (rendering takes a third of a second or more: inside one it would
hold the audit chain's head and, on SQLite, the writer), then, in one transaction, stores it,
queues its messages and settles the debt. A crash anywhere before that commit leaves the debt,
so a later pass makes the summary again: it is never lost, and never queued twice (the debt's
row is locked, and a placement has at most one summary report).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vigie.alarms import outbox
from vigie.alarms.summary import summarise
from vigie.settings import Settings
from vigie.store import Database, audit
from vigie.store.models import Placement, Report, SummaryOwed

logger = logging.getLogger(__name__)

# Summaries made a pass (each a PDF): a day of many ends is spread over a few passes, so the
# incident reports due meanwhile are not held back.
PER_PASS = 20
# The longest wait between two tries of a summary that could not be made: it is owed until made.
MAX_RETRY = timedelta(hours=1)


def queue_owed(database: Database, config: Settings, now: datetime) -> int:
    """Make and queue the summaries owed and due, oldest end first; how many were queued. One
    that fails is tried again later (the outbox's delays, at most an hour apart), logged each
    time and audited once it has failed as often as a report's delivery may, and does not hold
    back the others."""
    with database.reading() as session:
        owed = session.scalars(
            select(SummaryOwed.placement_id)
            .where(SummaryOwed.next_attempt_at <= now)
            .order_by(SummaryOwed.since, SummaryOwed.placement_id)
            .limit(PER_PASS)
        ).all()
    queued = 0
    for placement_id in owed:
        try:
            queued += _queue(database, placement_id, now)
        except Exception as exc:
            logger.exception("the summary of placement %s could not be made", placement_id)
            _failed(database, config, placement_id, exc, now)
    return queued


def _failed(
    database: Database, config: Settings, placement_id: int, exc: Exception, now: datetime
) -> None:
    with database.session() as session:
        owed = session.get(SummaryOwed, placement_id, with_for_update=True)
        if owed is None:
            return
        owed.attempts += 1
        owed.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        delay = timedelta(seconds=config.outbox_retry_base_s * 2 ** min(owed.attempts - 1, 20))
        owed.next_attempt_at = now + min(delay, MAX_RETRY)
        if owed.attempts == config.outbox_max_attempts:
            audit.record(
                session,
                "system",
                "summary_not_made",
                f"placement:{placement_id}",
                {"attempts": owed.attempts, "error": owed.last_error},
            )


def _queue(database: Database, placement_id: int, now: datetime) -> int:
    with database.reading() as session:
        prepared = summarise(session, session.get_one(Placement, placement_id), now)
    html, pdf = prepared.html, prepared.pdf()
    try:
        with database.session() as session:
            owed = session.get(SummaryOwed, placement_id, with_for_update=True)
            if owed is None:
                return 0  # queued by another process meanwhile
            placement = session.get_one(Placement, placement_id)
            made = summarise(session, placement, now)
            if made.html != html:  # the case changed meanwhile (an alarm closed): as it is now
                html, pdf = made.html, made.pdf()
            report = Report(placement_id=placement_id, created_at=now, html=html, pdf=pdf)
            session.add(report)
            session.flush()
            messages = outbox.enqueue_summary(session, report, placement)
            session.delete(owed)
            audit.record(
                session,
                "system",
                "summary_queued",
                f"placement:{placement_id}",
                {
                    "case": placement.case_ref,
                    "report": report.id,
                    "to": [m.recipient_role for m in messages],
                },
            )
    except IntegrityError:
        return 0  # another process stored it first (SQLite, where the lock above is a no-op)
    return 1

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
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vigie.alarms import outbox
from vigie.alarms.summary import summarise
from vigie.store import Database, audit
from vigie.store.models import Placement, Report, SummaryOwed

logger = logging.getLogger(__name__)

# Summaries made a pass (each a PDF): a day of many ends is spread over a few passes, so the
# incident reports due meanwhile are not held back.
PER_PASS = 20


def queue_owed(database: Database, now: datetime) -> int:
    """Make and queue the summaries owed, oldest end first; how many were queued. One that
    fails is logged and left owed (tried again next pass), and does not hold back the others."""
    with database.reading() as session:
        owed = session.scalars(
            select(SummaryOwed.placement_id)
            .order_by(SummaryOwed.since, SummaryOwed.placement_id)
            .limit(PER_PASS)
        ).all()
    queued = 0
    for placement_id in owed:
        try:
            queued += _queue(database, placement_id, now)
        except Exception:
            logger.exception(
                "the summary of placement %s could not be made; will retry", placement_id
            )
    return queued


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

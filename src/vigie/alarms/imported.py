"""Alarms brought with an imported case: another centre's record, never this centre's work.

`vigie import` keeps them as they were, open ones included, marked with the centre they came
from (`Alarm.imported_from`). Every live path takes only the alarms raised here (`RAISED_HERE`):
the queue, escalation, the supervision counts, the holding of a BAR alert (which shows the
protected person's position), the position requests of alarmed cases, the folding of new events;
the workflow refuses to act on one (`refuse_imported`). They stay readable where a case's record
is read: the case file, the alarm's page, the export, `GET /api/alarms?imported=true`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

from vigie.alarms.errors import AlarmStateError
from vigie.store.models import Alarm

RAISED_HERE: ColumnElement[bool] = Alarm.imported_from.is_(None)


def refuse_imported(alarm: Alarm) -> None:
    if alarm.imported_from is not None:
        raise AlarmStateError(
            f"alarm {alarm.id} was raised by another centre and imported with its case: "
            "a record, not worked here"
        )

"""Acknowledging many informational alarms at once, with one note.

Only alarms that tell of a device's state (signal lost, low battery, mains power) may be taken
together: each of the others asks for its own look. The whole batch is refused, naming the
first alarm at fault, or acknowledged whole; the note goes on every alarm, one audit entry
lists them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from vigie.alarms import returned, workflow
from vigie.store import audit
from vigie.store.models import Alarm, AlarmAction, User

INFORMATIONAL = ("signal_lost", "low_battery", "power")
KIND_FR = {
    "alert": "alerte BAR",
    "pre_alert": "pré-alerte BAR",
    "sos": "SOS de la personne protégée",
    "wearer_sos": "SOS du porteur",
    "tamper": "arrachement / ouverture",
    "zone_entry": "entrée en zone d'exclusion",
    "zone_exit": "sortie de zone d'inclusion",
    "absence": "absence au domicile",
    "clock_fault": "horloge déréglée",
}


class BulkRefused(ValueError):
    """The batch names an alarm that may not be acknowledged with the others (in French)."""

    def __init__(self, message: str, index: int, alarm_id: int) -> None:
        super().__init__(message)
        self.message, self.index, self.alarm_id = message, index, alarm_id


def check(alarms: list[Alarm]) -> None:
    """Refuse the batch at its first alarm that is not an informational one to take (open, or
    taken and come back: `returned`)."""
    for index, alarm in enumerate(alarms):
        if alarm.kind not in INFORMATIONAL:
            kind = KIND_FR.get(alarm.kind, alarm.kind)
            raise BulkRefused(
                f"l'alarme n° {alarm.id} ({kind}) n'est pas informative : elle s'acquitte "
                "seule, depuis sa fiche (acquittement groupé réservé aux pertes de signal, "
                "batteries faibles et coupures secteur)",
                index,
                alarm.id,
            )
        if not returned.to_take(alarm):
            raise BulkRefused(
                f"l'alarme n° {alarm.id} n'est plus ouverte (déjà prise en charge)",
                index,
                alarm.id,
            )


def acknowledge(
    session: Session, alarms: list[Alarm], user: User, note: str, now: datetime
) -> list[Alarm]:
    check(alarms)
    for alarm in alarms:
        workflow.acknowledge(session, alarm, user, now)
        session.add(
            AlarmAction(alarm_id=alarm.id, at=now, user_id=user.id, action="note", note=note)
        )
    session.flush()
    audit.record(
        session,
        user.username,
        "bulk_acknowledge",
        "alarms",
        {"ids": [a.id for a in alarms], "note": note},
    )
    return alarms

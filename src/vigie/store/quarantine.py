"""Quarantined observations: stored, never deleted, never run by detection, listed for the admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigie.store.listed import listed_in
from vigie.store.models import Observation, QuarantinedObservation

# Where a person would be: the admin's list says a fix was refused, not where it was.
_LOCATING = frozenset({"lat", "lon", "accuracy_m"})


def add(
    session: Session, observation_id: int, field: str, reason: str, clock_fault: bool, at: datetime
) -> None:
    session.add(
        QuarantinedObservation(
            observation_id=observation_id,
            field=field[:80],
            reason=reason,
            clock_fault=clock_fault,
            quarantined_at=at,
        )
    )


def among(session: Session, ids: list[int], field: str) -> set[int]:
    """Which of `ids` are quarantined with `field` at fault."""
    if not ids:
        return set()
    return set(
        session.scalars(
            select(QuarantinedObservation.observation_id).where(
                listed_in(session, QuarantinedObservation.observation_id, ids),
                QuarantinedObservation.field == field,
            )
        )
    )


def count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(QuarantinedObservation)).scalar_one()


def listing(session: Session, after: int, limit: int) -> list[dict[str, Any]]:
    """Quarantined observations after id `after`, oldest first, without coordinates."""
    query = (
        select(Observation, QuarantinedObservation)
        .join(QuarantinedObservation, QuarantinedObservation.observation_id == Observation.id)
        .where(Observation.id > after)
        .order_by(Observation.id)
        .limit(limit)
    )
    return [
        {
            "id": observation.id,
            "device": observation.device,
            "type": observation.type,
            "t": observation.t,
            "received_at": observation.received_at,
            "field": mark.field,
            "reason": mark.reason,
            "clock_fault": mark.clock_fault,
            "quarantined_at": mark.quarantined_at,
            "payload": {k: v for k, v in observation.record.items() if k not in _LOCATING},
        }
        for observation, mark in session.execute(query).all()
    ]


def processed_after(session: Session, cursor: int, t: datetime) -> list[Any]:
    """Observations up to `cursor` (already run) timed after `t` and not quarantined: what
    dragged an engine's clock before detection bounded it (a database from before issue 11)."""
    table = Observation.__table__
    query = (
        select(table.c.id, table.c.device, table.c.t.label("at"), table.c.received_at)
        .where(table.c.id <= cursor, table.c.t > t, table.c.imported_from.is_(None))
        .where(~table.c.id.in_(select(QuarantinedObservation.observation_id)))
        .order_by(table.c.id)
    )
    return list(session.execute(query).all())

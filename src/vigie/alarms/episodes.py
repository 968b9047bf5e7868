"""Detection events folded into episodes: one per (case, kind, device) until it is closed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.alarms.obligations import PRIORITY
from vigie.store.models import Alarm, AlarmEventRow, Placement


def fold(session: Session, events: Iterable[dict[str, Any]], now: datetime) -> list[Alarm]:
    """Store each event and fold it into its episode; returns the episodes opened.

    `events` are detection events as dicts (`AlarmEvent.to_dict()` with `t` parsed to datetime).
    A `raised` opens an episode unless one is still open for the same case, kind and device,
    in which case it folds in (a breach that comes back before anyone closed it is the same
    incident). A `cleared` records the end on the open episode.
    """
    opened: list[Alarm] = []
    placements: dict[str, int | None] = {}
    for event in events:
        key = (event["case"], event["kind"], event["device"])
        episode = session.scalars(
            select(Alarm).where(
                Alarm.case_ref == key[0],
                Alarm.kind == key[1],
                Alarm.device == key[2],
                Alarm.status != "closed",
            )
        ).first()
        if event["state"] == "raised":
            if episode is None:
                if key[0] not in placements:
                    placements[key[0]] = session.scalars(
                        select(Placement.id).where(Placement.case_ref == key[0])
                    ).first()
                episode = Alarm(
                    case_ref=key[0],
                    placement_id=placements[key[0]],
                    kind=key[1],
                    device=key[2],
                    priority=PRIORITY.get(key[1], 5),
                    status="open",
                    raised_at=event["t"],
                    opened_at=now,
                    last_event_at=event["t"],
                    event_count=1,
                    detail=event["detail"],
                )
                session.add(episode)
                session.flush()
                opened.append(episode)
            else:
                episode.event_count += 1
                episode.last_event_at = max(episode.last_event_at, event["t"])
                episode.cleared_at = None
                episode.detail = event["detail"]
        elif episode is not None:
            episode.event_count += 1
            episode.last_event_at = max(episode.last_event_at, event["t"])
            episode.cleared_at = event["t"]
        session.add(
            AlarmEventRow(
                t=event["t"],
                case_ref=key[0],
                kind=key[1],
                state=event["state"],
                device=key[2],
                detail=event["detail"],
                alarm_id=episode.id if episode is not None else None,
                created_at=now,
            )
        )
    session.flush()
    return opened

"""Detection events folded into episodes: one per (case, kind, device) until it is closed.

Both are guarded by the database as well as by the fold, for several writing processes: an
event is stored once (its key, unique per case: a second copy is skipped, logged and counted),
and a partial unique index refuses a second open episode. Alarm ids commit in order on
PostgreSQL (an advisory lock before a step's first new alarm), so a follower of
`GET /api/alarms?after=ID` never skips one committed late under a smaller id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.alarms.obligations import PRIORITY
from vigie.store.models import Alarm, AlarmEventRow, Placement

logger = logging.getLogger(__name__)

ALARM_ID_LOCK = 7420002  # pg_advisory_xact_lock key: alarm ids commit in id order
duplicate_events = 0  # events skipped because stored already (in this process): a counter


def event_key(event: dict[str, Any]) -> str:
    """blake2b of the event's canonical JSON (that of `AlarmEvent.to_json()` for the engine's
    events: `t`, and `detected_at` if any, as ISO-8601 UTC to the millisecond with "Z")."""
    body = {k: _iso(v) if isinstance(v, datetime) else v for k, v in event.items()}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lock_alarm_ids(session: Session) -> None:
    """Before inserting alarms (PostgreSQL): held to commit, so ids commit in order."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ALARM_ID_LOCK)))


def _store(session: Session, event: dict[str, Any], now: datetime) -> int | None:
    """Insert the event's row (not yet tied to its episode); None if it was stored already."""
    global duplicate_events
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    key = event_key(event)
    statement = (
        dialect.insert(AlarmEventRow)
        .values(
            t=event["t"],
            case_ref=event["case"],
            kind=event["kind"],
            state=event["state"],
            device=event["device"],
            detail=event["detail"],
            created_at=now,
            event_key=key,
        )
        .on_conflict_do_nothing(index_elements=["case_ref", "event_key"])
        .returning(AlarmEventRow.id)
    )
    row_id = session.execute(statement).scalar_one_or_none()
    if row_id is None:
        duplicate_events += 1
        logger.warning(
            "alarm event of case %s (%s %s) stored already: skipped (key %s)",
            event["case"],
            event["kind"],
            event["state"],
            key,
        )
    return row_id


def fold(
    session: Session, events: Iterable[dict[str, Any]], now: datetime, partition: int = 0
) -> list[Alarm]:
    """Store each event and fold it into its episode; returns the episodes opened.

    `events` are detection events as dicts (`AlarmEvent.to_dict()` with `t` parsed to datetime).
    A `raised` opens an episode unless one is still open for the same case, kind and device,
    in which case it folds in (a breach that comes back before anyone closed it is the same
    incident). A `cleared` records the end on the open episode. An event stored already (a
    step re-run by a stale owner that fencing missed) changes nothing. Opened episodes carry
    the detection `partition`.
    """
    opened: list[Alarm] = []
    placements: dict[str, int | None] = {}
    locked = False
    for event in events:
        row_id = _store(session, event, now)
        if row_id is None:
            continue
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
                if not locked:
                    lock_alarm_ids(session)
                    locked = True
                episode = Alarm(
                    case_ref=key[0],
                    partition=partition,
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
        if episode is not None:
            session.execute(
                update(AlarmEventRow)
                .where(AlarmEventRow.id == row_id)
                .values(alarm_id=episode.id)
                .execution_options(synchronize_session=False)
            )
    session.flush()
    return opened

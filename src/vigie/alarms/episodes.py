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
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.alarms import ongoing, returned
from vigie.alarms.obligations import PRIORITY
from vigie.detect.events import iso_of, ms_of
from vigie.store.listed import listed_in
from vigie.store.models import Alarm, AlarmEventRow, Placement

logger = logging.getLogger(__name__)

ALARM_ID_LOCK = 7420002  # pg_advisory_xact_lock key: alarm ids commit in id order
duplicate_events = 0  # events skipped because stored already (in this process): a counter


def event_key(event: dict[str, Any]) -> str:
    """blake2b of the event's canonical JSON: that of `AlarmEvent.to_json()` for the engine's
    events (times as the engine writes them), the same form for the pipeline's own."""
    body = {k: iso_of(ms_of(v)) if isinstance(v, datetime) else v for k, v in event.items()}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def lock_alarm_ids(session: Session) -> None:
    """Before inserting alarms (PostgreSQL): held to commit, so ids commit in order."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(ALARM_ID_LOCK)))


def _store(session: Session, events: list[dict[str, Any]], now: datetime) -> list[int | None]:
    """Insert the events' rows (not yet tied to their episodes) in one statement; each one's
    row id, None for one stored already (or twice in `events`: the first is kept)."""
    global duplicate_events
    if not events:
        return []
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    keys = [event_key(event) for event in events]
    # One statement for any number of rows (SQLAlchemy's "insertmanyvalues"): compiled once
    # and cached, where a multi-row VALUES literal would be compiled anew for every step.
    statement = (
        dialect.insert(AlarmEventRow)
        .on_conflict_do_nothing(index_elements=["case_ref", "event_key"])
        .returning(AlarmEventRow.id, AlarmEventRow.case_ref, AlarmEventRow.event_key)
    )
    rows = [
        {
            "t": event["t"],
            "case_ref": event["case"],
            "kind": event["kind"],
            "state": event["state"],
            "device": event["device"],
            "detail": event["detail"],
            "created_at": now,
            "event_key": key,
        }
        for event, key in zip(events, keys, strict=True)
    ]
    inserted = {(case, key): row_id for row_id, case, key in session.execute(statement, rows)}
    out: list[int | None] = []
    for event, key in zip(events, keys, strict=True):
        row_id = inserted.pop((event["case"], key), None)
        out.append(row_id)
        if row_id is None:
            duplicate_events += 1
            logger.warning(
                "alarm event of case %s (%s %s) stored already: skipped (key %s)",
                event["case"],
                event["kind"],
                event["state"],
                key,
            )
    return out


def fold(
    session: Session, events: Iterable[dict[str, Any]], now: datetime, partition: int = 0
) -> list[Alarm]:
    """Store each event and fold it into its episode; returns the episodes opened.

    `events` are detection events as dicts (`AlarmEvent.to_dict()` with `t` parsed to datetime).
    A `raised` opens an episode unless one is still open for the same case, kind and device,
    in which case it folds in (a breach that comes back before anyone closed it is the same
    incident; taken, it is to be taken again: `returned`). A `cleared` records the end on the
    open episode. An event stored already (a step re-run by a stale owner that fencing missed)
    changes nothing. Opened episodes carry the detection `partition`.

    A few statements whatever the number of events (the step that opens an alarm is the one
    its operator waits for): the events stored at once, the open episodes of their cases read
    at once, new episodes inserted together, the events tied to them together.
    """
    events = list(events)
    row_ids = _store(session, events, now)
    fresh = [(e, r) for e, r in zip(events, row_ids, strict=True) if r is not None]
    if not fresh:
        return []
    cases = sorted({event["case"] for event, _ in fresh})
    # Locked (PostgreSQL), in id order as every locker of alarms takes them: an operator's
    # close committed while this read waited leaves its alarm out, so a breach raised again
    # opens a new one. Read unlocked, it was folded into the alarm just closed: unseen.
    episodes: dict[tuple[str, str, str], Alarm] = {
        (a.case_ref, a.kind, a.device): a
        for a in session.scalars(
            select(Alarm)
            .where(listed_in(session, Alarm.case_ref, cases), Alarm.status != "closed")
            .order_by(Alarm.id)
            .with_for_update()
        )
    }
    placements: dict[str, int] | None = None
    opened: list[Alarm] = []
    tied: list[tuple[int, Alarm]] = []
    settled: list[tuple[str, str, str]] = []  # conditions no reminder may raise again (ongoing)
    for event, row_id in fresh:
        key = (event["case"], event["kind"], event["device"])
        episode = episodes.get(key)
        if event["state"] == "raised":
            if episode is None:
                settled.append(key)
                if placements is None:  # before the first new alarm: ids commit in order
                    placements = dict(
                        session.execute(
                            select(Placement.case_ref, Placement.id).where(
                                listed_in(session, Placement.case_ref, cases)
                            )
                        ).all()
                    )
                    lock_alarm_ids(session)
                episode = Alarm(
                    case_ref=key[0],
                    partition=partition,
                    placement_id=placements.get(key[0]),
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
                episodes[key] = episode
                opened.append(episode)
            else:
                returned.mark(episode, now)  # taken, and it came back: to take again
                episode.event_count += 1
                episode.last_event_at = max(episode.last_event_at, event["t"])
                episode.cleared_at = None
                episode.detail = event["detail"]
        elif episode is not None:
            episode.event_count += 1
            episode.last_event_at = max(episode.last_event_at, event["t"])
            episode.cleared_at = event["t"]
        else:  # its alarm was closed before the condition ended: it has now
            settled.append(key)
        if episode is not None:
            tied.append((row_id, episode))
    ongoing.unmark(session, settled)
    session.flush()  # the new episodes' ids, in the order they opened
    if tied:
        events_table = cast(Table, AlarmEventRow.__table__)
        session.execute(
            update(events_table)
            .where(events_table.c.id == bindparam("row_id"))
            .values(alarm_id=bindparam("alarm_id")),
            [{"row_id": row_id, "alarm_id": episode.id} for row_id, episode in tied],
        )
    return opened

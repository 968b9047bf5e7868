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
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from vigie.alarms import ongoing, returned
from vigie.alarms.obligations import PRIORITY
from vigie.detect.events import iso_of, ms_of
from vigie.store import bulk
from vigie.store.listed import listed_in
from vigie.store.models import Alarm, AlarmEventRow, Placement

logger = logging.getLogger(__name__)

ALARM_ID_LOCK = 7420002  # pg_advisory_xact_lock key: alarm ids commit in id order
duplicate_events = 0  # events skipped because stored already (in this process): a counter


@dataclass(slots=True)
class _New:
    """An episode opened by this fold, until it is inserted with the others: a plain record,
    where an ORM object for each (its instrumented attributes, the unit of work's flush) made
    a mass event's fold twice as slow (20,000 alarms on SQLite: 4.7 s, 2.2 s as records)."""

    case_ref: str
    partition: int
    placement_id: int | None
    kind: str
    device: str
    priority: int
    raised_at: datetime
    opened_at: datetime
    last_event_at: datetime
    detail: dict[str, Any]
    cleared_at: datetime | None = None
    event_count: int = 1
    status: str = "open"
    id: int | None = None


# The columns a new episode leaves to their defaults, set in its row: what an ORM insert
# would have done (a column filled by a function or by the database alone is left to them).
_DEFAULTS = {
    column.key: getattr(column.default, "arg", None)
    for column in cast(Table, Alarm.__table__).columns
    if column.key not in _New.__slots__
    and (
        getattr(column.default, "is_scalar", False)
        or (column.default is None and column.server_default is None)
    )
}


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
    keys = [event_key(event) for event in events]
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
    table = cast(Table, AlarmEventRow.__table__)
    returned = bulk.insert_returning(
        session,
        table,
        rows,
        (table.c.id, table.c.case_ref, table.c.event_key),
        skip_conflicts_on=("case_ref", "event_key"),
    )
    inserted = {(case, key): row_id for row_id, case, key in returned}
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


def _insert(session: Session, opened: list[_New]) -> list[Alarm]:
    """Insert the new episodes in one statement (one open episode a case, kind and device:
    that finds each one's id); returns them as loaded, in the order they opened."""
    if not opened:
        return []
    table = cast(Table, Alarm.__table__)
    rows = [
        {field: getattr(new, field) for field in _New.__slots__ if field != "id"} | _DEFAULTS
        for new in opened
    ]
    key = (table.c.case_ref, table.c.kind, table.c.device)
    ids = {
        (case, kind, device): alarm_id
        for alarm_id, case, kind, device in bulk.insert_returning(
            session, table, rows, (table.c.id, *key)
        )
    }
    for new in opened:
        new.id = ids[new.case_ref, new.kind, new.device]
    return list(
        session.scalars(
            select(Alarm).where(listed_in(session, Alarm.id, list(ids.values()))).order_by(Alarm.id)
        )
    )


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
    episodes: dict[tuple[str, str, str], Alarm | _New] = {
        (a.case_ref, a.kind, a.device): a
        for a in session.scalars(
            select(Alarm)
            .where(listed_in(session, Alarm.case_ref, cases), Alarm.status != "closed")
            .order_by(Alarm.id)
            .with_for_update()
        )
    }
    placements: dict[str, int] | None = None
    opened: list[_New] = []
    tied: list[tuple[int, Alarm | _New]] = []
    settled: list[tuple[str, str, str]] = []  # conditions no reminder may raise again (ongoing)
    for event, row_id in fresh:
        key = (event["case"], event["kind"], event["device"])
        episode: Alarm | _New | None = episodes.get(key)
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
                episode = _New(
                    case_ref=key[0],
                    partition=partition,
                    placement_id=placements.get(key[0]),
                    kind=key[1],
                    device=key[2],
                    priority=PRIORITY.get(key[1], 5),
                    raised_at=event["t"],
                    opened_at=now,
                    last_event_at=event["t"],
                    detail=event["detail"],
                )
                episodes[key] = episode
                opened.append(episode)
            else:
                if isinstance(episode, Alarm):  # taken, and it came back: to take again
                    returned.mark(episode, now)
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
    session.flush()  # the episodes it folded into
    alarms = _insert(session, opened)
    if tied:
        events_table = cast(Table, AlarmEventRow.__table__)
        session.execute(
            update(events_table)
            .where(events_table.c.id == bindparam("row_id"))
            .values(alarm_id=bindparam("alarm_id")),
            [{"row_id": row_id, "alarm_id": episode.id} for row_id, episode in tied],
        )
    return alarms

"""The queue's live wire: a server-sent event whenever an alarm the caller may see changes.

Detection rings the alarm bell after each step that changed alarms, so the event follows the
commit at once; other changes are found by polling the store every second.

The stream carries no alarm data, only "something changed": the page then reads the queue from
`GET /api/alarms`, so what is shown, and the audit of who read it, stay the API's.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from vigie import clock
from vigie.alarms import holder_gone
from vigie.alarms.bell import AlarmBell
from vigie.api.deps import CASE_READERS, DatabaseDep, allow
from vigie.api.limits import BoundedJsonRoute
from vigie.api.security import AuthenticationError, token_claims, token_holder
from vigie.cases.access import visible_case_refs
from vigie.settings import Settings
from vigie.store import Database, audit
from vigie.store.models import Alarm, AlarmAction, User

# Out of the public OpenAPI: the console's own reads, not a contract for other programs.
router = APIRouter(
    prefix="/api/console", tags=["console"], include_in_schema=False, route_class=BoundedJsonRoute
)
Reader = Annotated[User, Depends(allow(*CASE_READERS))]
POLL_S = 1.0
KEEPALIVE_S = 15.0
RECHECK_S = 5.0  # how soon a stream ends after its token is revoked or expires


def queue_version(db: Database, user: User) -> tuple[Any, ...]:
    """A fingerprint of the alarms this user may see: it moves when any of them moves, and
    when an action or note is logged on one (an alarm page then shows it live)."""
    query = select(
        func.count(),
        func.max(Alarm.id),
        func.sum(Alarm.event_count),
        func.max(Alarm.last_event_at),
        func.max(Alarm.acknowledged_at),
        func.max(Alarm.in_progress_at),
        func.max(Alarm.closed_at),
        func.max(Alarm.escalated_at),
        func.max(Alarm.cleared_at),
    )
    acted = select(func.max(AlarmAction.id)).join(Alarm, Alarm.id == AlarmAction.alarm_id)
    # A read: it never queues behind an ingest for SQLite's writer (each stream asks this on
    # every change, and the alarm is seen only after).
    with db.reading() as session:
        refs = visible_case_refs(session, user)
        if refs is not None:
            query = query.where(Alarm.case_ref.in_(refs))
            acted = acted.where(Alarm.case_ref.in_(refs))
        return (*session.execute(query).one(), session.scalar(acted))


def _subscribed(db: Database, user: User) -> None:
    with db.session() as session:
        audit.record(session, user.username, "subscribe", "alarms")
        holder_gone.seen(session, user.id, clock.now())


def _present(db: Database, user: User) -> None:
    """The console is still open: a holder whose console falls silent has gone."""
    with db.session() as session:
        holder_gone.seen(session, user.id, clock.now())


def token_still_valid(db: Database, token: str, config: Settings) -> bool:
    """The stream's token is still signed, unexpired and not revoked (logout, disable...)."""
    try:
        claims = token_claims(token, config)
        with db.reading() as session:
            token_holder(session, claims)
    except AuthenticationError:
        return False
    return True


@router.get("/stream")
async def alarm_stream(request: Request, db: DatabaseDep, user: Reader) -> StreamingResponse:
    """`text/event-stream`: `event: changed` at once, then at every change of the visible alarms.

    The stream ends within RECHECK_S of its token being revoked or expiring, and at once when
    the server shuts down.
    """
    # In a thread: on the event loop, this write waiting for SQLite's writer or the audit
    # chain's head stalled every request of the process.
    await asyncio.to_thread(_subscribed, db, user)

    bell: AlarmBell = request.app.state.bell
    config: Settings = request.app.state.settings
    token = request.headers["Authorization"].partition(" ")[2]
    closing: threading.Event = request.app.state.closing

    async def events() -> AsyncIterator[str]:
        last: tuple[Any, ...] | None = None
        said_at = checked_at = present_at = time.monotonic()
        # Shutdown ends the stream (vigie.api.serving): uvicorn would otherwise wait on it.
        while not closing.is_set() and not await request.is_disconnected():
            if time.monotonic() - checked_at >= RECHECK_S:
                checked_at = time.monotonic()
                if not await asyncio.to_thread(token_still_valid, db, token, config):
                    return
            if time.monotonic() - present_at >= holder_gone.PRESENCE_S:
                present_at = time.monotonic()
                await asyncio.to_thread(_present, db, user)
            rung = bell.generation
            version = await asyncio.to_thread(queue_version, db, user)
            if version != last:
                last, said_at = version, time.monotonic()
                yield "event: changed\ndata: {}\n\n"
            elif time.monotonic() - said_at >= KEEPALIVE_S:
                said_at = time.monotonic()
                yield ": keep-alive\n\n"  # a comment line: keeps proxies from closing the stream
            # Woken by the pipeline's bell the moment alarms change; the poll is the fallback
            # for changes it does not ring for (an operator's action, another process).
            await bell.wait(rung, POLL_S)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

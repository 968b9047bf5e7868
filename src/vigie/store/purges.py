"""Retention purges of locations (`vigie db purge-locations`): did the last one started end?

The command audits `purge_locations_started` before its first batch and `purge_locations` after
its last, or `purge_locations_failed` when it stops on an error it can report. A start that is
the last of these marks in the log is a purge that never ended: killed, its machine lost, or
its failure not written (the database away). The fixes the law says to delete are still there,
and this is what says so to the next run of the command, to `/api/health` and to supervision.

The audit log holds every access of every account, and no index of it holds the marks alone:
they are found from the newest entry down, so what is read is the entries since the last mark
(all of them when no purge ever ran). A process that asks often (health, polled) keeps a
`PurgeWatch`, which reads each entry once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from vigie.store.models import AuditEntry

STARTED = "purge_locations_started"
ENDED = "purge_locations"
FAILED = "purge_locations_failed"
INTERRUPTED = "purge_locations_interrupted"  # a run found the previous one unfinished
FIRST_WINDOW = 10_000  # audit entries read by the first window, from the newest down

# The marks that open or close a purge, written as literals: a partial index on them would be
# matched by the planners only so (a bound parameter is not, `vigie.web.supervision`).
MARKS = text(f"action IN ('{STARTED}', '{ENDED}', '{FAILED}')")


@dataclass(frozen=True)
class UnfinishedPurge:
    """The last purge started, when it did not end well: `interrupted` (no end on record) or
    `failed` (its error on record). Dates and counts only: no personal data."""

    entry_id: int  # its `purge_locations_started` audit entry
    started_at: datetime
    cutoff: str | None  # the fixes older than this were to go (ISO 8601, UTC)
    older_than_days: int | None
    state: Literal["interrupted", "failed"]
    error: str | None = None  # failed: the error's type and message

    def as_json(self) -> dict[str, Any]:
        """Its fields for an answer of the API (health, supervision)."""
        return {
            "started_at": self.started_at,
            "cutoff": self.cutoff,
            "older_than_days": self.older_than_days,
            "state": self.state,
            "error": self.error,
        }


@dataclass(frozen=True)
class _Mark:
    id: int
    at: datetime
    action: str
    detail: dict[str, Any]


def _last_mark(session: Session, after: int = 0, upto: int | None = None) -> _Mark | None:
    """The newest start or end of a purge with an id in (`after`, `upto`] (`upto`: the last).

    Read in windows of ids from the newest down, each twice the one before: each is a range of
    the primary key, so what is read is about the entries since the mark, not the whole log (a
    plain `ORDER BY id DESC LIMIT 1` is planned by PostgreSQL as a scan of the whole table: it
    expects no mark at all, the actions being rare)."""
    high = session.scalar(select(func.max(AuditEntry.id))) if upto is None else upto
    window = FIRST_WINDOW
    while high is not None and high > after:
        low = max(after, high - window)
        row = session.execute(
            select(AuditEntry.id, AuditEntry.at, AuditEntry.action, AuditEntry.detail)
            .where(MARKS, AuditEntry.id > low, AuditEntry.id <= high)
            .order_by(AuditEntry.id.desc())
            .limit(1)
        ).one_or_none()
        if row is not None:
            return _Mark(row.id, row.at, row.action, row.detail or {})
        high, window = low, window * 2
    return None


def _started(session: Session, mark: _Mark) -> UnfinishedPurge | None:
    """What the last mark says of the last purge: nothing when it ended well."""
    if mark.action == STARTED:
        return UnfinishedPurge(
            entry_id=mark.id,
            started_at=mark.at,
            cutoff=mark.detail.get("cutoff"),
            older_than_days=mark.detail.get("older_than_days"),
            state="interrupted",
        )
    if mark.action == FAILED:
        start = session.get(AuditEntry, mark.detail.get("started_entry") or -1)
        return UnfinishedPurge(
            entry_id=start.id if start is not None else mark.id,
            started_at=start.at if start is not None else mark.at,
            cutoff=mark.detail.get("cutoff"),
            older_than_days=mark.detail.get("older_than_days"),
            state="failed",
            error=f"{mark.detail.get('error_type')}: {mark.detail.get('error')}",
        )
    return None


def unfinished(session: Session) -> UnfinishedPurge | None:
    """The last purge started, if it never ended (or ended on a failure); None when it ended
    well, or when no purge ever ran."""
    mark = _last_mark(session)
    return None if mark is None else _started(session, mark)


class PurgeWatch:
    """`unfinished` for a process that asks often: each call reads only the audit entries
    appended since the one before (the first reads down to the last mark, once).

    Entries become visible in id order: each append takes the chain's head first
    (`vigie.store.audit`), and its id after, so no lower id commits later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen = 0  # the audit log has been read up to this id
        self._last: _Mark | None = None

    def unfinished(self, session: Session) -> UnfinishedPurge | None:
        """As `unfinished(session)`, from what this watch has already read and the rest."""
        with self._lock:
            top = session.scalar(select(func.max(AuditEntry.id))) or 0
            if top < self._seen:  # another database behind the same URL (restored): read anew
                self._seen, self._last = 0, None
            if top > self._seen:
                newest = _last_mark(session, after=self._seen, upto=top)
                if newest is not None:
                    self._last = newest
                self._seen = top
            last = self._last
        return None if last is None else _started(session, last)

    @staticmethod
    def of(state: Any) -> PurgeWatch:
        """The watch kept on `state` (an application's), made at the first call."""
        watch = getattr(state, "purge_watch", None)
        if watch is None:
            watch = state.purge_watch = PurgeWatch()
        return watch

"""Retention purges of locations (`vigie db purge-locations`): did the last one started end?

The command audits `purge_locations_started` before its first batch and `purge_locations` after
its last, or `purge_locations_failed` when it stops on an error it can report. A start that is
the last of these marks in the log is a purge that never ended: killed, its machine lost, or
its failure not written (the database away). The fixes the law says to delete are still there,
and this is what says so to the next run of the command, to `/api/health` and to supervision.

The audit log holds every access of every account; the marks are few, and a partial index holds
them alone (`ix_audit_log_purge_marks`, migration 0034): the last mark is its last entry, one
read whatever the log's size and however long ago the last purge ran.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.store.models import PURGE_MARKS, AuditEntry

STARTED = "purge_locations_started"
ENDED = "purge_locations"
FAILED = "purge_locations_failed"
INTERRUPTED = "purge_locations_interrupted"  # a run found the previous one unfinished


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


# The newest start or end of a purge: the last entry of their partial index, read through it
# because the query repeats its predicate (`PURGE_MARKS`, SQL text: the planners match a partial
# index to a literal, not to a bound parameter).
LAST_MARK = (
    select(AuditEntry.id, AuditEntry.at, AuditEntry.action, AuditEntry.detail)
    .where(PURGE_MARKS)
    .order_by(AuditEntry.id.desc())
    .limit(1)
)


def _last_mark(session: Session) -> _Mark | None:
    row = session.execute(LAST_MARK).one_or_none()
    return None if row is None else _Mark(row.id, row.at, row.action, row.detail or {})


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

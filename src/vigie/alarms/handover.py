"""The shift handover: the outgoing operator's log, shown to the next ones until they say they
have read it. Writing and reading are audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.alarms.errors import AlarmStateError
from vigie.store import audit
from vigie.store.models import HandoverNote, HandoverRead, User

# A note older than this is no longer a handover to the shift now starting (two shifts of 12 h).
RELEVANT_FOR = timedelta(hours=24)


class OwnNote(AlarmStateError):
    """Its author saying she read her own note would tell the supervisor the next shift did."""


def write(session: Session, author: User, text: str, now: datetime) -> HandoverNote:
    note = HandoverNote(author_id=author.id, text=text.strip(), created_at=now)
    session.add(note)
    session.flush()
    target = f"handover:{note.id}"
    audit.record(session, author.username, "handover_written", target, {"text": note.text})
    return note


def pending(session: Session, user: User, now: datetime) -> list[HandoverNote]:
    """Others' notes of the last day that `user` has not acknowledged, oldest first."""
    read = select(HandoverRead.note_id).where(HandoverRead.user_id == user.id)
    return list(
        session.scalars(
            select(HandoverNote)
            .where(
                HandoverNote.author_id != user.id,
                HandoverNote.created_at >= now - RELEVANT_FOR,
                HandoverNote.id.not_in(read),
            )
            .order_by(HandoverNote.id)
        )
    )


def recent(session: Session, now: datetime) -> list[HandoverNote]:
    query = select(HandoverNote).where(HandoverNote.created_at >= now - RELEVANT_FOR)
    return list(session.scalars(query.order_by(HandoverNote.id.desc())))


def acknowledge(session: Session, user: User, note_id: int, now: datetime) -> None:
    """`user` has read the note: recorded once, audited."""
    note = session.get(HandoverNote, note_id)
    if note is None:
        raise LookupError(f"handover note {note_id} not found")
    if note.author_id == user.id:
        raise OwnNote(f"handover note {note_id} is {user.username}'s own: for the next shift")
    if session.get(HandoverRead, (note_id, user.id)) is not None:
        raise AlarmStateError(f"handover note {note_id} is already acknowledged")
    session.add(HandoverRead(note_id=note_id, user_id=user.id, read_at=now))
    session.flush()
    audit.record(session, user.username, "handover_read", f"handover:{note_id}")


def summary(session: Session, note: HandoverNote) -> dict[str, Any]:
    author = session.get(User, note.author_id)
    readers = session.execute(
        select(User.username, HandoverRead.read_at)
        .join(User, User.id == HandoverRead.user_id)
        .where(HandoverRead.note_id == note.id)
        .order_by(HandoverRead.read_at)
    ).all()
    return {
        "id": note.id,
        "text": note.text,
        "created_at": note.created_at,
        "author": author.username if author else None,
        "author_name": author.full_name if author else None,
        "read_by": [{"user": name, "at": at} for name, at in readers],
    }

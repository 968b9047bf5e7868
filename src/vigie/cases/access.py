"""Who sees which case: the centre (and the admin who sets cases up) sees all; a judge,
prosecutor or SPIP officer their own."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from vigie.cases.errors import CaseNotFound
from vigie.store.models import Contact, Person, Placement, User
from vigie.store.write_lock import hold_writer

CENTRE_ROLES = ("operator", "supervisor")
# The admin sets cases up: every case file, though no alarm (the alarm routes do not admit it).
ALL_CASES = (*CENTRE_ROLES, "admin")
_CONTACT_COLUMN = {
    "judge": Placement.judge_id,
    "prosecutor": Placement.prosecutor_id,
    "spip": Placement.spip_id,
}


def placements_visible_to(user: User) -> ColumnElement[bool]:
    """A WHERE clause on `Placement` selecting the cases this user may see."""
    if user.role in ALL_CASES:
        return true()
    column = _CONTACT_COLUMN.get(user.role)
    if column is None:
        return false()
    return column.in_(select(Contact.id).where(Contact.user_id == user.id))


def persons_visible_to(user: User) -> ColumnElement[bool]:
    """A WHERE clause on `Person`: the wearers and protected persons of the visible cases."""
    if user.role in ALL_CASES:
        return true()
    visible = select(Placement.person_id, Placement.protected_person_id).where(
        placements_visible_to(user)
    )
    subquery = visible.subquery()
    return or_(
        Person.id.in_(select(subquery.c.person_id)),
        Person.id.in_(select(subquery.c.protected_person_id)),
    )


def visible_placement(
    session: Session, user: User, placement_id: int, *, lock: bool = False
) -> Placement:
    """The placement if this user may see it, else not found (its existence is not revealed).
    `lock`, for a change: its row is locked to the transaction's end (PostgreSQL; on SQLite the
    write lock is taken first, `hold_writer`), so two changes at once are made one after the
    other. Made together, each took the revision it read plus one: both saved the same
    revision, and detection, which reads a case again when its revision moves, kept watching it
    as the first change left it (a bracelet assigned while a zone was edited went unwatched)."""
    query = select(Placement).where(Placement.id == placement_id, placements_visible_to(user))
    if lock:
        hold_writer(session)
        query = query.with_for_update(of=Placement)
    placement = session.scalars(query).one_or_none()
    if placement is None:
        raise CaseNotFound("placement", placement_id)
    return placement


def visible_case_refs(session: Session, user: User) -> list[str] | None:
    """Case refs this user may see; None means all (the centre)."""
    if user.role in CENTRE_ROLES:
        return None
    return list(session.scalars(select(Placement.case_ref).where(placements_visible_to(user))))

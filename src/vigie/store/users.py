"""Users of the centre and the contacts linked to them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.store.models import User


def by_username(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def listing(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))

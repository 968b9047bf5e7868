"""Users (admin only): accounts, roles, and the contacts they are."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from vigie import clock
from vigie.alarms import holder_gone
from vigie.api.deps import DatabaseDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.api.password_policy import WeakPassword, check
from vigie.api.security import create_user, disable, set_password
from vigie.store import audit
from vigie.store.bounds import Line, RowId
from vigie.store.models import User
from vigie.store.unique import refused_if_taken
from vigie.store.users import by_id, by_username, listing

router = APIRouter(prefix="/api/users", tags=["users"], route_class=BoundedJsonRoute)
Admin = Annotated[User, Depends(allow("admin"))]
Role = Literal["operator", "supervisor", "spip", "judge", "prosecutor", "admin", "integration"]


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(max_length=200)
    role: Role
    full_name: Line = Field(min_length=1, max_length=200)
    email: Line | None = Field(default=None, max_length=200)


class PasswordReset(BaseModel):
    password: str = Field(max_length=200)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    role: str
    full_name: str
    email: str | None
    active: bool


@router.get("")
def list_users(db: DatabaseDep, admin: Admin) -> list[UserOut]:
    with db.session() as session:
        audit.record(session, admin.username, "list", "users")
        return [UserOut.model_validate(u) for u in listing(session)]


@router.post("", status_code=201)
def add_user(body: UserIn, db: DatabaseDep, admin: Admin) -> UserOut:
    with db.session() as session:
        taken = ApiError(409, "conflict", f"user {body.username!r} exists", "username")
        if by_username(session, body.username):
            raise taken
        _check_password(body.password, body.username, body.full_name)
        with refused_if_taken("uq_users_username", taken):
            user = create_user(
                session, body.username, body.password, body.role, body.full_name, body.email
            )
        audit.record(session, admin.username, "create", f"user:{user.id}", {"role": body.role})
        return UserOut.model_validate(user)


@router.post("/{user_id}/disable")
def disable_user(user_id: RowId, db: DatabaseDep, admin: Admin) -> UserOut:
    """The account can no longer log in and its tokens stop working at once (audited)."""
    with db.session() as session:
        user = _account(session, user_id)
        if user.id == admin.id:
            raise ApiError(409, "conflict", "an admin cannot disable their own account", "user_id")
        disable(user)
        audit.record(session, admin.username, "disable", f"user:{user.id}")
        # The alarms he held come back to the queue at once (`holder_gone`).
        holder_gone.release(session, user.id, holder_gone.DISABLED, admin.username, clock.now())
        return UserOut.model_validate(user)


@router.post("/{user_id}/enable")
def enable_user(user_id: RowId, db: DatabaseDep, admin: Admin) -> UserOut:
    """The account may log in again (its old tokens stay revoked); audited."""
    with db.session() as session:
        user = _account(session, user_id)
        user.active = True
        audit.record(session, admin.username, "enable", f"user:{user.id}")
        return UserOut.model_validate(user)


@router.post("/{user_id}/password")
def reset_password(user_id: RowId, body: PasswordReset, db: DatabaseDep, admin: Admin) -> UserOut:
    """Set a new password for someone who lost theirs; their tokens stop working (audited)."""
    with db.session() as session:
        user = _account(session, user_id)
        _check_password(body.password, user.username, user.full_name)
        set_password(user, body.password)
        audit.record(session, admin.username, "reset_password", f"user:{user.id}")
        return UserOut.model_validate(user)


def _account(session: Session, user_id: int) -> User:
    user = by_id(session, user_id)
    if user is None:
        raise ApiError(404, "not_found", f"no user {user_id}", "user_id")
    return user


def _check_password(password: str, username: str, full_name: str) -> None:
    try:
        check(password, username, full_name)
    except WeakPassword as exc:
        raise ApiError(422, "weak_password", str(exc), "password") from exc

"""Users (admin only): accounts, roles, and the contacts they are."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from vigie.api.deps import DatabaseDep, allow
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.api.security import create_user
from vigie.store import audit
from vigie.store.models import User
from vigie.store.users import by_username, listing

router = APIRouter(prefix="/api/users", tags=["users"], route_class=BoundedJsonRoute)
Admin = Annotated[User, Depends(allow("admin"))]
Role = Literal["operator", "supervisor", "spip", "judge", "prosecutor", "admin"]


class UserIn(BaseModel):
    username: str = Field(min_length=2, max_length=80, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=10, max_length=200)
    role: Role
    full_name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=200)


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
        if by_username(session, body.username):
            raise ApiError(409, "conflict", f"user {body.username!r} exists", "username")
        user = create_user(
            session, body.username, body.password, body.role, body.full_name, body.email
        )
        audit.record(session, admin.username, "create", f"user:{user.id}", {"role": body.role})
        return UserOut.model_validate(user)

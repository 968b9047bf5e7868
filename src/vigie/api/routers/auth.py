"""POST /api/auth/token: credentials in, a bearer token out."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from vigie.api.deps import DatabaseDep, SettingsDep
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.api.security import AuthenticationError, authenticate, issue_token
from vigie.store import audit

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=BoundedJsonRoute)


class Credentials(BaseModel):
    username: str
    password: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str


@router.post("/token")
def token(credentials: Credentials, db: DatabaseDep, config: SettingsDep) -> Token:
    """Exchange a username and password for a JWT (send it as `Authorization: Bearer ...`)."""
    with db.session() as session:
        try:
            user = authenticate(session, credentials.username, credentials.password)
        except AuthenticationError as exc:
            audit.record(session, credentials.username, "login_failed", "auth")
            raise ApiError(401, "unauthenticated", str(exc)) from exc
        audit.record(session, user.username, "login", "auth")
        return Token(access_token=issue_token(user, config), role=user.role)

"""Request dependencies: the database, the caller, and the roles an endpoint admits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vigie.api.errors import ApiError
from vigie.api.security import AuthenticationError, token_claims, token_holder
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.bounds import Line
from vigie.store.failover import retrying
from vigie.store.models import User
from vigie.store.refusals import AuditedRefusals

logger = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="a token from POST /api/auth/token")


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def app_settings(request: Request) -> Settings:
    current: Settings = request.app.state.settings
    return current


DatabaseDep = Annotated[Database, Depends(database)]
SettingsDep = Annotated[Settings, Depends(app_settings)]
# A device id in a URL, as registered (at most 64 characters, no control character): a NUL
# cannot reach PostgreSQL, nor a megabyte the database.
DeviceId = Annotated[Line, Path(min_length=1, max_length=64)]


def current_claims(
    config: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> dict[str, Any]:
    """The claims of the bearer token, signed by this centre and not expired."""
    if credentials is None:
        raise ApiError(401, "unauthenticated", "a bearer token is required (POST /api/auth/token)")
    try:
        return token_claims(credentials.credentials, config)
    except AuthenticationError as exc:
        raise ApiError(401, "unauthenticated", str(exc)) from exc


ClaimsDep = Annotated[dict[str, Any], Depends(current_claims)]


def current_user(db: DatabaseDep, config: SettingsDep, claims: ClaimsDep) -> User:
    """The active user named by the bearer token, unless the token was revoked.

    A read, so retried through a database failover (`VIGIE_DB_RETRY_S`): the request then goes
    on against the new primary instead of failing at its first step.
    """

    def holder() -> User:
        with db.reading() as session:
            try:
                return token_holder(session, claims)
            except AuthenticationError as exc:
                raise ApiError(401, "unauthenticated", str(exc)) from exc

    return retrying(holder, config.db_retry_s, "token check")


PATH_KEPT = 256  # characters of a refused call's path in its audit entry


def _kept(path: str) -> str:
    """The path as the audit keeps it: percent-encoded again (a NUL, which PostgreSQL's jsonb
    refuses, would have kept the refusal out of the log) and cut (an id 5,000 digits long)."""
    return quote(path, safe="/")[:PATH_KEPT]


def allow(*roles: str) -> Callable[..., User]:
    """A dependency admitting only these roles; everyone else gets 403 naming their role, logged
    and audited (`forbidden`, at most one entry a minute per user and route, with the count of
    the others: a user probing what his role may not do is seen, and cannot flood the log)."""

    def check(request: Request, user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            route = getattr(request.scope.get("route"), "path", request.url.path)
            logger.warning(
                "%s (%s) refused: %s %s", user.username, user.role, request.method, route
            )
            refusals: AuditedRefusals = request.app.state.refusals
            refusals.record(
                (user.username, request.method, route),
                user.username,
                "forbidden",
                f"route:{request.method} {route}",
                {"role": user.role, "needs": list(roles), "path": _kept(request.url.path)},
            )
            raise ApiError(
                403, "forbidden", f"role {user.role!r} may not do this (needs: {', '.join(roles)})"
            )
        return user

    return check


CENTRE = ("operator", "supervisor")
CASE_READERS = ("operator", "supervisor", "spip", "judge", "prosecutor")

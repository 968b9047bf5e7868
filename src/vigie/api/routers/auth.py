"""Logging in and out: credentials in, a bearer token out; a token given back is revoked.

Login is `async` on purpose: throttling answers on the event loop before any hashing, and the
password check runs on the login guard's own threads (vigie.api.login_guard), so a storm of
wrong passwords neither takes the threads the other endpoints run on nor the event loop.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from vigie import clock
from vigie.alarms import holder_gone
from vigie.api.deps import ClaimsDep, DatabaseDep, SettingsDep, current_user
from vigie.api.errors import ApiError
from vigie.api.limits import BoundedJsonRoute
from vigie.api.login_guard import LoginGuard, Throttled
from vigie.api.password_policy import WeakPassword, check
from vigie.api.security import AuthenticationError, authenticate, issue_token, revoke, set_password
from vigie.store import Database, audit
from vigie.store.bounds import Line
from vigie.store.models import User
from vigie.store.users import by_username

router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=BoundedJsonRoute)


class Credentials(BaseModel):
    username: Line = Field(max_length=200)
    password: str = Field(max_length=1000)


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str


class PasswordChange(BaseModel):
    current_password: str = Field(max_length=1000)
    new_password: str = Field(max_length=1000)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def throttled(exc: Throttled) -> ApiError:
    return ApiError(
        429,
        "throttled",
        f"{exc}: retry in {exc.retry_after_s} s",
        retry_after_s=exc.retry_after_s,
        headers={"Retry-After": str(exc.retry_after_s)},
    )


def _record(db: Database, actor: str, action: str, detail: dict[str, object]) -> None:
    with db.session() as session:
        audit.record(session, actor, action, "auth", detail)


def _verify(db: Database, username: str, password: str, client: str, success: str | None) -> User:
    """The password check and its audit entries (on the guard's threads).

    The check runs in a read-only session: a write session would hold SQLite's writer lock
    through the hashing, and every write of the centre would queue behind a guess. The audit
    entry is written after, and a failure raised only once it is committed.
    """
    with db.reading() as session:
        try:
            user = authenticate(session, username, password)
        except AuthenticationError as exc:
            failure: AuthenticationError | None = exc
        else:
            failure = None
    with db.session() as session:
        if failure is not None:
            audit.record(session, username, "login_failed", "auth", {"client": client})
        elif success:
            audit.record(session, user.username, success, "auth", {"client": client})
    if failure is not None:
        raise failure
    return user


async def _guarded(
    request: Request, db: Database, username: str, password: str, success: str | None
) -> User:
    """Check a password under the login guard: 429 when throttled, AuthenticationError when
    wrong (the caller says how)."""
    guard: LoginGuard = request.app.state.login_guard
    client = client_address(request)
    try:
        attempt = guard.admit(username, client)
    except Throttled as exc:
        if exc.announce:  # once per lockout: a flood of refusals is not a flood of writes
            detail = {"client": client, "reason": str(exc), "retry_after_s": exc.retry_after_s}
            await anyio.to_thread.run_sync(_record, db, username, "login_throttled", detail)
        raise throttled(exc) from exc
    try:
        user = await guard.check(lambda: _verify(db, username, password, client, success))
    except Throttled as exc:
        guard.abandoned(attempt)
        raise throttled(exc) from exc
    except AuthenticationError:
        guard.failed(attempt)
        raise
    except BaseException:
        guard.abandoned(attempt)
        raise
    guard.succeeded(attempt)
    return user


@router.post("/token")
async def token(
    credentials: Credentials, request: Request, db: DatabaseDep, config: SettingsDep
) -> Token:
    """Exchange a username and password for a JWT (send it as `Authorization: Bearer ...`).

    After too many failures for a username or from an address within the window, 429 with
    `Retry-After`, even for the right password.
    """
    try:
        user = await _guarded(request, db, credentials.username, credentials.password, "login")
    except AuthenticationError as exc:
        raise ApiError(401, "unauthenticated", str(exc)) from exc
    return Token(access_token=issue_token(user, config), role=user.role)


@router.post("/logout", status_code=204)
def logout(
    db: DatabaseDep, claims: ClaimsDep, user: Annotated[User, Depends(current_user)]
) -> None:
    """Revoke the token this request carries (the user's other sessions keep theirs).

    An operator who logs out leaves: the alarms he holds come back to the queue, to be taken
    by whoever is on duty (`holder_gone`; hand them over first to choose who)."""
    with db.session() as session:
        revoke(session, claims)
        audit.record(session, user.username, "logout", "auth")
        holder_gone.release(session, user.id, holder_gone.LOGGED_OUT, user.username, clock.now())


@router.post("/refresh")
def refresh(
    db: DatabaseDep,
    config: SettingsDep,
    claims: ClaimsDep,
    user: Annotated[User, Depends(current_user)],
) -> Token:
    """A fresh token for a still-valid one, so a console open all night never meets a 401.

    The token sent is revoked (a copy of it dies at the next renewal); a disabled account, a
    changed password or a logged-out token get 401 like any other call (`current_user`).
    """
    with db.session() as session:
        revoke(session, claims)
        audit.record(session, user.username, "token_refreshed", "auth")
    return Token(access_token=issue_token(user, config), role=user.role)


@router.post("/password")
async def change_password(
    body: PasswordChange,
    request: Request,
    db: DatabaseDep,
    config: SettingsDep,
    user: Annotated[User, Depends(current_user)],
) -> Token:
    """Change one's own password (the current one is asked, and throttled like a login;
    wrong, 422 naming `current_password`).

    Every token issued before stops working, this one included: a new token is returned.
    """
    try:
        check(body.new_password, user.username, user.full_name)
    except WeakPassword as exc:
        raise ApiError(422, "weak_password", str(exc), "new_password") from exc
    try:
        await _guarded(request, db, user.username, body.current_password, None)
    except AuthenticationError as exc:
        # Not 401: the caller's token is good, the password they typed is not.
        raise ApiError(
            422, "wrong_password", "the current password is wrong", "current_password"
        ) from exc

    def change() -> User:
        with db.session() as session:
            account = by_username(session, user.username)
            if account is None or not account.active:
                raise ApiError(401, "unauthenticated", "the account is gone or disabled")
            set_password(account, body.new_password)
            audit.record(session, account.username, "password_changed", f"user:{account.id}")
            return account

    changed = await anyio.to_thread.run_sync(change)
    return Token(access_token=issue_token(changed, config), role=changed.role)
